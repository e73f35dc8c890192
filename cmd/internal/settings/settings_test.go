package settings

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/servolution/stripe-comptentra-sync/ledger"
)

func env(m map[string]string) Getenv { return func(k string) string { return m[k] } }

func TestLogger(t *testing.T) {
	for _, tc := range []struct {
		name    string
		env     map[string]string
		wantErr []string
		json    bool
		debug   bool
	}{
		{name: "defaults", env: nil, json: true},
		{name: "text debug", env: map[string]string{"LOG_LEVEL": "DEBUG", "LOG_FORMAT": "text"}, debug: true},
		{name: "both wrong", env: map[string]string{"LOG_LEVEL": "loud", "LOG_FORMAT": "xml"}, wantErr: []string{"LOG_LEVEL", "LOG_FORMAT"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			log, err := Logger(env(tc.env), &buf)
			if len(tc.wantErr) > 0 {
				for _, w := range tc.wantErr {
					if err == nil || !strings.Contains(err.Error(), w) {
						t.Errorf("err %v, want it to name %s", err, w)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			log.Debug("dbg")
			log.Info("hello", "event_id", "evt_1")
			out := buf.String()
			if got := strings.HasPrefix(out, "{"); got != tc.json {
				t.Errorf("JSON %v, want %v: %s", got, tc.json, out)
			}
			if got := strings.Contains(out, "dbg"); got != tc.debug {
				t.Errorf("debug line shown %v, want %v", got, tc.debug)
			}
		})
	}
}

func TestRules(t *testing.T) {
	t.Run("defaults are booking-rules.md's", func(t *testing.T) {
		r, err := Rules(env(nil))
		if err != nil {
			t.Fatal(err)
		}
		d := ledger.DefaultRules()
		if r.Accounts.Customers != d.Accounts.Customers || r.Journals != d.Journals || r.DefaultVATRate != 2000 || r.PayoutsToTransit || r.LostDisputes != ledger.CreditNote {
			t.Errorf("defaults %+v", r)
		}
	})
	t.Run("every setting is used", func(t *testing.T) {
		r, err := Rules(env(map[string]string{
			"ACCOUNT_CUSTOMERS": "411100", "ACCOUNT_DISPUTED_CUSTOMERS": "416100", "ACCOUNT_SALES": "706000",
			"ACCOUNT_VAT": "445710", "ACCOUNT_VAT_BY_RATE": "5.5=445713, 20=445712", "ACCOUNT_FEES": "627000",
			"ACCOUNT_STRIPE_BALANCE": "517000", "ACCOUNT_STRIPE_BALANCE_BY_CURRENCY": "usd=517200",
			"ACCOUNT_TRANSIT": "581000", "ACCOUNT_BANK": "512100", "ACCOUNT_EXCHANGE_LOSS": "656100",
			"ACCOUNT_EXCHANGE_GAIN": "756100", "ACCOUNT_BAD_DEBT": "654100",
			"JOURNAL_SALES": "VT", "JOURNAL_STRIPE": "ST", "JOURNAL_BANK": "BQ1",
			"VAT_DEFAULT_RATE": "5.5", "PAYOUT_ACCOUNT": "transit", "LOST_DISPUTE_POLICY": "write_off",
		}))
		if err != nil {
			t.Fatal(err)
		}
		a := r.Accounts
		got := []string{a.Customers, a.DisputedCustomers, a.Sales, a.SalesRefunds, a.VAT, a.VATByRate[550], a.VATByRate[2000],
			a.Fees, a.StripeBalance, a.StripeBalanceByCurrency["USD"], a.Transit, a.Bank, a.ExchangeLoss, a.ExchangeGain, a.BadDebt,
			r.Journals.Sales, r.Journals.Stripe, r.Journals.Bank}
		want := []string{"411100", "416100", "706000", "706000", "445710", "445713", "445712",
			"627000", "517000", "517200", "581000", "512100", "656100", "756100", "654100", "VT", "ST", "BQ1"}
		if strings.Join(got, " ") != strings.Join(want, " ") {
			t.Errorf("accounts\n got %v\nwant %v", got, want)
		}
		if r.DefaultVATRate != 550 || !r.PayoutsToTransit || r.LostDisputes != ledger.WriteOff {
			t.Errorf("policies %+v", r)
		}
	})
	t.Run("refunds keep their own account when set", func(t *testing.T) {
		r, err := Rules(env(map[string]string{"ACCOUNT_SALES": "706000", "ACCOUNT_SALES_REFUNDS": "709000"}))
		if err != nil || r.Accounts.SalesRefunds != "709000" {
			t.Fatalf("%v %+v", err, r.Accounts)
		}
	})
	for _, tc := range []struct{ name, key, value string }{
		{"account not PCG", "ACCOUNT_FEES", "frais"},
		{"journal lower case", "JOURNAL_BANK", "bq"},
		{"VAT rate", "VAT_DEFAULT_RATE", "120"},
		{"rate map", "ACCOUNT_VAT_BY_RATE", "5.5"},
		{"rate map rate", "ACCOUNT_VAT_BY_RATE", "cinq=445713"},
		{"currency map", "ACCOUNT_STRIPE_BALANCE_BY_CURRENCY", "dollars=517200"},
		{"payout account", "PAYOUT_ACCOUNT", "cash"},
		{"lost disputes", "LOST_DISPUTE_POLICY", "ignore"},
	} {
		t.Run("bad "+tc.name, func(t *testing.T) {
			_, err := Rules(env(map[string]string{tc.key: tc.value}))
			if err == nil || !strings.Contains(err.Error(), tc.key) {
				t.Fatalf("Rules(%s=%q) = %v, want an error naming %s", tc.key, tc.value, err, tc.key)
			}
		})
	}
}

func TestReadWorker(t *testing.T) {
	w, err := ReadWorker(env(map[string]string{"COMPTENTRA_API_KEY": "ck_x"}))
	if err != nil {
		t.Fatal(err)
	}
	if w.Addr != ":8081" || w.ComptentraURL != "https://app.comptentra.servolution.fr/api/v1" || w.Config.Concurrency != 10 ||
		w.Config.TaskTimeout != time.Minute || w.Config.ShutdownTimeout != 90*time.Second || w.StripeRateLimit != 20 {
		t.Errorf("defaults %+v", w)
	}
	_, err = ReadWorker(env(map[string]string{"STRIPE_API_RATE_LIMIT": "-1", "WORKER_CONCURRENCY": "0"}))
	for _, name := range []string{"COMPTENTRA_API_KEY", "STRIPE_API_RATE_LIMIT", "WORKER_CONCURRENCY"} {
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("error %v does not name %s", err, name)
		}
	}
}

func TestRedisURLNeverShowsThePassword(t *testing.T) {
	_, _, _, err := Redis(env(map[string]string{"REDIS_URL": "redis://:s3cretpw@127.0.0.1:6379/notanumber"}))
	if err == nil || !strings.Contains(err.Error(), "REDIS_URL") || strings.Contains(err.Error(), "s3cretpw") {
		t.Fatalf("err %v: want it to name REDIS_URL without the password", err)
	}
}
