package stripeapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	stripe "github.com/stripe/stripe-go/v76"

	"github.com/servolution/stripe-comptentra-sync/stripeapi"
	"github.com/servolution/stripe-comptentra-sync/stripeapi/stripetest"
)

func newClient(t *testing.T, s *stripetest.Server, retries int64) *stripeapi.Client {
	t.Helper()
	c, err := stripeapi.New(stripeapi.Config{APIKey: s.APIKey(), BaseURL: s.URL(), MaxNetworkRetries: retries, Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func collect[T any](t *testing.T, seq func(func(T, error) bool)) ([]T, error) {
	t.Helper()
	var out []T
	for v, err := range seq {
		if err != nil {
			return out, err
		}
		out = append(out, v)
	}
	return out, nil
}

func TestNew(t *testing.T) {
	cases := []struct {
		name    string
		cfg     stripeapi.Config
		wantErr bool
	}{
		{"ok", stripeapi.Config{APIKey: "rk_test_x"}, false},
		{"missing key", stripeapi.Config{}, true},
		{"blank key", stripeapi.Config{APIKey: "  "}, true},
		{"key with space", stripeapi.Config{APIKey: "sk_test_a b"}, true},
		{"base URL without scheme", stripeapi.Config{APIKey: "sk_test_x", BaseURL: "127.0.0.1:12111"}, true},
		{"base URL with /v1", stripeapi.Config{APIKey: "sk_test_x", BaseURL: "http://127.0.0.1:1/v1/"}, false},
		{"own HTTP client and timeout", stripeapi.Config{APIKey: "sk_test_x", HTTPClient: &http.Client{}, Timeout: time.Second}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := stripeapi.New(c.cfg)
			if (err != nil) != c.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, c.wantErr)
			}
		})
	}
	t.Run("caller's HTTP client is not modified", func(t *testing.T) {
		hc := &http.Client{Timeout: time.Minute}
		if _, err := stripeapi.New(stripeapi.Config{APIKey: "sk_test_x", HTTPClient: hc, Timeout: time.Second}); err != nil {
			t.Fatal(err)
		}
		if hc.Timeout != time.Minute {
			t.Fatalf("timeout changed to %v", hc.Timeout)
		}
	})
	t.Run("base URL with /v1 reaches the same paths", func(t *testing.T) {
		s := stripetest.NewServer(t)
		c, err := stripeapi.New(stripeapi.Config{APIKey: s.APIKey(), BaseURL: s.URL() + "/v1/"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Balance(context.Background()); err != nil {
			t.Fatal(err)
		}
		if p := s.Requests()[0].Path; p != "/v1/balance" {
			t.Fatalf("path %s", p)
		}
	})
}

func TestBalanceTransaction(t *testing.T) {
	s := stripetest.NewServer(t)
	fixture, err := os.ReadFile("testdata/balance_transaction.eur-charge-with-fee.json")
	if err != nil {
		t.Fatal(err)
	}
	s.AddBalanceTransactionJSON(fixture)
	typed := stripe.BalanceTransaction{
		ID: "txn_usd", Object: "balance_transaction", Amount: 10855, Fee: 378, Net: 10477,
		Currency: stripe.CurrencyEUR, ExchangeRate: 0.904583, Created: 1773830000, AvailableOn: 1774396800,
		Status: stripe.BalanceTransactionStatusAvailable, Type: stripe.BalanceTransactionTypeCharge,
		ReportingCategory: "charge", Description: "Order 42",
		FeeDetails: []*stripe.BalanceTransactionFeeDetail{
			{Amount: 300, Currency: "eur", Description: "Stripe processing fees", Type: "stripe_fee"},
			{Amount: 78, Currency: "eur", Description: "Stripe currency conversion fee", Type: "stripe_fee"},
		},
		Source: &stripe.BalanceTransactionSource{ID: "ch_usd"},
	}
	s.AddBalanceTransaction(typed)
	c := newClient(t, s, 0)
	ctx := context.Background()

	t.Run("fixture", func(t *testing.T) {
		bt, err := c.BalanceTransaction(ctx, "txn_1IZI1WCQQp28cFsCCDFNDOhL")
		if err != nil {
			t.Fatal(err)
		}
		if bt.Amount != 1200 || bt.Fee != 60 || bt.Net != 1140 || bt.Currency != "eur" ||
			bt.Source == nil || bt.Source.ID != "ch_1IZI1WCQQp28cFsC3NZk4ERe" || len(bt.FeeDetails) != 1 ||
			bt.Status != stripe.BalanceTransactionStatusPending || bt.Type != stripe.BalanceTransactionTypeCharge {
			t.Fatalf("got %s", mustJSON(t, bt))
		}
	})
	t.Run("typed round trip", func(t *testing.T) {
		bt, err := c.BalanceTransaction(ctx, "txn_usd")
		if err != nil {
			t.Fatal(err)
		}
		if got, want := mustJSON(t, bt), mustJSON(t, typed); got != want {
			t.Fatalf("round trip:\n got %s\nwant %s", got, want)
		}
	})
	t.Run("request", func(t *testing.T) {
		r := s.Requests()[len(s.Requests())-1]
		if r.Method != http.MethodGet || r.Path != "/v1/balance_transactions/txn_usd" || len(r.Query) != 0 {
			t.Fatalf("%+v", r)
		}
		if r.Header.Get("Stripe-Version") != stripe.APIVersion {
			t.Fatalf("Stripe-Version %q", r.Header.Get("Stripe-Version"))
		}
	})
	t.Run("bad ids are refused before any request", func(t *testing.T) {
		n := len(s.Requests())
		for _, id := range []string{"", "txn_1/../x", "txn 1", "txn?x=1"} {
			if _, err := c.BalanceTransaction(ctx, id); err == nil {
				t.Errorf("%q: no error", id)
			}
		}
		if len(s.Requests()) != n {
			t.Fatal("requests were sent")
		}
	})
}

func TestRefunds(t *testing.T) {
	s := stripetest.NewServer(t)
	s.SetMaxPageSize(2)
	base := int64(1773830000)
	// Added out of order; two share a second (added later = listed first by Stripe,
	// so oldest-first keeps the order they were added).
	order := []int{3, 0, 4, 1, 2}
	for _, i := range order {
		created := base + int64(i)*60
		if i == 2 {
			created = base + 60 // same second as refund 1
		}
		s.AddRefund(stripe.Refund{
			ID: fmt.Sprintf("re_A%d", i), Amount: int64(100 * (i + 1)), Currency: "eur", Created: created,
			Charge: &stripe.Charge{ID: "ch_A"}, Status: stripe.RefundStatusSucceeded,
			BalanceTransaction: &stripe.BalanceTransaction{ID: fmt.Sprintf("txn_re_A%d", i)},
		})
	}
	s.AddRefundJSON([]byte(`{"id":"re_B0","object":"refund","amount":50,"currency":"eur","created":1773830030,"charge":"ch_B","balance_transaction":null,"status":"succeeded"}`))
	c := newClient(t, s, 0)
	ctx := context.Background()

	cases := []struct {
		charge string
		want   []string
		pages  int
	}{
		{"ch_A", []string{"re_A0", "re_A1", "re_A2", "re_A3", "re_A4"}, 3},
		{"ch_B", []string{"re_B0"}, 1},
		{"ch_none", nil, 1},
	}
	for _, tc := range cases {
		t.Run(tc.charge, func(t *testing.T) {
			s.ResetRequests()
			refunds, err := c.Refunds(ctx, tc.charge)
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, r := range refunds {
				ids = append(ids, r.ID)
				if r.Charge == nil || r.Charge.ID != tc.charge {
					t.Errorf("%s: charge %+v", r.ID, r.Charge)
				}
			}
			if !slices.Equal(ids, tc.want) {
				t.Fatalf("ids %v, want %v", ids, tc.want)
			}
			reqs := s.Requests()
			if len(reqs) != tc.pages {
				t.Fatalf("%d requests, want %d pages", len(reqs), tc.pages)
			}
			for i, r := range reqs {
				if r.Path != "/v1/refunds" || r.Query.Get("charge") != tc.charge || r.Query.Get("limit") != "100" {
					t.Errorf("request %d: %s %v", i, r.Path, r.Query)
				}
				if (i == 0) != (r.Query.Get("starting_after") == "") {
					t.Errorf("request %d: starting_after %q", i, r.Query.Get("starting_after"))
				}
			}
		})
	}
	t.Run("fields", func(t *testing.T) {
		refunds, err := c.Refunds(ctx, "ch_A")
		if err != nil {
			t.Fatal(err)
		}
		r := refunds[4]
		if r.Amount != 500 || r.Currency != "eur" || r.BalanceTransaction == nil || r.BalanceTransaction.ID != "txn_re_A4" {
			t.Fatalf("%s", mustJSON(t, r))
		}
	})
}

func TestInvoice(t *testing.T) {
	s := stripetest.NewServer(t)
	s.AddInvoice(stripe.Invoice{
		ID: "in_1", Number: "F-2026-0042", Currency: "eur", Total: 12000, Tax: 2000, Created: 1773830000,
		Charge:   &stripe.Charge{ID: "ch_1"},
		Customer: &stripe.Customer{ID: "cus_1"},
		TotalTaxAmounts: []*stripe.InvoiceTotalTaxAmount{{
			Amount: 2000, Inclusive: true, TaxableAmount: 10000,
			TaxRate: &stripe.TaxRate{ID: "txr_20", Object: "tax_rate", Percentage: 20, Country: "FR", DisplayName: "TVA", Inclusive: true},
		}},
	})
	c := newClient(t, s, 0)
	inv, err := c.Invoice(context.Background(), "in_1")
	if err != nil {
		t.Fatal(err)
	}
	if inv.Number != "F-2026-0042" || inv.Total != 12000 || inv.Charge == nil || inv.Charge.ID != "ch_1" ||
		inv.Customer == nil || inv.Customer.ID != "cus_1" {
		t.Fatalf("%s", mustJSON(t, inv))
	}
	if len(inv.TotalTaxAmounts) != 1 || inv.TotalTaxAmounts[0].TaxRate == nil || inv.TotalTaxAmounts[0].TaxRate.Percentage != 20 {
		t.Fatalf("tax amounts: %s", mustJSON(t, inv.TotalTaxAmounts))
	}
	if bp, ok := stripeapi.InvoiceVAT(inv); !ok || bp != 2000 {
		t.Fatalf("InvoiceVAT = %d, %v", bp, ok)
	}
	r := s.Requests()[0]
	if r.Path != "/v1/invoices/in_1" || r.Query.Get("expand[0]") != "total_tax_amounts.tax_rate" {
		t.Fatalf("%s %v", r.Path, r.Query)
	}
}

func TestBalance(t *testing.T) {
	s := stripetest.NewServer(t)
	c := newClient(t, s, 0)
	ctx := context.Background()
	b, err := c.Balance(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if b.Object != "balance" || len(b.Available) != 1 || b.Available[0].Amount != 0 {
		t.Fatalf("default: %s", mustJSON(t, b))
	}
	s.SetBalance(stripe.Balance{
		Available: []*stripe.Amount{{Amount: 6795, Currency: "eur"}, {Amount: 120, Currency: "usd"}},
		Pending:   []*stripe.Amount{{Amount: 11795, Currency: "eur"}},
	})
	b, err = c.Balance(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(b.Available) != 2 || b.Available[0].Amount != 6795 || b.Pending[0].Amount != 11795 {
		t.Fatalf("%s", mustJSON(t, b))
	}
}

func addEvents(s *stripetest.Server) {
	types := []string{"charge.succeeded", "charge.refunded", "payout.paid", "charge.dispute.closed",
		"charge.succeeded", "customer.created", "charge.captured", "charge.succeeded", "payout.failed"}
	for i, typ := range types {
		s.AddEvent(stripe.Event{
			ID: fmt.Sprintf("evt_%d", i), Object: "event", APIVersion: "2023-10-16",
			Created: 1773830000 + int64(i)*100, Type: stripe.EventType(typ),
			Data: &stripe.EventData{Raw: json.RawMessage(fmt.Sprintf(`{"id":"obj_%d","object":"charge","amount":%d}`, i, 1000+i))},
		})
	}
}

func TestEvents(t *testing.T) {
	s := stripetest.NewServer(t)
	addEvents(s)
	s.SetMaxPageSize(2)
	c := newClient(t, s, 0)
	ctx := context.Background()
	at := func(i int) time.Time { return time.Unix(1773830000+int64(i)*100, 0) }

	cases := []struct {
		name  string
		p     stripeapi.EventsParams
		want  []string
		pages int
	}{
		{"all, newest first", stripeapi.EventsParams{}, []string{"evt_8", "evt_7", "evt_6", "evt_5", "evt_4", "evt_3", "evt_2", "evt_1", "evt_0"}, 5},
		{"range inclusive", stripeapi.EventsParams{Since: at(2), Until: at(5)}, []string{"evt_5", "evt_4", "evt_3", "evt_2"}, 2},
		{"types", stripeapi.EventsParams{Types: []string{"charge.succeeded", "payout.paid"}}, []string{"evt_7", "evt_4", "evt_2", "evt_0"}, 2},
		{"types and since", stripeapi.EventsParams{Since: at(3), Types: []string{"charge.succeeded", "payout.failed"}}, []string{"evt_8", "evt_7", "evt_4"}, 2},
		{"nothing", stripeapi.EventsParams{Since: at(100)}, nil, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s.ResetRequests()
			events, err := collect(t, c.Events(ctx, tc.p))
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, e := range events {
				ids = append(ids, e.ID)
			}
			if !slices.Equal(ids, tc.want) {
				t.Fatalf("ids %v, want %v", ids, tc.want)
			}
			reqs := s.Requests()
			if len(reqs) != tc.pages {
				t.Fatalf("%d requests, want %d", len(reqs), tc.pages)
			}
			q := reqs[0].Query
			for i, typ := range tc.p.Types {
				if got := q.Get(fmt.Sprintf("types[%d]", i)); got != typ {
					t.Errorf("types[%d] = %q", i, got)
				}
			}
			if !tc.p.Since.IsZero() && q.Get("created[gte]") != fmt.Sprint(tc.p.Since.Unix()) {
				t.Errorf("created[gte] = %q", q.Get("created[gte]"))
			}
			if tc.p.Since.IsZero() && q.Has("created[gte]") {
				t.Errorf("created[gte] sent for an open range")
			}
			if !tc.p.Until.IsZero() && q.Get("created[lte]") != fmt.Sprint(tc.p.Until.Unix()) {
				t.Errorf("created[lte] = %q", q.Get("created[lte]"))
			}
		})
	}
	t.Run("event data", func(t *testing.T) {
		events, err := collect(t, c.Events(ctx, stripeapi.EventsParams{Types: []string{"payout.paid"}}))
		if err != nil || len(events) != 1 {
			t.Fatalf("%v %v", events, err)
		}
		e := events[0]
		if e.Data == nil || e.Data.Object["id"] != "obj_2" || e.APIVersion != "2023-10-16" || e.Type != "payout.paid" {
			t.Fatalf("%s", mustJSON(t, e))
		}
	})
	t.Run("lazy and stops when the loop breaks", func(t *testing.T) {
		s.ResetRequests()
		seq := c.Events(ctx, stripeapi.EventsParams{})
		if n := len(s.Requests()); n != 0 {
			t.Fatalf("%d requests before iterating", n)
		}
		n := 0
		for _, err := range seq {
			if err != nil {
				t.Fatal(err)
			}
			n++
			if n == 3 {
				break
			}
		}
		if got := len(s.Requests()); got != 2 {
			t.Fatalf("%d requests for 3 events at 2 per page, want 2", got)
		}
	})
	t.Run("argument errors", func(t *testing.T) {
		many := make([]string, 21)
		for i := range many {
			many[i] = fmt.Sprintf("t.%d", i)
		}
		for name, p := range map[string]stripeapi.EventsParams{
			"21 types":       {Types: many},
			"empty type":     {Types: []string{""}},
			"reversed range": {Since: at(5), Until: at(2)},
		} {
			s.ResetRequests()
			_, err := collect(t, c.Events(ctx, p))
			if err == nil {
				t.Errorf("%s: no error", name)
			}
			if stripeapi.IsTemporary(err) {
				t.Errorf("%s: temporary", name)
			}
			if len(s.Requests()) != 0 {
				t.Errorf("%s: request sent", name)
			}
		}
	})
}

func TestBalanceTransactions(t *testing.T) {
	s := stripetest.NewServer(t)
	s.SetMaxPageSize(2)
	add := func(id string, created int64, typ stripe.BalanceTransactionType, amount, fee int64, source string) {
		s.AddBalanceTransaction(stripe.BalanceTransaction{
			ID: id, Amount: amount, Fee: fee, Net: amount - fee, Currency: "eur", Created: created, Type: typ,
			Status: stripe.BalanceTransactionStatusAvailable, Source: &stripe.BalanceTransactionSource{ID: source},
		})
	}
	add("txn_c1", 100, stripe.BalanceTransactionTypeCharge, 12000, 205, "ch_1")
	add("txn_c2", 200, stripe.BalanceTransactionTypeCharge, 5000, 100, "ch_2")
	add("txn_r1", 300, stripe.BalanceTransactionTypeRefund, -5000, 0, "re_1")
	add("txn_c3", 400, stripe.BalanceTransactionTypeCharge, 3000, 70, "ch_3")
	add("txn_po1", 500, stripe.BalanceTransactionTypePayout, -11695, 0, "po_1")
	add("txn_c4", 600, stripe.BalanceTransactionTypeCharge, 1000, 30, "ch_4")
	s.AssignPayout("po_1", "txn_c1", "txn_c2", "txn_r1")
	c := newClient(t, s, 0)
	ctx := context.Background()

	cases := []struct {
		name string
		p    stripeapi.BTParams
		want []string
	}{
		{"all", stripeapi.BTParams{}, []string{"txn_c4", "txn_po1", "txn_c3", "txn_r1", "txn_c2", "txn_c1"}},
		{"payout", stripeapi.BTParams{Payout: "po_1"}, []string{"txn_po1", "txn_r1", "txn_c2", "txn_c1"}},
		{"type", stripeapi.BTParams{Type: "charge"}, []string{"txn_c4", "txn_c3", "txn_c2", "txn_c1"}},
		{"range and type", stripeapi.BTParams{Since: time.Unix(200, 0), Until: time.Unix(400, 0), Type: "charge"}, []string{"txn_c3", "txn_c2"}},
		{"currency", stripeapi.BTParams{Currency: "USD"}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s.ResetRequests()
			bts, err := collect(t, c.BalanceTransactions(ctx, tc.p))
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, bt := range bts {
				ids = append(ids, bt.ID)
			}
			if !slices.Equal(ids, tc.want) {
				t.Fatalf("ids %v, want %v", ids, tc.want)
			}
			q := s.Requests()[0].Query
			if q.Get("payout") != tc.p.Payout || q.Get("type") != tc.p.Type || q.Get("currency") != strings.ToLower(tc.p.Currency) {
				t.Fatalf("query %v", q)
			}
		})
	}
}

func TestNotFound(t *testing.T) {
	s := stripetest.NewServer(t)
	c := newClient(t, s, 0)
	ctx := context.Background()
	calls := map[string]func() error{
		"balance transaction": func() error { _, err := c.BalanceTransaction(ctx, "txn_missing"); return err },
		"invoice":             func() error { _, err := c.Invoice(ctx, "in_missing"); return err },
	}
	for name, call := range calls {
		t.Run(name, func(t *testing.T) {
			err := call()
			if !errors.Is(err, stripeapi.ErrNotFound) {
				t.Fatalf("err = %v, want ErrNotFound", err)
			}
			var se *stripe.Error
			if !errors.As(err, &se) || se.Code != stripe.ErrorCodeResourceMissing || se.HTTPStatusCode != 404 {
				t.Fatalf("stripe error: %+v", se)
			}
			var ae *stripeapi.Error
			if !errors.As(err, &ae) || ae.Op == "" {
				t.Fatalf("not a *stripeapi.Error: %T", err)
			}
			if stripeapi.IsTemporary(err) {
				t.Fatal("not found is temporary")
			}
			if strings.Contains(err.Error(), s.APIKey()) {
				t.Fatal("key in error")
			}
		})
	}
}

func TestRetries(t *testing.T) {
	cases := []struct {
		name      string
		failures  int
		status    int
		retries   int64
		wantErr   bool
		wantCalls int
	}{
		{"429 then success", 2, 429, 3, false, 3},
		{"500 then success", 1, 500, 3, false, 2},
		{"503 then success", 1, 503, 3, false, 2},
		{"429 beyond retries", 5, 429, 1, true, 2},
		{"500 with retries disabled", 1, 500, -1, true, 1},
		{"400 not retried", 3, 400, 3, true, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := stripetest.NewServer(t)
			s.AddBalanceTransaction(stripe.BalanceTransaction{ID: "txn_1", Amount: 100, Currency: "eur"})
			c := newClient(t, s, tc.retries)
			s.SetFailures(tc.failures, tc.status)
			bt, err := c.BalanceTransaction(context.Background(), "txn_1")
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v", err)
			}
			if err == nil && bt.Amount != 100 {
				t.Fatalf("bt %+v", bt)
			}
			if err != nil {
				if got, want := stripeapi.IsTemporary(err), tc.status == 429 || tc.status >= 500; got != want {
					t.Fatalf("IsTemporary = %v, want %v (%v)", got, want, err)
				}
				var se *stripe.Error
				if !errors.As(err, &se) || se.HTTPStatusCode != tc.status {
					t.Fatalf("stripe error %+v", se)
				}
			}
			if n := len(s.Requests()); n != tc.wantCalls {
				t.Fatalf("%d requests, want %d", n, tc.wantCalls)
			}
		})
	}
	t.Run("failure in the middle of paging is retried", func(t *testing.T) {
		t.Parallel()
		s := stripetest.NewServer(t)
		addEvents(s)
		s.SetMaxPageSize(4)
		c := newClient(t, s, 2)
		n := 0
		for e, err := range c.Events(context.Background(), stripeapi.EventsParams{}) {
			if err != nil {
				t.Fatal(err)
			}
			n++
			if e.ID == "evt_5" { // the last of page 1: make page 2 fail once
				s.SetFailures(1, 500)
			}
		}
		if n != 9 {
			t.Fatalf("%d events", n)
		}
		if got := len(s.Requests()); got != 4 {
			t.Fatalf("%d requests, want 3 pages + 1 retry", got)
		}
	})
	t.Run("failure on a later page ends the iteration with the error", func(t *testing.T) {
		t.Parallel()
		s := stripetest.NewServer(t)
		addEvents(s)
		s.SetMaxPageSize(4)
		c := newClient(t, s, -1)
		var ids []string
		var last error
		for e, err := range c.Events(context.Background(), stripeapi.EventsParams{}) {
			if err != nil {
				last = err
				continue
			}
			ids = append(ids, e.ID)
			if e.ID == "evt_5" {
				s.SetFailures(1, 502)
			}
		}
		if len(ids) != 4 || last == nil || !stripeapi.IsTemporary(last) {
			t.Fatalf("ids %v, err %v", ids, last)
		}
	})
}

func TestContext(t *testing.T) {
	s := stripetest.NewServer(t)
	addEvents(s)
	s.SetMaxPageSize(3)
	s.AddBalanceTransaction(stripe.BalanceTransaction{ID: "txn_1"})
	c := newClient(t, s, 3)

	t.Run("cancelled before the call", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		s.ResetRequests()
		calls := map[string]func() error{
			"BalanceTransaction": func() error { _, err := c.BalanceTransaction(ctx, "txn_1"); return err },
			"Refunds":            func() error { _, err := c.Refunds(ctx, "ch_1"); return err },
			"Invoice":            func() error { _, err := c.Invoice(ctx, "in_1"); return err },
			"Balance":            func() error { _, err := c.Balance(ctx); return err },
			"Events":             func() error { _, err := collect(t, c.Events(ctx, stripeapi.EventsParams{})); return err },
			"BalanceTransactions": func() error {
				_, err := collect(t, c.BalanceTransactions(ctx, stripeapi.BTParams{}))
				return err
			},
		}
		for name, call := range calls {
			err := call()
			if !errors.Is(err, context.Canceled) {
				t.Errorf("%s: err = %v, want context.Canceled", name, err)
			}
			if stripeapi.IsTemporary(err) {
				t.Errorf("%s: a cancelled call is not temporary", name)
			}
		}
		if n := len(s.Requests()); n != 0 {
			t.Fatalf("%d requests reached the server", n)
		}
	})
	t.Run("cancelled while iterating", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		var ids []string
		var last error
		for e, err := range c.Events(ctx, stripeapi.EventsParams{}) {
			if err != nil {
				last = err
				continue
			}
			ids = append(ids, e.ID)
			cancel()
		}
		if len(ids) != 1 || !errors.Is(last, context.Canceled) {
			t.Fatalf("ids %v, err %v", ids, last)
		}
	})
	t.Run("deadline while the server hangs is temporary", func(t *testing.T) {
		release := make(chan struct{})
		hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-release:
			case <-r.Context().Done():
			}
		}))
		defer hang.Close()
		defer close(release)
		hc, err := stripeapi.New(stripeapi.Config{APIKey: "sk_test_x", BaseURL: hang.URL, MaxNetworkRetries: -1})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err = hc.Balance(ctx)
		if !errors.Is(err, context.DeadlineExceeded) || !stripeapi.IsTemporary(err) {
			t.Fatalf("err = %v", err)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Fatalf("took %v", d)
		}
	})
	t.Run("HTTP timeout is temporary", func(t *testing.T) {
		release := make(chan struct{})
		hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-release:
			case <-r.Context().Done():
			}
		}))
		defer hang.Close()
		defer close(release)
		hc, err := stripeapi.New(stripeapi.Config{APIKey: "sk_test_x", BaseURL: hang.URL, MaxNetworkRetries: -1, Timeout: 100 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		_, err = hc.Balance(context.Background())
		if err == nil || !stripeapi.IsTemporary(err) {
			t.Fatalf("err = %v", err)
		}
	})
}

func TestAPIKeyNeverInErrors(t *testing.T) {
	s := stripetest.NewServer(t)
	const wrongKey = "sk_test_51WrongKeyWrongKeyQz9x"
	c, err := stripeapi.New(stripeapi.Config{APIKey: wrongKey, BaseURL: s.URL()})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.BalanceTransaction(context.Background(), "txn_1")
	if err == nil {
		t.Fatal("no error")
	}
	var se *stripe.Error
	if !errors.As(err, &se) || se.HTTPStatusCode != 401 {
		t.Fatalf("err = %v", err)
	}
	if stripeapi.IsTemporary(err) {
		t.Fatal("authentication error is temporary")
	}
	texts := map[string]string{
		"Error()":       err.Error(),
		"%+v":           fmt.Sprintf("%+v", err),
		"%#v of cause":  fmt.Sprintf("%#v", se),
		"stripe.Error":  se.Error(),
		"typed cause":   errors.Unwrap(se).Error(),
		"raw response":  string(se.LastResponse.RawJSON),
		"error message": se.Msg,
	}
	for what, text := range texts {
		for _, secret := range []string{wrongKey, "Qz9x", "51WrongKey"} {
			if strings.Contains(text, secret) {
				t.Errorf("%s contains %q: %s", what, secret, text)
			}
		}
	}
	if !strings.Contains(err.Error(), "Invalid API Key provided") {
		t.Errorf("the error no longer says what is wrong: %v", err)
	}

	t.Run("missing key on the wire", func(t *testing.T) {
		resp, err := http.Get(s.URL() + "/v1/balance")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body struct {
			Error struct{ Type, Message string }
		}
		if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != 401 || body.Error.Type != "invalid_request_error" || body.Error.Message == "" {
			t.Fatalf("%d %+v", resp.StatusCode, body)
		}
	})
	t.Run("recorded requests hide the key", func(t *testing.T) {
		for _, r := range s.Requests() {
			if strings.Contains(fmt.Sprint(r.Header), wrongKey) || strings.Contains(fmt.Sprint(r.Header), s.APIKey()) {
				t.Fatalf("key recorded: %v", r.Header)
			}
		}
	})
}

type netErr struct{ timeout bool }

func (e netErr) Error() string   { return "net" }
func (e netErr) Timeout() bool   { return e.timeout }
func (e netErr) Temporary() bool { return false }

func TestIsTemporary(t *testing.T) {
	cases := []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"429", &stripe.Error{HTTPStatusCode: 429, Code: stripe.ErrorCodeRateLimit}, true},
		{"500", &stripe.Error{HTTPStatusCode: 500, Type: stripe.ErrorTypeAPI}, true},
		{"503 wrapped", fmt.Errorf("booking: %w", &stripe.Error{HTTPStatusCode: 503}), true},
		{"400", &stripe.Error{HTTPStatusCode: 400, Type: stripe.ErrorTypeInvalidRequest}, false},
		{"401", &stripe.Error{HTTPStatusCode: 401, Type: stripe.ErrorTypeInvalidRequest}, false},
		{"403", &stripe.Error{HTTPStatusCode: 403}, false},
		{"404", &stripe.Error{HTTPStatusCode: 404, Code: stripe.ErrorCodeResourceMissing}, false},
		{"context canceled", fmt.Errorf("x: %w", context.Canceled), false},
		{"deadline", &url.Error{Op: "Get", URL: "http://x", Err: context.DeadlineExceeded}, true},
		{"connection refused", &url.Error{Op: "Get", URL: "http://x", Err: &net.OpError{Op: "dial", Err: errors.New("connection refused")}}, true},
		{"net timeout", netErr{timeout: true}, true},
		{"non-JSON 502", errors.New("Couldn't deserialize JSON (response status: 502, body sample: '<html>'): invalid character"), true},
		{"non-JSON 403", errors.New("Couldn't deserialize JSON (response status: 403, body sample: '<html>'): invalid character"), false},
		{"plain error", errors.New("stripeapi: empty charge id"), false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := stripeapi.IsTemporary(tc.err); got != tc.want {
				t.Fatalf("IsTemporary(%v) = %v, want %v", tc.err, got, tc.want)
			}
		})
	}
	t.Run("connection refused, live", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close()
		c, err := stripeapi.New(stripeapi.Config{APIKey: "sk_test_x", BaseURL: "http://" + addr, MaxNetworkRetries: -1})
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.Balance(context.Background())
		if err == nil || !stripeapi.IsTemporary(err) {
			t.Fatalf("err = %v", err)
		}
	})
}

func TestInvoiceVAT(t *testing.T) {
	rate := func(p float64) *stripe.TaxRate {
		return &stripe.TaxRate{ID: "txr_x", Object: "tax_rate", Percentage: p}
	}
	ta := func(amount, taxable int64, tr *stripe.TaxRate) *stripe.InvoiceTotalTaxAmount {
		return &stripe.InvoiceTotalTaxAmount{Amount: amount, TaxableAmount: taxable, TaxRate: tr, Inclusive: true}
	}
	inv := func(tas ...*stripe.InvoiceTotalTaxAmount) *stripe.Invoice {
		return &stripe.Invoice{ID: "in_1", TotalTaxAmounts: tas}
	}
	cases := []struct {
		name   string
		inv    *stripe.Invoice
		wantBP int
		wantOK bool
	}{
		{"20 %", inv(ta(2000, 10000, rate(20))), 2000, true},
		{"5.5 %", inv(ta(68, 1234, rate(5.5))), 550, true},
		{"2.1 %", inv(ta(21, 1000, rate(2.1))), 210, true},
		{"10 %", inv(ta(100, 1000, rate(10))), 1000, true},
		{"8.5 % (DOM)", inv(ta(85, 1000, rate(8.5))), 850, true},
		{"0 % (reverse charge)", inv(ta(0, 10000, rate(0))), 0, true},
		{"same rate on two lines", inv(ta(2000, 10000, rate(20)), ta(400, 2000, rate(20))), 2000, true},
		{"mixed rates", inv(ta(2000, 10000, rate(20)), ta(55, 1000, rate(5.5))), 0, false},
		{"mixed 20 % and 0 %", inv(ta(2000, 10000, rate(20)), ta(0, 1000, rate(0))), 0, false},
		{"three decimals not in basis points", inv(ta(8875, 100000, rate(8.875))), 0, false},
		{"no tax amounts", inv(), 0, false},
		{"nil invoice", nil, 0, false},
		{"nil tax amount", inv(nil), 0, false},
		{"over 100 %", inv(ta(1, 1, rate(150))), 0, false},
		{"unexpanded, exact ratio 20 %", inv(ta(2000, 10000, &stripe.TaxRate{ID: "txr_1"})), 2000, true},
		{"unexpanded, exact ratio 5.5 %", inv(ta(55, 1000, &stripe.TaxRate{ID: "txr_1"})), 550, true},
		{"unexpanded, rounded tax", inv(ta(68, 1234, &stripe.TaxRate{ID: "txr_1"})), 0, false},
		{"no tax rate, exact ratio", inv(ta(100, 1000, nil)), 1000, true},
		{"unexpanded, nothing taxable", inv(ta(0, 0, &stripe.TaxRate{ID: "txr_1"})), 0, false},
		{"unexpanded and expanded agree", inv(ta(2000, 10000, &stripe.TaxRate{ID: "txr_1"}), ta(200, 1000, rate(20))), 2000, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			bp, ok := stripeapi.InvoiceVAT(tc.inv)
			if bp != tc.wantBP || ok != tc.wantOK {
				t.Fatalf("InvoiceVAT = %d, %v; want %d, %v", bp, ok, tc.wantBP, tc.wantOK)
			}
		})
	}
	t.Run("every two-decimal percentage converts exactly", func(t *testing.T) {
		// Parse the percentage the way stripe-go does (encoding/json into
		// float64) for every value 0.00 … 100.00.
		for bp := 0; bp <= 10000; bp++ {
			var tr stripe.TaxRate
			js := fmt.Sprintf(`{"id":"txr","object":"tax_rate","percentage":%d.%02d}`, bp/100, bp%100)
			if err := json.Unmarshal([]byte(js), &tr); err != nil {
				t.Fatal(err)
			}
			got, ok := stripeapi.InvoiceVAT(inv(ta(0, 0, &tr)))
			if !ok || got != bp {
				t.Fatalf("%s → %d, %v", js, got, ok)
			}
		}
	})
}
