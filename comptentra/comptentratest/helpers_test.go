package comptentratest

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/servolution/stripe-comptentra-sync/comptentra"
)

// clock is an adjustable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 3, 14, 10, 1, 2, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

const testKey = "ck_test_rw"
const testROKey = "ck_test_ro"

func newTest(t *testing.T, mod ...func(*Options)) (*Server, *clock) {
	t.Helper()
	c := newClock()
	opts := Options{APIKey: testKey, ReadOnlyKey: testROKey, Now: c.Now, Seed: 42}
	for _, m := range mod {
		m(&opts)
	}
	return NewServer(t, opts), c
}

func sale() comptentra.NewEntry {
	return comptentra.NewEntry{
		Date: "2026-03-14", Journal: "VTE", Libelle: "Paiement Stripe ch_1", PieceRef: "ch_1",
		Lignes: []comptentra.Line{
			{Compte: "411000", TiersEmail: "client@example.com", TiersRef: "cus_Q1", TiersNom: "Jeanne Client", DebitCents: 12000},
			{Compte: "707000", CreditCents: 10000},
			{Compte: "445712", CreditCents: 2000, Libelle: "TVA 20 %"},
		},
	}
}

type resp struct {
	status int
	header http.Header
	body   []byte
}

func (r resp) errBody(t *testing.T) comptentra.ErrorBody {
	t.Helper()
	var eb comptentra.ErrorBody
	if err := json.Unmarshal(r.body, &eb); err != nil || eb.Error.Code == "" {
		t.Fatalf("not an error body (%v): %s", err, r.body)
	}
	return eb
}

func (r resp) entry(t *testing.T) comptentra.Entry {
	t.Helper()
	var e comptentra.Entry
	if err := json.Unmarshal(r.body, &e); err != nil {
		t.Fatalf("not an entry (%v): %s", err, r.body)
	}
	return e
}

// call sends body (nil, []byte, string or a value to marshal) with the given headers;
// key "" sends no X-API-Key. path is relative to the API base unless it starts with "/_".
func call(t *testing.T, s *Server, method, path, key string, body any, hdr ...string) resp {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		rd = bytes.NewReader(b)
	case string:
		rd = strings.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	url := s.URL() + path
	if strings.HasPrefix(path, "/_") || strings.HasPrefix(path, "/api") || path == "/" {
		url = strings.TrimSuffix(s.URL(), "/api/v1") + path
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	if key != "" {
		req.Header.Set(comptentra.HeaderAPIKey, key)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	if res.Header.Get(comptentra.HeaderRequestID) == "" {
		t.Errorf("%s %s: no X-Request-Id", method, path)
	}
	return resp{res.StatusCode, res.Header, b}
}

func post(t *testing.T, s *Server, body any, hdr ...string) resp {
	t.Helper()
	return call(t, s, http.MethodPost, "/ecritures", testKey, body, hdr...)
}

func wantStatus(t *testing.T, r resp, status int, code string) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d; body %s", r.status, status, short(r.body))
	}
	if code != "" {
		if got := r.errBody(t).Error.Code; got != code {
			t.Fatalf("code %q, want %q; body %s", got, code, short(r.body))
		}
	}
}

func short(b []byte) string {
	if len(b) > 400 {
		return string(b[:400]) + "…"
	}
	return string(b)
}
