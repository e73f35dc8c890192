package comptentra_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/servolution/stripe-comptentra-sync/comptentra"
)

const testKey = "sk_test_Zx9Q-very-secret-api-key-0001"

// newServer starts an httptest server whose handler gets every request under
// /api/v1, and a client rooted there.
func newServer(t *testing.T, h http.HandlerFunc, opts ...comptentra.Option) (*comptentra.Client, *httptest.Server) {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	c, err := comptentra.NewClient(srv.URL+"/api/v1", testKey, opts...)
	if err != nil {
		t.Fatalf("NewClient: %v", err)
	}
	return c, srv
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeErr(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set(comptentra.HeaderRequestID, "req_err")
	writeJSON(w, status, comptentra.ErrorBody{Error: comptentra.ErrorDetail{Code: code, Message: msg}})
}

var sampleEntry = comptentra.NewEntry{
	Date: "2026-03-14", Journal: "VTE", Libelle: "Paiement Stripe ch_1", PieceRef: "ch_1",
	Lignes: []comptentra.Line{
		{Compte: "411000", TiersEmail: "client@example.com", TiersRef: "cus_Q1", TiersNom: "Jeanne Client", DebitCents: 12000},
		{Compte: "707000", CreditCents: 10000},
		{Compte: "445712", CreditCents: 2000, Libelle: "TVA 20 %"},
		{Compte: "706000", CreditCents: 0, DebitCents: 0, Devise: "USD", MontantDeviseCents: 1234},
	},
}

func TestCreateEntry(t *testing.T) {
	for _, tc := range []struct {
		name, idemKey string
		replayHeader  string
		wantReplayed  bool
	}{
		{name: "no idempotency key", idemKey: ""},
		{name: "with idempotency key, first call", idemKey: "stripe:evt_1:charge", replayHeader: ""},
		{name: "with idempotency key, replay", idemKey: "stripe:evt_1:charge", replayHeader: "true", wantReplayed: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, _ := newServer(t, func(w http.ResponseWriter, r *http.Request) {
				if r.Method != http.MethodPost || r.URL.Path != "/api/v1/ecritures" || r.URL.RawQuery != "" {
					t.Errorf("got %s %s, want POST /api/v1/ecritures", r.Method, r.URL)
				}
				for h, want := range map[string]string{
					"X-API-Key": testKey, "Content-Type": "application/json", "Accept": "application/json",
					"User-Agent": "test-agent/1",
				} {
					if got := r.Header.Get(h); got != want {
						t.Errorf("header %s = %q, want %q", h, got, want)
					}
				}
				got, present := r.Header[comptentra.HeaderIdempotencyKey]
				if tc.idemKey == "" && present {
					t.Errorf("Idempotency-Key sent without a key: %q", got)
				}
				if tc.idemKey != "" && (len(got) != 1 || got[0] != tc.idemKey) {
					t.Errorf("Idempotency-Key = %q, want %q", got, tc.idemKey)
				}
				var body comptentra.NewEntry
				dec := json.NewDecoder(r.Body)
				dec.DisallowUnknownFields()
				if err := dec.Decode(&body); err != nil {
					t.Errorf("body: %v", err)
				}
				if !reflect.DeepEqual(body, sampleEntry) {
					t.Errorf("body = %+v, want %+v", body, sampleEntry)
				}
				if tc.replayHeader != "" {
					w.Header().Set(comptentra.HeaderIdempotentReplayed, tc.replayHeader)
				}
				w.Header().Set(comptentra.HeaderRequestID, "req_42")
				writeJSON(w, http.StatusCreated, map[string]any{
					"id": "ecr_1", "numero": "VTE-000123", "date": body.Date, "journal": body.Journal,
					"libelle": body.Libelle, "piece_ref": body.PieceRef, "created_at": "2026-03-14T10:01:02Z",
					"lignes": []map[string]any{
						{"compte": "411000", "compte_auxiliaire": "411CUS_Q1", "tiers_id": "tie_1", "libelle": body.Libelle, "debit_cents": 12000, "credit_cents": 0},
						{"compte": "707000", "libelle": body.Libelle, "debit_cents": 0, "credit_cents": 12000},
					},
				})
			}, comptentra.WithUserAgent("test-agent/1"))

			e, created, err := c.CreateEntry(context.Background(), sampleEntry, tc.idemKey)
			if err != nil {
				t.Fatalf("CreateEntry: %v", err)
			}
			if created.Replayed != tc.wantReplayed || created.RequestID != "req_42" {
				t.Errorf("Created = %+v, want Replayed=%v RequestID=req_42", created, tc.wantReplayed)
			}
			if e.ID != "ecr_1" || e.Numero != "VTE-000123" || e.PieceRef != "ch_1" ||
				!e.CreatedAt.Equal(time.Date(2026, 3, 14, 10, 1, 2, 0, time.UTC)) || len(e.Lignes) != 2 ||
				e.Lignes[0].CompteAuxiliaire != "411CUS_Q1" || e.Lignes[0].TiersID != "tie_1" || e.Lignes[1].CreditCents != 12000 {
				t.Errorf("entry decoded wrong: %+v", e)
			}
		})
	}
}

func TestCreateEntryRejectsBadIdempotencyKey(t *testing.T) {
	var calls atomic.Int32
	c, _ := newServer(t, func(w http.ResponseWriter, r *http.Request) { calls.Add(1) })
	for _, k := range []string{strings.Repeat("k", 256), "a\r\nX-Evil: 1"} {
		if _, _, err := c.CreateEntry(context.Background(), sampleEntry, k); err == nil {
			t.Errorf("key %q accepted", k)
		}
	}
	if _, _, err := c.CreateEntry(context.Background(), sampleEntry, strings.Repeat("k", 255)); err == nil {
		t.Errorf("255-byte key: want the server's (empty) answer to fail decoding, got nil")
	} else if strings.Contains(err.Error(), "idempotency key") {
		t.Errorf("255-byte key rejected client-side: %v", err)
	}
	if calls.Load() != 1 {
		t.Errorf("server saw %d calls, want 1 (only the valid key)", calls.Load())
	}
}

func TestListEntriesQuery(t *testing.T) {
	for _, tc := range []struct {
		name string
		p    comptentra.ListEntriesParams
		want url.Values
	}{
		{"no filter", comptentra.ListEntriesParams{}, url.Values{}},
		{"journal", comptentra.ListEntriesParams{Journal: "VTE"}, url.Values{"journal": {"VTE"}}},
		{"piece_ref needing escaping", comptentra.ListEntriesParams{PieceRef: "ch_1&x=2 +é#"}, url.Values{"piece_ref": {"ch_1&x=2 +é#"}}},
		{"date_from", comptentra.ListEntriesParams{DateFrom: "2026-01-01"}, url.Values{"date_from": {"2026-01-01"}}},
		{"date_to", comptentra.ListEntriesParams{DateTo: "2026-12-31"}, url.Values{"date_to": {"2026-12-31"}}},
		{"limit", comptentra.ListEntriesParams{Limit: 5}, url.Values{"limit": {"5"}}},
		{"cursor", comptentra.ListEntriesParams{Cursor: "c/2+=="}, url.Values{"cursor": {"c/2+=="}}},
		{"all", comptentra.ListEntriesParams{Journal: "BQ", PieceRef: "po_1", DateFrom: "2026-01-01", DateTo: "2026-01-31", Limit: 200, Cursor: "abc"},
			url.Values{"journal": {"BQ"}, "piece_ref": {"po_1"}, "date_from": {"2026-01-01"}, "date_to": {"2026-01-31"}, "limit": {"200"}, "cursor": {"abc"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, _ := newServer(t, func(w http.ResponseWriter, r *http.Request) {
				if r.Method != http.MethodGet || r.URL.Path != "/api/v1/ecritures" {
					t.Errorf("got %s %s", r.Method, r.URL.Path)
				}
				if got := r.URL.Query(); !reflect.DeepEqual(got, tc.want) {
					t.Errorf("query = %v (raw %q), want %v", got, r.URL.RawQuery, tc.want)
				}
				if r.Header.Get("X-API-Key") != testKey || r.Header.Get("Accept") != "application/json" {
					t.Errorf("missing auth/accept headers: %v", r.Header)
				}
				writeJSON(w, 200, map[string]any{"data": []map[string]any{{"id": "ecr_9"}}, "next_cursor": "n1"})
			})
			page, err := c.ListEntries(context.Background(), tc.p)
			if err != nil {
				t.Fatal(err)
			}
			if len(page.Data) != 1 || page.Data[0].ID != "ecr_9" || page.NextCursor == nil || *page.NextCursor != "n1" {
				t.Errorf("page = %+v", page)
			}
		})
	}
	t.Run("null next_cursor and empty data", func(t *testing.T) {
		c, _ := newServer(t, func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, `{"data":[],"next_cursor":null}`)
		})
		page, err := c.ListEntries(context.Background(), comptentra.ListEntriesParams{})
		if err != nil || page.NextCursor != nil || page.Data == nil || len(page.Data) != 0 {
			t.Errorf("page = %+v, err = %v", page, err)
		}
	})
	t.Run("limit out of range is refused client-side", func(t *testing.T) {
		var calls atomic.Int32
		c, _ := newServer(t, func(w http.ResponseWriter, r *http.Request) { calls.Add(1) })
		for _, l := range []int{-1, 201} {
			if _, err := c.ListEntries(context.Background(), comptentra.ListEntriesParams{Limit: l}); err == nil {
				t.Errorf("limit %d accepted", l)
			}
		}
		if calls.Load() != 0 {
			t.Errorf("%d requests sent", calls.Load())
		}
	})
}

// pagedHandler serves 3 pages: "" → [e1 e2] next c2 → [e3 e4] next c3 → [e5] next null.
// failOn, when non-empty, names a cursor answered with 500.
func pagedHandler(t *testing.T, seen *[]string, failOn string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		cur := q.Get("cursor")
		*seen = append(*seen, cur)
		if q.Get("journal") != "VTE" || q.Get("limit") != "2" {
			t.Errorf("filters lost on cursor %q: %v", cur, q)
		}
		if cur == failOn {
			writeErr(w, 500, comptentra.CodeInternal, "boom")
			return
		}
		type page struct {
			Data []comptentra.Entry `json:"data"`
			Next *string            `json:"next_cursor"`
		}
		s := func(v string) *string { return &v }
		switch cur {
		case "":
			writeJSON(w, 200, page{[]comptentra.Entry{{ID: "e1"}, {ID: "e2"}}, s("c2")})
		case "c2":
			writeJSON(w, 200, page{[]comptentra.Entry{{ID: "e3"}, {ID: "e4"}}, s("c3")})
		case "c3":
			writeJSON(w, 200, page{[]comptentra.Entry{{ID: "e5"}}, nil})
		default:
			t.Errorf("unexpected cursor %q", cur)
			writeErr(w, 400, "bad_cursor", "")
		}
	}
}

func TestEntriesIterator(t *testing.T) {
	p := comptentra.ListEntriesParams{Journal: "VTE", Limit: 2}
	t.Run("follows cursors across 3 pages", func(t *testing.T) {
		var seen []string
		c, _ := newServer(t, pagedHandler(t, &seen, "-"))
		var ids []string
		for e, err := range c.Entries(context.Background(), p) {
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, e.ID)
		}
		if want := []string{"e1", "e2", "e3", "e4", "e5"}; !reflect.DeepEqual(ids, want) {
			t.Errorf("ids = %v, want %v", ids, want)
		}
		if want := []string{"", "c2", "c3"}; !reflect.DeepEqual(seen, want) {
			t.Errorf("cursors requested = %q, want %q", seen, want)
		}
	})
	t.Run("stops on error", func(t *testing.T) {
		var seen []string
		c, _ := newServer(t, pagedHandler(t, &seen, "c2"))
		var ids []string
		var errs []error
		for e, err := range c.Entries(context.Background(), p) {
			if err != nil {
				errs = append(errs, err)
				continue // the iterator itself must stop
			}
			ids = append(ids, e.ID)
		}
		if want := []string{"e1", "e2"}; !reflect.DeepEqual(ids, want) {
			t.Errorf("ids = %v, want %v", ids, want)
		}
		var ae *comptentra.APIError
		if len(errs) != 1 || !errors.As(errs[0], &ae) || ae.StatusCode != 500 {
			t.Errorf("errs = %v, want one 500 APIError", errs)
		}
		if want := []string{"", "c2"}; !reflect.DeepEqual(seen, want) {
			t.Errorf("cursors requested = %q, want %q", seen, want)
		}
	})
	t.Run("break stops fetching", func(t *testing.T) {
		var seen []string
		c, _ := newServer(t, pagedHandler(t, &seen, "-"))
		for e, err := range c.Entries(context.Background(), p) {
			if err != nil || e.ID == "e2" {
				break
			}
		}
		if len(seen) != 1 {
			t.Errorf("requested %q after break on page 1", seen)
		}
	})
	t.Run("repeated cursor is an error, not a loop", func(t *testing.T) {
		var n atomic.Int32
		c, _ := newServer(t, func(w http.ResponseWriter, r *http.Request) {
			if n.Add(1) > 5 {
				t.Error("iterator loops")
				writeErr(w, 500, comptentra.CodeInternal, "")
				return
			}
			io.WriteString(w, `{"data":[{"id":"x"}],"next_cursor":"same"}`)
		})
		var err error
		for _, e := range c.Entries(context.Background(), comptentra.ListEntriesParams{}) {
			if e != nil {
				err = e
			}
		}
		if err == nil || !strings.Contains(err.Error(), "next_cursor") {
			t.Errorf("err = %v", err)
		}
	})
}

func TestGetEntry(t *testing.T) {
	c, _ := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.EscapedPath() {
		case "/api/v1/ecritures/ecr_1":
			writeJSON(w, 200, comptentra.Entry{ID: "ecr_1", Numero: "VTE-000001"})
		case "/api/v1/ecritures/a%2Fb%20c%3Fd":
			writeJSON(w, 200, comptentra.Entry{ID: "a/b c?d"})
		default:
			w.Header().Set(comptentra.HeaderRequestID, "req_404")
			writeJSON(w, 404, comptentra.ErrorBody{Error: comptentra.ErrorDetail{Code: comptentra.CodeNotFound, Message: "écriture inconnue"}})
		}
	})
	e, err := c.GetEntry(context.Background(), "ecr_1")
	if err != nil || e.ID != "ecr_1" || e.Numero != "VTE-000001" {
		t.Errorf("GetEntry = %+v, %v", e, err)
	}
	e, err = c.GetEntry(context.Background(), "a/b c?d")
	if err != nil || e.ID != "a/b c?d" {
		t.Errorf("id not path-escaped: %+v, %v", e, err)
	}
	_, err = c.GetEntry(context.Background(), "ecr_missing")
	if !errors.Is(err, comptentra.ErrNotFound) {
		t.Fatalf("err = %v, want ErrNotFound", err)
	}
	if errors.Is(err, comptentra.ErrExerciceClos) || comptentra.IsTemporary(err) {
		t.Errorf("404 matches another sentinel or is temporary: %v", err)
	}
	var ae *comptentra.APIError
	if !errors.As(err, &ae) || ae.StatusCode != 404 || ae.RequestID != "req_404" {
		t.Errorf("APIError = %+v", ae)
	}
	for _, bad := range []string{"", ".", ".."} {
		if _, err := c.GetEntry(context.Background(), bad); err == nil || errors.Is(err, comptentra.ErrNotFound) {
			t.Errorf("GetEntry(%q) = %v, want a client-side error", bad, err)
		}
	}
}

func TestAPIErrorParsing(t *testing.T) {
	httpDate := time.Now().Add(90 * time.Second).UTC().Format(http.TimeFormat)
	for _, tc := range []struct {
		name       string
		status     int
		header     map[string]string
		body       string
		want       comptentra.APIError
		retryRange [2]time.Duration // when non-zero: RetryAfter within [min, max]
		wantStr    string
	}{
		{
			name:   "validation with details",
			status: 422,
			header: map[string]string{"X-Request-Id": "req_abc"},
			body:   `{"error":{"code":"compte_inconnu","message":"Compte inconnu","details":[{"field":"lignes[1].compte","issue":"999999 n'existe pas"}]}}`,
			want: comptentra.APIError{StatusCode: 422, Code: "compte_inconnu", Message: "Compte inconnu", RequestID: "req_abc",
				Details: []comptentra.FieldDetail{{Field: "lignes[1].compte", Issue: "999999 n'existe pas"}}},
			wantStr: "comptentra: 422 compte_inconnu: Compte inconnu [lignes[1].compte: 999999 n'existe pas] (request req_abc)",
		},
		{
			name:    "rate limited, Retry-After seconds",
			status:  429,
			header:  map[string]string{"X-Request-Id": "req_rl", "Retry-After": "7"},
			body:    `{"error":{"code":"rate_limited","message":"slow down"}}`,
			want:    comptentra.APIError{StatusCode: 429, Code: "rate_limited", Message: "slow down", RequestID: "req_rl", RetryAfter: 7 * time.Second},
			wantStr: "comptentra: 429 rate_limited: slow down (retry after 7s) (request req_rl)",
		},
		{
			name:       "503, Retry-After HTTP-date",
			status:     503,
			header:     map[string]string{"Retry-After": httpDate},
			body:       `{"error":{"code":"internal","message":"maintenance"}}`,
			want:       comptentra.APIError{StatusCode: 503, Code: "internal", Message: "maintenance"},
			retryRange: [2]time.Duration{80 * time.Second, 91 * time.Second},
		},
		{
			name:   "unparseable Retry-After is 0",
			status: 429,
			header: map[string]string{"Retry-After": "soon"},
			body:   `{"error":{"code":"rate_limited","message":""}}`,
			want:   comptentra.APIError{StatusCode: 429, Code: "rate_limited"},
		},
		{
			name:    "HTML 502 from a proxy",
			status:  502,
			header:  map[string]string{"Content-Type": "text/html"},
			body:    `<html><body><h1>502 Bad Gateway</h1></body></html>`,
			want:    comptentra.APIError{StatusCode: 502, Code: "http_502", Message: "Bad Gateway (text/html body)"},
			wantStr: "comptentra: 502 http_502: Bad Gateway (text/html body)",
		},
		{
			name:   "empty body",
			status: 500,
			want:   comptentra.APIError{StatusCode: 500, Code: "http_500", Message: "Internal Server Error"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, _ := newServer(t, func(w http.ResponseWriter, r *http.Request) {
				for k, v := range tc.header {
					w.Header().Set(k, v)
				}
				w.WriteHeader(tc.status)
				io.WriteString(w, tc.body)
			})
			_, err := c.Accounts(context.Background())
			wrapped := fmt.Errorf("worker: %w", err)
			var ae *comptentra.APIError
			if !errors.As(wrapped, &ae) {
				t.Fatalf("err = %T %v, want *APIError", err, err)
			}
			got := *ae
			if tc.retryRange != [2]time.Duration{} {
				if got.RetryAfter < tc.retryRange[0] || got.RetryAfter > tc.retryRange[1] {
					t.Errorf("RetryAfter = %s, want within %v", got.RetryAfter, tc.retryRange)
				}
				got.RetryAfter = 0
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("APIError = %#v\nwant %#v", got, tc.want)
			}
			if comptentra.RetryAfter(wrapped) != ae.RetryAfter {
				t.Errorf("RetryAfter(err) = %s, want %s", comptentra.RetryAfter(wrapped), ae.RetryAfter)
			}
			if tc.wantStr != "" && err.Error() != tc.wantStr {
				t.Errorf("Error() = %q\nwant %q", err.Error(), tc.wantStr)
			}
		})
	}
	if comptentra.RetryAfter(errors.New("x")) != 0 || comptentra.RetryAfter(nil) != 0 {
		t.Error("RetryAfter of a non-API error is not 0")
	}
}

func TestSentinels(t *testing.T) {
	all := map[string]error{
		comptentra.CodeNotFound:              comptentra.ErrNotFound,
		comptentra.CodeUnauthorized:          comptentra.ErrUnauthorized,
		comptentra.CodeForbiddenScope:        comptentra.ErrForbiddenScope,
		comptentra.CodeRateLimited:           comptentra.ErrRateLimited,
		comptentra.CodeExerciceClos:          comptentra.ErrExerciceClos,
		comptentra.CodeHorsExercice:          comptentra.ErrHorsExercice,
		comptentra.CodeCompteInconnu:         comptentra.ErrCompteInconnu,
		comptentra.CodeIdempotencyConflict:   comptentra.ErrIdempotencyConflict,
		comptentra.CodeIdempotencyInProgress: comptentra.ErrIdempotencyInProgress,
	}
	for code := range all {
		t.Run(code, func(t *testing.T) {
			err := fmt.Errorf("wrapped: %w", &comptentra.APIError{StatusCode: 422, Code: code})
			for otherCode, sentinel := range all {
				if got, want := errors.Is(err, sentinel), otherCode == code; got != want {
					t.Errorf("errors.Is(%s, Err(%s)) = %v, want %v", code, otherCode, got, want)
				}
			}
		})
	}
	if errors.Is(&comptentra.APIError{StatusCode: 404, Code: "http_404"}, comptentra.ErrNotFound) {
		t.Error("a body-less 404 (wrong base URL?) must not read as not_found")
	}
}

func TestTemporaryClassification(t *testing.T) {
	statusCases := []struct {
		status int
		code   string
		html   bool
		want   bool
	}{
		{401, comptentra.CodeUnauthorized, false, false},
		{403, comptentra.CodeForbiddenScope, false, false},
		{404, comptentra.CodeNotFound, false, false},
		{409, comptentra.CodeIdempotencyConflict, false, false},
		{409, comptentra.CodeIdempotencyInProgress, false, true},
		{413, comptentra.CodePayloadTooLarge, false, false},
		{422, comptentra.CodeDesequilibre, false, false},
		{429, comptentra.CodeRateLimited, false, true},
		{500, comptentra.CodeInternal, false, true},
		{502, comptentra.CodeInternal, false, true},
		{503, comptentra.CodeInternal, false, true},
		{502, "", true, true},
		{400, "", true, false},
	}
	for _, tc := range statusCases {
		t.Run(fmt.Sprintf("%d %s html=%v", tc.status, tc.code, tc.html), func(t *testing.T) {
			c, _ := newServer(t, func(w http.ResponseWriter, r *http.Request) {
				if tc.html {
					w.Header().Set("Content-Type", "text/html")
					w.WriteHeader(tc.status)
					io.WriteString(w, "<html>oops</html>")
					return
				}
				writeErr(w, tc.status, tc.code, "m")
			})
			_, _, err := c.CreateEntry(context.Background(), sampleEntry, "k1")
			var ae *comptentra.APIError
			if !errors.As(err, &ae) || ae.StatusCode != tc.status {
				t.Fatalf("err = %v", err)
			}
			if got := comptentra.IsTemporary(err); got != tc.want {
				t.Errorf("IsTemporary = %v, want %v (%v)", got, tc.want, err)
			}
			if got := ae.Temporary(); got != tc.want {
				t.Errorf("Temporary() = %v, want %v", got, tc.want)
			}
			if got := comptentra.IsTemporary(fmt.Errorf("wrapped: %w", err)); got != tc.want {
				t.Errorf("IsTemporary(wrapped) = %v, want %v", got, tc.want)
			}
		})
	}

	t.Run("connection refused", func(t *testing.T) {
		c := refusedClient(t)
		_, err := c.FindTiers(context.Background(), "jeanne@example.com", "cus_Q1")
		if err == nil || !comptentra.IsTemporary(err) {
			t.Errorf("IsTemporary(%v) = false, want true", err)
		}
		// The query (a customer's email) stays out of error strings and logs.
		if s := err.Error(); strings.Contains(s, "jeanne") || !strings.Contains(s, "GET /tiers") {
			t.Errorf("err = %q, want the route without its query", s)
		}
	})
	t.Run("connection dropped mid-body", func(t *testing.T) {
		c, _ := newServer(t, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", "1000")
			w.WriteHeader(200)
			io.WriteString(w, `{"data":[`)
			w.(http.Flusher).Flush()
			panic(http.ErrAbortHandler)
		})
		_, err := c.Accounts(context.Background())
		if err == nil || !comptentra.IsTemporary(err) || !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("err = %v, want temporary io.ErrUnexpectedEOF", err)
		}
	})
	t.Run("per-call timeout", func(t *testing.T) {
		c, _ := newServer(t, blockUntilCancelled, comptentra.WithTimeout(50*time.Millisecond))
		_, err := c.FiscalYears(context.Background())
		if err == nil || !comptentra.IsTemporary(err) {
			t.Fatalf("IsTemporary(%v) = false, want true", err)
		}
		if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, comptentra.ErrCallTimeout) {
			t.Errorf("err = %v, want DeadlineExceeded and ErrCallTimeout", err)
		}
		var te *comptentra.TransportError
		if !errors.As(err, &te) || !te.Timeout() {
			t.Errorf("not a timeout TransportError: %#v", err)
		}
	})
	t.Run("per-call timeout while reading the body", func(t *testing.T) {
		c, _ := newServer(t, func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(200)
			io.WriteString(w, `{"data":[`)
			w.(http.Flusher).Flush()
			<-r.Context().Done()
		}, comptentra.WithTimeout(50*time.Millisecond))
		_, err := c.Accounts(context.Background())
		if !comptentra.IsTemporary(err) || !errors.Is(err, comptentra.ErrCallTimeout) {
			t.Errorf("err = %v, want temporary per-call timeout", err)
		}
	})
	t.Run("caller cancel", func(t *testing.T) {
		c, _ := newServer(t, blockUntilCancelled)
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(50*time.Millisecond, cancel)
		_, err := c.FiscalYears(ctx)
		if err == nil || comptentra.IsTemporary(err) || !errors.Is(err, context.Canceled) {
			t.Errorf("err = %v (temporary %v), want non-temporary context.Canceled", err, comptentra.IsTemporary(err))
		}
	})
	t.Run("caller deadline", func(t *testing.T) {
		c, _ := newServer(t, blockUntilCancelled)
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		_, err := c.FiscalYears(ctx)
		if err == nil || comptentra.IsTemporary(err) || !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, comptentra.ErrCallTimeout) {
			t.Errorf("err = %v, want non-temporary caller DeadlineExceeded", err)
		}
	})
	t.Run("foreign errors", func(t *testing.T) {
		for _, tc := range []struct {
			err  error
			want bool
		}{
			{nil, false},
			{errors.New("plain"), false},
			{context.Canceled, false},
			{context.DeadlineExceeded, false},
			{fmt.Errorf("read: %w", io.ErrUnexpectedEOF), true},
			{&net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}, true},
		} {
			if got := comptentra.IsTemporary(tc.err); got != tc.want {
				t.Errorf("IsTemporary(%v) = %v, want %v", tc.err, got, tc.want)
			}
		}
	})
}

// refusedClient points at a port nothing listens on.
func refusedClient(t *testing.T) *comptentra.Client {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	c, err := comptentra.NewClient("http://"+addr+"/api/v1", testKey)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func blockUntilCancelled(w http.ResponseWriter, r *http.Request) {
	// The server notices a client going away only once the body is consumed.
	_, _ = io.Copy(io.Discard, r.Body)
	select {
	case <-r.Context().Done():
	case <-time.After(10 * time.Second):
	}
}

func TestContextCancellationHonoured(t *testing.T) {
	t.Run("cancel mid-call returns promptly", func(t *testing.T) {
		c, _ := newServer(t, blockUntilCancelled) // default 15s per-call timeout
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(50*time.Millisecond, cancel)
		start := time.Now()
		_, _, err := c.CreateEntry(ctx, sampleEntry, "k")
		if !errors.Is(err, context.Canceled) {
			t.Errorf("err = %v", err)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("returned after %s", d)
		}
	})
	t.Run("already cancelled sends nothing", func(t *testing.T) {
		var calls atomic.Int32
		c, _ := newServer(t, func(w http.ResponseWriter, r *http.Request) { calls.Add(1) })
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		for name, call := range map[string]func() error{
			"CreateEntry": func() error { _, _, err := c.CreateEntry(ctx, sampleEntry, ""); return err },
			"ListEntries": func() error { _, err := c.ListEntries(ctx, comptentra.ListEntriesParams{}); return err },
			"GetEntry":    func() error { _, err := c.GetEntry(ctx, "x"); return err },
			"FiscalYears": func() error { _, err := c.FiscalYears(ctx); return err },
			"Accounts":    func() error { _, err := c.Accounts(ctx); return err },
			"FindTiers":   func() error { _, err := c.FindTiers(ctx, "a@b.c", ""); return err },
			"Entries": func() error {
				for _, err := range c.Entries(ctx, comptentra.ListEntriesParams{}) {
					return err
				}
				return nil
			},
		} {
			if err := call(); !errors.Is(err, context.Canceled) || comptentra.IsTemporary(err) {
				t.Errorf("%s: err = %v", name, err)
			}
		}
		if calls.Load() != 0 {
			t.Errorf("%d requests sent with a cancelled context", calls.Load())
		}
	})
}

func TestReadEndpointsDecode(t *testing.T) {
	c, _ := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet {
			t.Errorf("method %s", r.Method)
		}
		switch r.URL.Path {
		case "/api/v1/exercices":
			io.WriteString(w, `{"data":[{"id":"ex_2025","date_debut":"2025-01-01","date_fin":"2025-12-31","statut":"clos"},
				{"id":"ex_2026","date_debut":"2026-01-01","date_fin":"2026-12-31","statut":"ouvert"}]}`)
		case "/api/v1/comptes":
			io.WriteString(w, `{"data":[{"numero":"411000","libelle":"Clients"},{"numero":"707000","libelle":"Ventes de marchandises"}]}`)
		case "/api/v1/tiers":
			q := r.URL.Query()
			switch {
			case reflect.DeepEqual(q, url.Values{"email": {"jeanne+stripe@example.com"}, "ref": {"cus_Q1"}}):
				io.WriteString(w, `{"data":[{"id":"tie_1","nom":"Jeanne Client","email":"jeanne+stripe@example.com","ref":"cus_Q1","compte_auxiliaire":"411CUS_Q1"}]}`)
			case reflect.DeepEqual(q, url.Values{"ref": {"cus_none"}}):
				io.WriteString(w, `{"data":[]}`)
			default:
				t.Errorf("tiers query %q", r.URL.RawQuery)
				writeErr(w, 400, "bad", "")
			}
		default:
			t.Errorf("path %s", r.URL.Path)
		}
	})
	ctx := context.Background()
	fy, err := c.FiscalYears(ctx)
	if want := []comptentra.FiscalYear{
		{ID: "ex_2025", DateDebut: "2025-01-01", DateFin: "2025-12-31", Statut: comptentra.StatutClos},
		{ID: "ex_2026", DateDebut: "2026-01-01", DateFin: "2026-12-31", Statut: comptentra.StatutOuvert},
	}; err != nil || !reflect.DeepEqual(fy, want) {
		t.Errorf("FiscalYears = %+v, %v", fy, err)
	}
	acc, err := c.Accounts(ctx)
	if want := []comptentra.Account{{"411000", "Clients"}, {"707000", "Ventes de marchandises"}}; err != nil || !reflect.DeepEqual(acc, want) {
		t.Errorf("Accounts = %+v, %v", acc, err)
	}
	tiers, err := c.FindTiers(ctx, "jeanne+stripe@example.com", "cus_Q1")
	if want := []comptentra.Tiers{{ID: "tie_1", Nom: "Jeanne Client", Email: "jeanne+stripe@example.com", Ref: "cus_Q1", CompteAuxiliaire: "411CUS_Q1"}}; err != nil || !reflect.DeepEqual(tiers, want) {
		t.Errorf("FindTiers = %+v, %v", tiers, err)
	}
	tiers, err = c.FindTiers(ctx, "", "cus_none")
	if err != nil || tiers == nil || len(tiers) != 0 {
		t.Errorf("FindTiers(no match) = %#v, %v; want empty non-nil slice", tiers, err)
	}
}

func TestDecodeAndSizeLimits(t *testing.T) {
	t.Run("invalid JSON on 2xx", func(t *testing.T) {
		c, _ := newServer(t, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set(comptentra.HeaderRequestID, "req_bad")
			io.WriteString(w, `{"data": nope}`)
		})
		_, err := c.Accounts(context.Background())
		var de *comptentra.DecodeError
		if !errors.As(err, &de) || de.RequestID != "req_bad" || comptentra.IsTemporary(err) {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("body over 4 MiB", func(t *testing.T) {
		c, _ := newServer(t, func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, `{"data":[{"numero":"`)
			io.WriteString(w, strings.Repeat("9", comptentra.MaxResponseBytes))
			io.WriteString(w, `","libelle":"x"}]}`)
		})
		_, err := c.Accounts(context.Background())
		if err == nil || !strings.Contains(err.Error(), "exceeds") {
			t.Errorf("err = %v, want a size error", err)
		}
	})
	t.Run("redirects are not followed", func(t *testing.T) {
		var leaked atomic.Int32
		other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			leaked.Add(1)
			io.WriteString(w, `{"data":[]}`)
		}))
		defer other.Close()
		c, _ := newServer(t, func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, other.URL+"/api/v1/comptes", http.StatusTemporaryRedirect)
		})
		_, err := c.Accounts(context.Background())
		var ae *comptentra.APIError
		if !errors.As(err, &ae) || ae.StatusCode != 307 || comptentra.IsTemporary(err) {
			t.Errorf("err = %v", err)
		}
		if leaked.Load() != 0 {
			t.Error("redirect followed: the key went to another host")
		}
	})
}

func TestNewClientValidation(t *testing.T) {
	for _, tc := range []struct {
		base, key string
		ok        bool
	}{
		{"https://app.comptentra.servolution.fr/api/v1", "k", true},
		{"http://localhost:8090", "k", true},
		{"http://localhost:8090/api/v1/", "k", true},
		{"", "k", false},
		{"app.comptentra.fr/api/v1", "k", false},
		{"/api/v1", "k", false},
		{"ftp://host/api", "k", false},
		{"http://", "k", false},
		{"http://user:pw@host/api", "k", false},
		{"http://host/api?x=1", "k", false},
		{"http://host/api#frag", "k", false},
		{"http://host/%zz", "k", false},
		{"http://host/api", "", false},
		{"http://host/api", "k\r\nX-Evil: 1", false},
	} {
		t.Run(tc.base+"|"+strconv.Quote(tc.key), func(t *testing.T) {
			c, err := comptentra.NewClient(tc.base, tc.key)
			if (err == nil) != tc.ok || (c != nil) != tc.ok {
				t.Errorf("NewClient = %v, %v; want ok=%v", c, err, tc.ok)
			}
		})
	}
	t.Run("trailing slash and default timeout", func(t *testing.T) {
		var path string
		c, _ := newServer(t, func(w http.ResponseWriter, r *http.Request) {
			path = r.URL.Path
			io.WriteString(w, `{"data":[]}`)
		})
		c2, err := comptentra.NewClient(strings.TrimSuffix(c.BaseURL(), "/api/v1")+"/api/v1/", testKey, comptentra.WithTimeout(0), nil, comptentra.WithHTTPClient(nil), comptentra.WithUserAgent(""))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c2.Accounts(context.Background()); err != nil || path != "/api/v1/comptes" {
			t.Errorf("path = %q, err = %v", path, err)
		}
	})
	t.Run("caller's http.Client is not mutated", func(t *testing.T) {
		hc := &http.Client{}
		if _, err := comptentra.NewClient("http://h", "k", comptentra.WithHTTPClient(hc)); err != nil {
			t.Fatal(err)
		}
		if hc.CheckRedirect != nil {
			t.Error("NewClient changed the caller's http.Client")
		}
	})
}
