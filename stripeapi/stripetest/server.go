// Package stripetest is a small, stateful fake of the Stripe API endpoints
// the service reads, for scenario tests (in the spirit of httptest and
// miniredis): objects added with Add… are served back as Stripe would, with
// Stripe's list shape, paging, filters, error JSON and authentication.
//
// Served (GET only):
//
//	/v1/balance_transactions/{id}
//	/v1/balance_transactions   created[gt|gte|lt|lte], created, payout, type, currency, source, limit, starting_after, ending_before
//	/v1/refunds                charge, payment_intent, created[…], limit, starting_after, ending_before
//	/v1/invoices/{id}          expand[]=total_tax_amounts.tax_rate
//	/v1/events                 created[…], type (with * wildcard), types[], delivery_success, limit, starting_after, ending_before
//	/v1/balance
//
// Lists are newest first (created, then insertion order), as Stripe lists.
// Unknown parameters are rejected with 400 like Stripe does, so a test also
// checks that the client sends what Stripe understands. Expandable references
// (refund.charge, balance_transaction.source…) are returned as ids.
package stripetest

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	stripe "github.com/stripe/stripe-go/v76"
)

// RecordedRequest is one request the server received.
type RecordedRequest struct {
	Method string
	Path   string
	// Query holds the URL query (stripe-go sends GET parameters there, arrays
	// as indexed keys: "types[0]").
	Query url.Values
	// Form holds a POST body's form values (none of the served endpoints
	// take one; recorded for completeness).
	Form url.Values
	// Header is the request's header with Authorization redacted.
	Header http.Header
	// Status is the HTTP status the server answered.
	Status int
}

type object struct {
	id      string
	created int64
	seq     int
	raw     map[string]json.RawMessage
}

// Server is a fake Stripe API. All methods are safe for concurrent use.
type Server struct {
	t   testing.TB
	srv *httptest.Server
	key string

	mu          sync.Mutex
	seq         int
	bts         map[string]*object
	refunds     map[string]*object
	invoices    map[string]*object
	charges     map[string]*object
	events      map[string]*object
	payouts     map[string]string // balance transaction id → payout id
	balance     json.RawMessage
	failN       int
	failStatus  int
	maxPageSize int
	reqs        []RecordedRequest
}

// NewServer starts a fake Stripe on a random 127.0.0.1 port, closed when the
// test ends.
func NewServer(t testing.TB) *Server {
	t.Helper()
	var b [12]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatalf("stripetest: %v", err)
	}
	s := &Server{
		t:           t,
		key:         "sk_test_" + hex.EncodeToString(b[:]),
		bts:         map[string]*object{},
		refunds:     map[string]*object{},
		invoices:    map[string]*object{},
		charges:     map[string]*object{},
		events:      map[string]*object{},
		payouts:     map[string]string{},
		maxPageSize: 100,
		balance: json.RawMessage(`{"object":"balance","livemode":false,` +
			`"available":[{"amount":0,"currency":"eur","source_types":{"card":0}}],` +
			`"pending":[{"amount":0,"currency":"eur","source_types":{"card":0}}]}`),
	}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.srv.Close)
	return s
}

// URL is the API root without /v1, for stripeapi.Config.BaseURL or STRIPE_API_URL.
func (s *Server) URL() string { return s.srv.URL }

// APIKey is the only key the server accepts ("Authorization: Bearer <key>").
func (s *Server) APIKey() string { return s.key }

// SetFailures makes the next n requests fail with status before they are
// looked at (authentication included). A 429 carries Retry-After: 1 and
// Stripe-Should-Retry: true (which makes stripe-go retry it), code
// rate_limit; a 5xx is an api_error. n ≤ 0 clears pending failures.
func (s *Server) SetFailures(n int, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failN, s.failStatus = max(n, 0), status
}

// SetMaxPageSize caps the page size the server returns, whatever the
// request's limit (Stripe's own cap is 100), to exercise paging with few
// objects.
func (s *Server) SetMaxPageSize(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.maxPageSize = max(n, 1)
}

// Requests returns the requests received so far, in order.
func (s *Server) Requests() []RecordedRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.reqs)
}

// ResetRequests forgets the recorded requests.
func (s *Server) ResetRequests() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reqs = nil
}

// AddBalanceTransaction stores bt (replacing one with the same id).
func (s *Server) AddBalanceTransaction(bt stripe.BalanceTransaction) {
	s.t.Helper()
	s.AddBalanceTransactionJSON(s.marshal(bt))
}

// AddRefund stores r (replacing one with the same id).
func (s *Server) AddRefund(r stripe.Refund) {
	s.t.Helper()
	s.AddRefundJSON(s.marshal(r))
}

// AddInvoice stores inv (replacing one with the same id). Give
// total_tax_amounts[].tax_rate as a full tax rate (ID, Object "tax_rate",
// Percentage) to have it served expanded when asked for.
func (s *Server) AddInvoice(inv stripe.Invoice) {
	s.t.Helper()
	s.AddInvoiceJSON(s.marshal(inv))
}

// AddEvent stores e (replacing one with the same id). The event's object is
// taken from e.Data.Raw, else from e.Data.Object.
func (s *Server) AddEvent(e stripe.Event) {
	s.t.Helper()
	if e.Data != nil && len(e.Data.Raw) == 0 && e.Data.Object != nil {
		d := *e.Data
		d.Raw = s.marshal(d.Object)
		e.Data = &d
	}
	s.AddEventJSON(s.marshal(e))
}

// AddBalanceTransactionJSON stores a balance transaction given as Stripe JSON
// (a fixture file, for instance).
func (s *Server) AddBalanceTransactionJSON(raw []byte) {
	s.t.Helper()
	s.add(s.bts, "balance_transaction", raw, "source")
}

// AddRefundJSON stores a refund given as Stripe JSON.
func (s *Server) AddRefundJSON(raw []byte) {
	s.t.Helper()
	s.add(s.refunds, "refund", raw, "charge", "balance_transaction", "payment_intent",
		"failure_balance_transaction", "source_transfer_reversal", "transfer_reversal")
}

// AddInvoiceJSON stores an invoice given as Stripe JSON.
func (s *Server) AddInvoiceJSON(raw []byte) {
	s.t.Helper()
	s.add(s.invoices, "invoice", raw, "charge", "customer", "payment_intent", "subscription",
		"default_payment_method", "default_source", "application", "on_behalf_of", "quote",
		"latest_revision", "test_clock", "account_tax_ids")
}

// AddChargeJSON stores a charge given as Stripe JSON (GET /v1/charges/{id}).
func (s *Server) AddChargeJSON(raw []byte) {
	s.t.Helper()
	s.add(s.charges, "charge", raw, "customer", "invoice", "payment_intent", "balance_transaction")
}

// AddEventJSON stores an event given as Stripe JSON (an "event" envelope).
func (s *Server) AddEventJSON(raw []byte) {
	s.t.Helper()
	s.add(s.events, "event", raw)
}

// AssignPayout records that the balance transactions btIDs were paid out in
// payoutID, for GET /v1/balance_transactions?payout=…. A balance transaction
// whose source is the payout itself always matches.
func (s *Server) AssignPayout(payoutID string, btIDs ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, id := range btIDs {
		s.payouts[id] = payoutID
	}
}

// SetBalance replaces what GET /v1/balance returns.
func (s *Server) SetBalance(b stripe.Balance) {
	s.t.Helper()
	raw := s.marshal(b)
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		s.t.Fatalf("stripetest: balance: %v", err)
	}
	m["object"] = json.RawMessage(`"balance"`)
	out, _ := json.Marshal(m)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.balance = out
}

func (s *Server) marshal(v any) []byte {
	s.t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		s.t.Fatalf("stripetest: marshal %T: %v", v, err)
	}
	return b
}

// add stores raw in m, collapsing the named expandable fields to ids.
func (s *Server) add(m map[string]*object, kind string, raw []byte, refs ...string) {
	s.t.Helper()
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil {
		s.t.Fatalf("stripetest: %s: not a JSON object: %v", kind, err)
	}
	var id string
	if err := json.Unmarshal(fields["id"], &id); err != nil || id == "" {
		s.t.Fatalf("stripetest: %s without an id", kind)
	}
	var created int64
	if c, ok := fields["created"]; ok && string(c) != "null" {
		if err := json.Unmarshal(c, &created); err != nil {
			s.t.Fatalf("stripetest: %s %s: created: %v", kind, id, err)
		}
	}
	if o, ok := fields["object"]; !ok || string(o) == `""` || string(o) == "null" {
		fields["object"] = json.RawMessage(strconv.Quote(kind))
	}
	for _, f := range refs {
		if v, ok := fields[f]; ok {
			fields[f] = collapse(v)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seq++
	m[id] = &object{id: id, created: created, seq: s.seq, raw: fields}
}

// collapse turns an expanded reference {"id":"x",…} into "x"; empty objects
// and ids become null. Arrays of references are collapsed element-wise.
func collapse(v json.RawMessage) json.RawMessage {
	t := strings.TrimSpace(string(v))
	switch {
	case strings.HasPrefix(t, "{"):
		var o struct {
			ID string `json:"id"`
		}
		if json.Unmarshal(v, &o) != nil || o.ID == "" {
			return json.RawMessage("null")
		}
		return json.RawMessage(strconv.Quote(o.ID))
	case strings.HasPrefix(t, "["):
		var a []json.RawMessage
		if json.Unmarshal(v, &a) != nil {
			return v
		}
		for i := range a {
			a[i] = collapse(a[i])
		}
		out, _ := json.Marshal(a)
		return out
	case t == `""`:
		return json.RawMessage("null")
	}
	return v
}

// refID reads a (collapsed) reference field.
func refID(o *object, field string) string {
	var id string
	_ = json.Unmarshal(o.raw[field], &id)
	return id
}

func strField(o *object, field string) string {
	var v string
	_ = json.Unmarshal(o.raw[field], &v)
	return v
}

var (
	btPath      = regexp.MustCompile(`^/v1/balance_transactions/([^/]+)$`)
	invoicePath = regexp.MustCompile(`^/v1/invoices/([^/]+)$`)
	chargePath  = regexp.MustCompile(`^/v1/charges/([^/]+)$`)
	indexedKey  = regexp.MustCompile(`^([a-z_]+)\[(\d*)\]$`)
)

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	_ = r.ParseForm()
	rec := RecordedRequest{
		Method: r.Method,
		Path:   r.URL.Path,
		Query:  r.URL.Query(),
		Form:   r.PostForm,
		Header: r.Header.Clone(),
	}
	if rec.Header.Get("Authorization") != "" {
		rec.Header.Set("Authorization", "[REDACTED]")
	}
	rw := &statusWriter{ResponseWriter: w, status: 200}
	s.handle(rw, r)
	rec.Status = rw.status
	s.mu.Lock()
	s.reqs = append(s.reqs, rec)
	s.mu.Unlock()
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

func (s *Server) handle(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Request-Id", "req_"+randHex(7))
	s.mu.Lock()
	failing := s.failN > 0
	status := s.failStatus
	if failing {
		s.failN--
	}
	s.mu.Unlock()
	if failing {
		switch {
		case status == http.StatusTooManyRequests:
			w.Header().Set("Retry-After", "1")
			w.Header().Set("Stripe-Should-Retry", "true")
			writeError(w, status, "invalid_request_error", "rate_limit", "",
				"Too many requests hit the API too quickly. We recommend an exponential backoff of your requests.")
		case status >= 500:
			writeError(w, status, "api_error", "", "",
				"An unknown error occurred (stripetest injected failure).")
		default:
			writeError(w, status, "invalid_request_error", "", "", "Injected failure (stripetest).")
		}
		return
	}

	if msg, ok := s.authenticate(r); !ok {
		w.Header().Set("WWW-Authenticate", `Basic realm="Stripe"`)
		writeError(w, http.StatusUnauthorized, "invalid_request_error", "", "", msg)
		return
	}

	if r.Method != http.MethodGet {
		writeError(w, http.StatusNotFound, "invalid_request_error", "", "",
			fmt.Sprintf("Unrecognized request URL (%s: %s). stripetest serves GET requests only.", r.Method, r.URL.Path))
		return
	}

	q := r.URL.Query()
	switch p := r.URL.Path; {
	case p == "/v1/balance":
		if !checkParams(w, q, "expand") {
			return
		}
		s.mu.Lock()
		b := s.balance
		s.mu.Unlock()
		writeJSON(w, http.StatusOK, b)
	case p == "/v1/balance_transactions":
		if !checkParams(w, q, "expand", "limit", "starting_after", "ending_before", "created",
			"payout", "type", "currency", "source") {
			return
		}
		s.list(w, r, s.bts, "balance_transaction", func(o *object) bool {
			return match(q, "type", strField(o, "type")) &&
				match(q, "currency", strField(o, "currency")) &&
				match(q, "source", refID(o, "source")) &&
				(q.Get("payout") == "" || s.payouts[o.id] == q.Get("payout") || refID(o, "source") == q.Get("payout"))
		})
	case btPath.MatchString(p):
		if !checkParams(w, q, "expand") {
			return
		}
		s.retrieve(w, s.bts, "balance_transaction", btPath.FindStringSubmatch(p)[1], nil)
	case p == "/v1/refunds":
		if !checkParams(w, q, "expand", "limit", "starting_after", "ending_before", "created",
			"charge", "payment_intent") {
			return
		}
		s.list(w, r, s.refunds, "refund", func(o *object) bool {
			return match(q, "charge", refID(o, "charge")) && match(q, "payment_intent", refID(o, "payment_intent"))
		})
	case chargePath.MatchString(p):
		if !checkParams(w, q, "expand") {
			return
		}
		s.retrieve(w, s.charges, "charge", chargePath.FindStringSubmatch(p)[1], nil)
	case invoicePath.MatchString(p):
		if !checkParams(w, q, "expand") {
			return
		}
		expandTax := slices.Contains(arrayParam(q, "expand"), "total_tax_amounts.tax_rate")
		s.retrieve(w, s.invoices, "invoice", invoicePath.FindStringSubmatch(p)[1], func(f map[string]json.RawMessage) {
			if !expandTax {
				collapseTaxRates(f)
			}
		})
	case p == "/v1/events":
		if !checkParams(w, q, "expand", "limit", "starting_after", "ending_before", "created",
			"type", "types", "delivery_success") {
			return
		}
		types := arrayParam(q, "types")
		if q.Get("type") != "" && len(types) > 0 {
			writeError(w, http.StatusBadRequest, "invalid_request_error", "parameter_invalid_string", "types",
				"You may pass either `type` or `types`, but not both.")
			return
		}
		if len(types) > 20 {
			writeError(w, http.StatusBadRequest, "invalid_request_error", "parameter_invalid_integer", "types",
				"Invalid array: types must have at most 20 elements.")
			return
		}
		s.list(w, r, s.events, "event", func(o *object) bool {
			t := strField(o, "type")
			if len(types) > 0 && !slices.Contains(types, t) {
				return false
			}
			return typeMatch(q.Get("type"), t)
		})
	default:
		writeError(w, http.StatusNotFound, "invalid_request_error", "", "",
			fmt.Sprintf("Unrecognized request URL (GET: %s).", p))
	}
}

func (s *Server) authenticate(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return "You did not provide an API key. You need to provide your API key in the Authorization header, " +
			"using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY').", false
	}
	key, ok := strings.CutPrefix(h, "Bearer ")
	if !ok {
		return "Invalid authorization header. Use Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY').", false
	}
	if key != s.key {
		// Stripe echoes the key masked, keeping its prefix and last four.
		return "Invalid API Key provided: " + maskKey(key), false
	}
	return "", true
}

func maskKey(k string) string {
	prefix := ""
	for _, p := range []string{"sk_test_", "sk_live_", "rk_test_", "rk_live_", "pk_test_", "pk_live_"} {
		if strings.HasPrefix(k, p) {
			prefix = p
			break
		}
	}
	rest := k[len(prefix):]
	if len(rest) <= 4 {
		return prefix + strings.Repeat("*", len(rest))
	}
	return prefix + strings.Repeat("*", len(rest)-4) + rest[len(rest)-4:]
}

func (s *Server) retrieve(w http.ResponseWriter, m map[string]*object, kind, id string, edit func(map[string]json.RawMessage)) {
	id, _ = url.PathUnescape(id)
	s.mu.Lock()
	o, ok := m[id]
	var fields map[string]json.RawMessage
	if ok {
		fields = cloneFields(o.raw)
	}
	s.mu.Unlock()
	if !ok {
		writeError(w, http.StatusNotFound, "invalid_request_error", "resource_missing", "id",
			fmt.Sprintf("No such %s: '%s'", strings.ReplaceAll(kind, "_", " "), id))
		return
	}
	if edit != nil {
		edit(fields)
	}
	out, _ := json.Marshal(fields)
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) list(w http.ResponseWriter, r *http.Request, m map[string]*object, kind string, keep func(*object) bool) {
	q := r.URL.Query()
	limit := 10
	if l := q.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > 100 {
			writeError(w, http.StatusBadRequest, "invalid_request_error", "parameter_invalid_integer", "limit",
				"Invalid integer: "+l+" (limit must be between 1 and 100)")
			return
		}
		limit = n
	}
	cr, ok := parseCreated(w, q)
	if !ok {
		return
	}

	s.mu.Lock()
	limit = min(limit, s.maxPageSize)
	var all []*object
	for _, o := range m {
		if cr.match(o.created) && keep(o) {
			all = append(all, o)
		}
	}
	s.mu.Unlock()
	// Newest first: created descending, then latest added first.
	slices.SortFunc(all, func(a, b *object) int {
		if a.created != b.created {
			if a.created > b.created {
				return -1
			}
			return 1
		}
		return b.seq - a.seq
	})

	var page []*object
	hasMore := false
	switch sa, eb := q.Get("starting_after"), q.Get("ending_before"); {
	case sa != "" && eb != "":
		writeError(w, http.StatusBadRequest, "invalid_request_error", "", "starting_after",
			"You may only specify one of these parameters: ending_before, starting_after.")
		return
	case sa != "":
		i := indexOf(all, sa)
		if i < 0 {
			s.mu.Lock()
			_, exists := m[sa]
			s.mu.Unlock()
			if !exists {
				writeError(w, http.StatusBadRequest, "invalid_request_error", "resource_missing", "starting_after",
					fmt.Sprintf("No such %s: '%s'", strings.ReplaceAll(kind, "_", " "), sa))
				return
			}
			// The cursor exists but is filtered out: nothing can be placed
			// after it reliably; answer an empty page.
			all = nil
			i = -1
		}
		rest := all[i+1:]
		hasMore = len(rest) > limit
		page = rest[:min(limit, len(rest))]
	case eb != "":
		i := indexOf(all, eb)
		if i < 0 {
			writeError(w, http.StatusBadRequest, "invalid_request_error", "resource_missing", "ending_before",
				fmt.Sprintf("No such %s: '%s'", strings.ReplaceAll(kind, "_", " "), eb))
			return
		}
		before := all[:i]
		hasMore = len(before) > limit
		page = before[max(0, len(before)-limit):]
	default:
		hasMore = len(all) > limit
		page = all[:min(limit, len(all))]
	}

	data := make([]json.RawMessage, 0, len(page))
	s.mu.Lock()
	for _, o := range page {
		b, _ := json.Marshal(o.raw)
		data = append(data, b)
	}
	s.mu.Unlock()
	out, _ := json.Marshal(struct {
		Object  string            `json:"object"`
		Data    []json.RawMessage `json:"data"`
		HasMore bool              `json:"has_more"`
		URL     string            `json:"url"`
	}{"list", data, hasMore, r.URL.Path})
	writeJSON(w, http.StatusOK, out)
}

func indexOf(all []*object, id string) int {
	return slices.IndexFunc(all, func(o *object) bool { return o.id == id })
}

type createdRange struct {
	gt, gte, lt, lte, eq *int64
}

func (c createdRange) match(v int64) bool {
	return (c.gt == nil || v > *c.gt) && (c.gte == nil || v >= *c.gte) &&
		(c.lt == nil || v < *c.lt) && (c.lte == nil || v <= *c.lte) &&
		(c.eq == nil || v == *c.eq)
}

func parseCreated(w http.ResponseWriter, q url.Values) (createdRange, bool) {
	var c createdRange
	for k, vs := range q {
		var dst **int64
		switch k {
		case "created":
			dst = &c.eq
		case "created[gt]":
			dst = &c.gt
		case "created[gte]":
			dst = &c.gte
		case "created[lt]":
			dst = &c.lt
		case "created[lte]":
			dst = &c.lte
		default:
			continue
		}
		n, err := strconv.ParseInt(vs[0], 10, 64)
		if err != nil {
			writeError(w, http.StatusBadRequest, "invalid_request_error", "parameter_invalid_integer", k,
				"Invalid integer: "+vs[0])
			return c, false
		}
		*dst = &n
	}
	return c, true
}

// checkParams answers 400 for a query parameter the endpoint does not know,
// as Stripe does ("Received unknown parameter: …"). An allowed name also
// admits its array form (name[0], name[]) and, for created, its range form.
func checkParams(w http.ResponseWriter, q url.Values, allowed ...string) bool {
	for k := range q {
		ok := slices.Contains(allowed, k)
		if !ok {
			switch m := indexedKey.FindStringSubmatch(k); {
			case m != nil && m[1] != "created":
				ok = slices.Contains(allowed, m[1])
			case slices.Contains(allowed, "created"):
				ok = k == "created[gt]" || k == "created[gte]" || k == "created[lt]" || k == "created[lte]"
			}
		}
		if !ok {
			writeError(w, http.StatusBadRequest, "invalid_request_error", "parameter_unknown", k,
				"Received unknown parameter: "+k)
			return false
		}
	}
	return true
}

// arrayParam reads an array parameter sent as name[0]=…&name[1]=… (stripe-go)
// or name[]=… (curl), in index order.
func arrayParam(q url.Values, name string) []string {
	type iv struct {
		i int
		v string
	}
	var items []iv
	for k, vs := range q {
		m := indexedKey.FindStringSubmatch(k)
		if m == nil || m[1] != name {
			continue
		}
		i := -1
		if m[2] != "" {
			i, _ = strconv.Atoi(m[2])
		}
		for _, v := range vs {
			items = append(items, iv{i, v})
		}
	}
	slices.SortStableFunc(items, func(a, b iv) int { return a.i - b.i })
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = it.v
	}
	return out
}

func match(q url.Values, key, v string) bool {
	want := q.Get(key)
	return want == "" || want == v
}

// typeMatch implements the events list's type filter, where "*" matches
// any run of characters ("charge.dispute.*").
func typeMatch(pattern, t string) bool {
	if pattern == "" {
		return true
	}
	parts := strings.Split(pattern, "*")
	if len(parts) == 1 {
		return pattern == t
	}
	if !strings.HasPrefix(t, parts[0]) {
		return false
	}
	t = t[len(parts[0]):]
	for _, p := range parts[1 : len(parts)-1] {
		i := strings.Index(t, p)
		if i < 0 {
			return false
		}
		t = t[i+len(p):]
	}
	return strings.HasSuffix(t, parts[len(parts)-1])
}

func collapseTaxRates(f map[string]json.RawMessage) {
	raw, ok := f["total_tax_amounts"]
	if !ok {
		return
	}
	var tas []map[string]json.RawMessage
	if json.Unmarshal(raw, &tas) != nil {
		return
	}
	for _, ta := range tas {
		if v, ok := ta["tax_rate"]; ok {
			ta["tax_rate"] = collapse(v)
		}
	}
	f["total_tax_amounts"], _ = json.Marshal(tas)
}

func cloneFields(m map[string]json.RawMessage) map[string]json.RawMessage {
	out := make(map[string]json.RawMessage, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func writeJSON(w http.ResponseWriter, status int, body []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Stripe-Version", stripe.APIVersion)
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

func writeError(w http.ResponseWriter, status int, typ, code, param, msg string) {
	e := map[string]string{"type": typ, "message": msg}
	if code != "" {
		e["code"] = code
		e["doc_url"] = "https://stripe.com/docs/error-codes/" + strings.ReplaceAll(code, "_", "-")
	}
	if param != "" {
		e["param"] = param
	}
	body, _ := json.Marshal(map[string]any{"error": e})
	writeJSON(w, status, body)
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
