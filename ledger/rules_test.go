package ledger

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestDefaultRules(t *testing.T) {
	r := DefaultRules()
	if err := r.Validate(); err != nil {
		t.Fatalf("DefaultRules do not validate: %v", err)
	}
	a := r.Accounts
	got := []string{a.Customers, a.DisputedCustomers, a.Sales, a.SalesRefunds, a.VAT, a.Fees, a.StripeBalance,
		a.Transit, a.Bank, a.ExchangeLoss, a.ExchangeGain, a.BadDebt, r.Journals.Sales, r.Journals.Stripe, r.Journals.Bank,
		r.BookCurrency, fmt.Sprint(r.DefaultVATRate), string(r.LostDisputes), fmt.Sprint(r.PayoutsToTransit)}
	want := []string{"411000", "416000", "707000", "707000", "445712", "627800", "517100",
		"580000", "512000", "656000", "756000", "654000", "VTE", "STR", "BQ", "EUR", "2000", "credit_note", "false"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("DefaultRules:\n got  %v\n want %v", got, want)
	}
}

func TestValidateNamesTheField(t *testing.T) {
	tests := []struct {
		name   string
		change func(*Rules)
		fields []string
	}{
		{"missing customers", func(r *Rules) { r.Accounts.Customers = "" }, []string{"accounts.customers"}},
		{"letters first", func(r *Rules) { r.Accounts.Sales = "VENTES" }, []string{"accounts.sales"}},
		{"lower-case suffix", func(r *Rules) { r.Accounts.Fees = "627800abc" }, []string{"accounts.fees"}},
		{"space", func(r *Rules) { r.Accounts.Bank = "512 000" }, []string{"accounts.bank"}},
		{"missing bad debt", func(r *Rules) { r.Accounts.BadDebt = "" }, []string{"accounts.bad_debt"}},
		{"several at once", func(r *Rules) { r.Accounts.VAT = ""; r.Accounts.Transit = "x"; r.Journals.Bank = "" },
			[]string{"accounts.vat", "accounts.transit", "journals.bank"}},
		{"VAT by rate: bad rate", func(r *Rules) { r.Accounts.VATByRate = map[int]string{-5: "445711"} }, []string{"accounts.vat_by_rate[-5]"}},
		{"VAT by rate: bad account", func(r *Rules) { r.Accounts.VATByRate = map[int]string{550: "TVA"} }, []string{"accounts.vat_by_rate[550]"}},
		{"balance by currency: lower case", func(r *Rules) { r.Accounts.StripeBalanceByCurrency = map[string]string{"usd": "517200"} }, []string{"accounts.stripe_balance_by_currency[usd]"}},
		{"balance by currency: empty account", func(r *Rules) { r.Accounts.StripeBalanceByCurrency = map[string]string{"USD": ""} }, []string{"accounts.stripe_balance_by_currency[USD]"}},
		{"journal", func(r *Rules) { r.Journals.Stripe = "" }, []string{"journals.stripe"}},
		{"journal lower case", func(r *Rules) { r.Journals.Sales = "vte" }, []string{"journals.sales"}},
		{"book currency", func(r *Rules) { r.BookCurrency = "euro" }, []string{"book_currency"}},
		{"default rate", func(r *Rules) { r.DefaultVATRate = 10001 }, []string{"default_vat_rate"}},
		{"negative default rate", func(r *Rules) { r.DefaultVATRate = -1 }, []string{"default_vat_rate"}},
		{"lost disputes", func(r *Rules) { r.LostDisputes = "ignore" }, []string{"lost_disputes"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := DefaultRules()
			tt.change(&r)
			err := r.Validate()
			if !errors.Is(err, ErrBadRules) {
				t.Fatalf("Validate = %v, want ErrBadRules", err)
			}
			var fields []string
			for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
				var fe *FieldError
				if !errors.As(e, &fe) {
					t.Fatalf("%v is not a *FieldError", e)
				}
				fields = append(fields, fe.Field)
				if !strings.Contains(e.Error(), fe.Field) {
					t.Errorf("message %q does not name %s", e, fe.Field)
				}
			}
			if fmt.Sprint(fields) != fmt.Sprint(tt.fields) {
				t.Errorf("fields %v, want %v", fields, tt.fields)
			}
		})
	}
}

func TestValidateAcceptsSuffixedAccounts(t *testing.T) {
	r := DefaultRules()
	r.Accounts.Customers = "411CLIENTS"
	r.Accounts.VATByRate = map[int]string{550: "4457105", 0: "445700"}
	r.Accounts.StripeBalanceByCurrency = map[string]string{"USD": "517USD"}
	r.LostDisputes = ""
	if err := r.Validate(); err != nil {
		t.Error(err)
	}
}

func TestAccountUses(t *testing.T) {
	r := DefaultRules()
	r.Accounts.VATByRate = map[int]string{550: "445711", 210: "445713"}
	r.Accounts.StripeBalanceByCurrency = map[string]string{"USD": "517200", "GBP": "517300"}
	var got []string
	for _, u := range r.AccountUses() {
		got = append(got, u.Role+"="+u.Account)
	}
	want := []string{"customers=411000", "disputed_customers=416000", "sales=707000", "sales_refunds=707000", "vat=445712",
		"vat_by_rate[210]=445713", "vat_by_rate[550]=445711", "fees=627800", "stripe_balance=517100",
		"stripe_balance_by_currency[GBP]=517300", "stripe_balance_by_currency[USD]=517200",
		"bank=512000", "exchange_loss=656000", "exchange_gain=756000"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("AccountUses:\n got  %v\n want %v", got, want)
	}
	r.PayoutsToTransit = true
	r.LostDisputes = WriteOff
	roles := map[string]string{}
	for _, u := range r.AccountUses() {
		roles[u.Role] = u.Account
	}
	if roles["transit"] != "580000" || roles["bad_debt"] != "654000" || roles["bank"] != "" {
		t.Errorf("AccountUses with transit and write-off: %v", roles)
	}
}

func TestDateText(t *testing.T) {
	for _, s := range []string{"2026-03-18", "0000-00-00"} {
		var d Date
		if err := d.UnmarshalText([]byte(s)); err != nil {
			t.Fatal(err)
		}
		b, _ := d.MarshalText()
		if string(b) != s {
			t.Errorf("%s round-trips to %s", s, b)
		}
	}
	var d Date
	if err := d.UnmarshalText([]byte("2026-02-30")); err == nil {
		t.Error("2026-02-30 accepted")
	}
}
