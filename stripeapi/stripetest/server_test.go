package stripetest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	stripe "github.com/stripe/stripe-go/v76"
)

type wireResp struct {
	status int
	header http.Header
	body   map[string]any
}

func get(t *testing.T, s *Server, method, path string, auth bool) wireResp {
	t.Helper()
	req, err := http.NewRequest(method, s.URL()+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if auth {
		req.Header.Set("Authorization", "Bearer "+s.APIKey())
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var body map[string]any
	if err := json.Unmarshal(b, &body); err != nil {
		t.Fatalf("%s %s: not JSON: %s", method, path, b)
	}
	return wireResp{resp.StatusCode, resp.Header, body}
}

func errType(r wireResp) (typ, code string) {
	e, _ := r.body["error"].(map[string]any)
	typ, _ = e["type"].(string)
	code, _ = e["code"].(string)
	return
}

func ids(r wireResp) []string {
	var out []string
	data, _ := r.body["data"].([]any)
	for _, d := range data {
		out = append(out, d.(map[string]any)["id"].(string))
	}
	return out
}

func TestWire(t *testing.T) {
	s := NewServer(t)
	for i := range 5 {
		s.AddChargeBT(fmt.Sprintf("ch_%d", i), 1000, 30, "eur", int64(100+i))
	}
	s.AddChargeRefund("ch_0", "re_0", 400, "eur", 200)
	s.AddPayout("po_1", 1940, "eur", 300, "txn_ch_0", "txn_ch_1")
	s.AddEventJSON([]byte(`{"id":"evt_1","object":"event","type":"charge.dispute.closed","created":10,"data":{"object":{"id":"du_1"}}}`))
	s.AddEventJSON([]byte(`{"id":"evt_2","object":"event","type":"charge.succeeded","created":20,"data":{"object":{"id":"ch_1"}}}`))
	s.AddEventJSON([]byte(`{"id":"evt_3","type":"charge.dispute.funds_withdrawn","created":30,"data":{"object":{"id":"du_1"}}}`))

	cases := []struct {
		name       string
		method     string
		path       string
		noAuth     bool
		wantStatus int
		wantType   string
		wantCode   string
		wantIDs    []string
		hasMore    *bool
	}{
		{name: "no key", method: "GET", path: "/v1/balance", noAuth: true, wantStatus: 401, wantType: "invalid_request_error"},
		{name: "balance", method: "GET", path: "/v1/balance", wantStatus: 200},
		{name: "POST not served", method: "POST", path: "/v1/refunds", wantStatus: 404, wantType: "invalid_request_error"},
		{name: "unknown path", method: "GET", path: "/v1/charges/ch_1", wantStatus: 404, wantType: "invalid_request_error"},
		{name: "missing object", method: "GET", path: "/v1/balance_transactions/txn_nope", wantStatus: 404, wantType: "invalid_request_error", wantCode: "resource_missing"},
		{name: "unknown parameter", method: "GET", path: "/v1/refunds?charge_id=ch_0", wantStatus: 400, wantCode: "parameter_unknown", wantType: "invalid_request_error"},
		{name: "bad limit", method: "GET", path: "/v1/events?limit=0", wantStatus: 400, wantType: "invalid_request_error"},
		{name: "limit over 100", method: "GET", path: "/v1/events?limit=101", wantStatus: 400, wantType: "invalid_request_error"},
		{name: "bad created", method: "GET", path: "/v1/events?created[gte]=yesterday", wantStatus: 400, wantType: "invalid_request_error"},
		{name: "type and types", method: "GET", path: "/v1/events?type=a&types[0]=b", wantStatus: 400, wantType: "invalid_request_error"},
		{name: "unknown cursor", method: "GET", path: "/v1/events?starting_after=evt_nope", wantStatus: 400, wantCode: "resource_missing", wantType: "invalid_request_error"},
		{name: "events newest first, default limit", method: "GET", path: "/v1/events", wantStatus: 200, wantIDs: []string{"evt_3", "evt_2", "evt_1"}, hasMore: ptr(false)},
		{name: "events limit", method: "GET", path: "/v1/events?limit=2", wantStatus: 200, wantIDs: []string{"evt_3", "evt_2"}, hasMore: ptr(true)},
		{name: "events starting_after", method: "GET", path: "/v1/events?limit=2&starting_after=evt_2", wantStatus: 200, wantIDs: []string{"evt_1"}, hasMore: ptr(false)},
		{name: "events ending_before", method: "GET", path: "/v1/events?limit=1&ending_before=evt_1", wantStatus: 200, wantIDs: []string{"evt_2"}, hasMore: ptr(true)},
		{name: "events wildcard type", method: "GET", path: "/v1/events?type=charge.dispute.*", wantStatus: 200, wantIDs: []string{"evt_3", "evt_1"}},
		{name: "events types[] in curl form", method: "GET", path: "/v1/events?types[]=charge.succeeded&types[]=charge.dispute.closed", wantStatus: 200, wantIDs: []string{"evt_2", "evt_1"}},
		{name: "events created range", method: "GET", path: "/v1/events?created[gt]=10&created[lte]=30", wantStatus: 200, wantIDs: []string{"evt_3", "evt_2"}},
		{name: "refunds of a charge", method: "GET", path: "/v1/refunds?charge=ch_0", wantStatus: 200, wantIDs: []string{"re_0"}},
		{name: "BTs of a payout", method: "GET", path: "/v1/balance_transactions?payout=po_1", wantStatus: 200, wantIDs: []string{"txn_po_1", "txn_ch_1", "txn_ch_0"}},
		{name: "BTs by source", method: "GET", path: "/v1/balance_transactions?source=ch_3", wantStatus: 200, wantIDs: []string{"txn_ch_3"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := get(t, s, tc.method, tc.path, !tc.noAuth)
			if r.status != tc.wantStatus {
				t.Fatalf("status %d, want %d: %v", r.status, tc.wantStatus, r.body)
			}
			if typ, code := errType(r); typ != tc.wantType || (tc.wantCode != "" && code != tc.wantCode) {
				t.Fatalf("error type %q code %q: %v", typ, code, r.body)
			}
			if tc.wantIDs != nil {
				if r.body["object"] != "list" || r.body["url"] == "" {
					t.Fatalf("not a list: %v", r.body)
				}
				if got := ids(r); strings.Join(got, ",") != strings.Join(tc.wantIDs, ",") {
					t.Fatalf("ids %v, want %v", got, tc.wantIDs)
				}
			}
			if tc.hasMore != nil && r.body["has_more"] != *tc.hasMore {
				t.Fatalf("has_more %v", r.body["has_more"])
			}
		})
	}

	t.Run("references are ids, objects get their object field", func(t *testing.T) {
		r := get(t, s, "GET", "/v1/refunds?charge=ch_0", true)
		re := r.body["data"].([]any)[0].(map[string]any)
		if re["charge"] != "ch_0" || re["balance_transaction"] != "txn_re_0" || re["object"] != "refund" {
			t.Fatalf("%v", re)
		}
		bt := get(t, s, "GET", "/v1/balance_transactions/txn_ch_2", true).body
		if bt["source"] != "ch_2" || bt["net"] != float64(970) {
			t.Fatalf("%v", bt)
		}
		ev := get(t, s, "GET", "/v1/events?types[0]=charge.dispute.funds_withdrawn", true).body
		if e := ev["data"].([]any)[0].(map[string]any); e["object"] != "event" {
			t.Fatalf("%v", e)
		}
	})

	t.Run("invoice tax rate expanded only on request", func(t *testing.T) {
		s.AddInvoice(stripe.Invoice{ID: "in_1", TotalTaxAmounts: []*stripe.InvoiceTotalTaxAmount{
			{Amount: 2000, TaxableAmount: 10000, TaxRate: &stripe.TaxRate{ID: "txr_1", Object: "tax_rate", Percentage: 20}},
		}})
		plain := get(t, s, "GET", "/v1/invoices/in_1", true).body
		if tr := plain["total_tax_amounts"].([]any)[0].(map[string]any)["tax_rate"]; tr != "txr_1" {
			t.Fatalf("unexpanded tax_rate %v", tr)
		}
		exp := get(t, s, "GET", "/v1/invoices/in_1?expand[0]=total_tax_amounts.tax_rate", true).body
		tr, _ := exp["total_tax_amounts"].([]any)[0].(map[string]any)["tax_rate"].(map[string]any)
		if tr["percentage"] != float64(20) {
			t.Fatalf("expanded tax_rate %v", tr)
		}
	})

	t.Run("injected failures", func(t *testing.T) {
		s.SetFailures(2, 429)
		r := get(t, s, "GET", "/v1/balance", true)
		if r.status != 429 || r.header.Get("Retry-After") == "" || r.header.Get("Stripe-Should-Retry") != "true" {
			t.Fatalf("%d %v", r.status, r.header)
		}
		if _, code := errType(r); code != "rate_limit" {
			t.Fatalf("code %q", code)
		}
		if r := get(t, s, "GET", "/v1/balance", false); r.status != 429 {
			t.Fatalf("second failure: %d (failures come before authentication)", r.status)
		}
		if r := get(t, s, "GET", "/v1/balance", true); r.status != 200 {
			t.Fatalf("after failures: %d", r.status)
		}
		s.SetFailures(1, 500)
		if r := get(t, s, "GET", "/v1/balance", true); r.status != 500 {
			t.Fatalf("%d", r.status)
		} else if typ, _ := errType(r); typ != "api_error" {
			t.Fatalf("type %q", typ)
		}
	})

	t.Run("requests are recorded without the key", func(t *testing.T) {
		reqs := s.Requests()
		if len(reqs) == 0 {
			t.Fatal("nothing recorded")
		}
		last := reqs[len(reqs)-1]
		if last.Method != "GET" || last.Path != "/v1/balance" || last.Status != 500 {
			t.Fatalf("%+v", last)
		}
		for _, r := range reqs {
			if strings.Contains(fmt.Sprint(r.Header), s.APIKey()) {
				t.Fatal("key recorded")
			}
		}
		s.ResetRequests()
		if len(s.Requests()) != 0 {
			t.Fatal("not reset")
		}
	})
}

func ptr[T any](v T) *T { return &v }
