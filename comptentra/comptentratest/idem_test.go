package comptentratest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/servolution/stripe-comptentra-sync/comptentra"
)

func TestIdempotency(t *testing.T) {
	const hdr = comptentra.HeaderIdempotencyKey
	t.Run("replay", func(t *testing.T) {
		s, c := newTest(t)
		first := post(t, s, sale(), hdr, "ch_1:sale")
		wantStatus(t, first, 201, "")
		if first.header.Get(comptentra.HeaderIdempotentReplayed) != "" {
			t.Error("first response marked replayed")
		}
		c.Add(23 * time.Hour)
		// Same body with another key order and spacing: still the same request.
		b, _ := json.MarshalIndent(sale(), "", "    ")
		again := post(t, s, b, hdr, "ch_1:sale")
		wantStatus(t, again, 201, "")
		if again.header.Get(comptentra.HeaderIdempotentReplayed) != "true" || string(again.body) != string(first.body) {
			t.Errorf("replay: header %q, body\n%s\nwant\n%s", again.header.Get(comptentra.HeaderIdempotentReplayed), again.body, first.body)
		}
		if n := len(s.Entries()); n != 1 {
			t.Errorf("%d entries after a replay", n)
		}
		if st := s.Stats(); st.IdempotentReplays != 1 || st.EntriesCreated != 1 {
			t.Errorf("stats %+v", st)
		}
		// Another key is another entry.
		wantStatus(t, post(t, s, sale(), hdr, "ch_2:sale"), 201, "")
		if n := len(s.Entries()); n != 2 {
			t.Errorf("%d entries", n)
		}
	})
	t.Run("expires after 24h", func(t *testing.T) {
		s, c := newTest(t)
		wantStatus(t, post(t, s, sale(), hdr, "k"), 201, "")
		c.Add(24 * time.Hour)
		r := post(t, s, sale(), hdr, "k")
		wantStatus(t, r, 201, "")
		if r.header.Get(comptentra.HeaderIdempotentReplayed) != "" || len(s.Entries()) != 2 {
			t.Errorf("key still honoured after 24 h (%d entries)", len(s.Entries()))
		}
	})
	t.Run("conflict", func(t *testing.T) {
		s, _ := newTest(t)
		wantStatus(t, post(t, s, sale(), hdr, "k"), 201, "")
		other := sale()
		other.Libelle = "autre"
		wantStatus(t, post(t, s, other, hdr, "k"), 409, comptentra.CodeIdempotencyConflict)
		// An invalid different body conflicts too (the key is taken).
		other.Lignes = nil
		wantStatus(t, post(t, s, other, hdr, "k"), 409, comptentra.CodeIdempotencyConflict)
		if n := len(s.Entries()); n != 1 {
			t.Errorf("%d entries", n)
		}
	})
	t.Run("failed then retried", func(t *testing.T) {
		s, _ := newTest(t)
		bad := sale()
		bad.Lignes[1].Compte = "707999"
		wantStatus(t, post(t, s, bad, hdr, "k"), 422, comptentra.CodeCompteInconnu)
		// The same invalid request is processed afresh (not replayed).
		r := post(t, s, bad, hdr, "k")
		wantStatus(t, r, 422, comptentra.CodeCompteInconnu)
		if r.header.Get(comptentra.HeaderIdempotentReplayed) != "" {
			t.Error("a 422 was replayed")
		}
		// The corrected request reuses the key.
		wantStatus(t, post(t, s, sale(), hdr, "k"), 201, "")
		if n := len(s.Entries()); n != 1 {
			t.Errorf("%d entries", n)
		}
	})
	t.Run("in progress", func(t *testing.T) {
		s, _ := newTest(t)
		entered, release := make(chan struct{}), make(chan struct{})
		var first atomic.Bool
		s.beforeProcess = func() {
			if first.CompareAndSwap(false, true) {
				close(entered)
				<-release
			}
		}
		done := make(chan resp)
		go func() { done <- post(t, s, sale(), hdr, "k") }()
		<-entered
		wantStatus(t, post(t, s, sale(), hdr, "k"), 409, comptentra.CodeIdempotencyInProgress)
		other := sale()
		other.Libelle = "autre"
		wantStatus(t, post(t, s, other, hdr, "k"), 409, comptentra.CodeIdempotencyConflict)
		wantStatus(t, post(t, s, sale(), hdr, "other-key"), 201, "") // other keys are not blocked
		close(release)
		wantStatus(t, <-done, 201, "")
		r := post(t, s, sale(), hdr, "k")
		if r.status != 201 || r.header.Get(comptentra.HeaderIdempotentReplayed) != "true" {
			t.Errorf("after completion: %d %q", r.status, r.header.Get(comptentra.HeaderIdempotentReplayed))
		}
		if n := len(s.Entries()); n != 2 {
			t.Errorf("%d entries", n)
		}
	})
	t.Run("key too long", func(t *testing.T) {
		s, _ := newTest(t)
		wantStatus(t, post(t, s, sale(), hdr, strings.Repeat("k", 256)), 400, CodeIdempotencyKeyInvalide)
		wantStatus(t, post(t, s, sale(), hdr, strings.Repeat("k", 255)), 201, "")
	})
	t.Run("scoped per API key", func(t *testing.T) {
		s, _ := newTest(t)
		wantStatus(t, post(t, s, sale(), hdr, "k"), 201, "")
		s.mu.Lock()
		n := len(s.ledger.idem)
		_, ok := s.ledger.idem[idemMapKey(scopeOf(testKey), "k")]
		s.mu.Unlock()
		if n != 1 || !ok {
			t.Errorf("record not stored under the key's scope")
		}
	})
	t.Run("disabled", func(t *testing.T) {
		s, _ := newTest(t, func(o *Options) { o.DisableIdempotency = true })
		wantStatus(t, post(t, s, sale(), hdr, "k"), 201, "")
		r := post(t, s, sale(), hdr, "k")
		wantStatus(t, r, 201, "")
		if r.header.Get(comptentra.HeaderIdempotentReplayed) != "" || len(s.Entries()) != 2 {
			t.Error("key honoured although disabled")
		}
		// Even an over-long key is ignored.
		wantStatus(t, post(t, s, sale(), hdr, strings.Repeat("k", 300)), 201, "")
		// Switched back on at runtime through the control endpoint.
		r = call(t, s, http.MethodPost, "/_sandbox/idempotency", "", `{"enabled": true}`)
		if r.status != 200 || !s.IdempotencyEnabled() {
			t.Fatalf("toggle: %d %s", r.status, r.body)
		}
		wantStatus(t, post(t, s, sale(), hdr, "k2"), 201, "")
		r = post(t, s, sale(), hdr, "k2")
		if r.header.Get(comptentra.HeaderIdempotentReplayed) != "true" || len(s.Entries()) != 4 {
			t.Errorf("key not honoured once enabled (%d entries)", len(s.Entries()))
		}
		r = call(t, s, http.MethodPost, "/_sandbox/idempotency", "", `{"enabled": false}`)
		if r.status != 200 || s.IdempotencyEnabled() {
			t.Fatalf("toggle off: %d %s", r.status, r.body)
		}
		wantStatus(t, call(t, s, http.MethodPost, "/_sandbox/idempotency", "", `{}`), 422, CodeParametreInvalide)
		wantStatus(t, call(t, s, http.MethodPost, "/_sandbox/idempotency", "", `{"enabled":"no"}`), 400, comptentra.CodeJSONInvalide)
		s.SetDisableIdempotency(false)
		if !s.IdempotencyEnabled() {
			t.Error("SetDisableIdempotency(false)")
		}
	})
}

func TestFaults(t *testing.T) {
	t.Run("error rate 1", func(t *testing.T) {
		s, _ := newTest(t)
		if err := s.SetFaults(Faults{ErrorRate: 1}); err != nil {
			t.Fatal(err)
		}
		for _, p := range []string{"/ecritures", "/comptes", "/exercices"} {
			wantStatus(t, call(t, s, http.MethodGet, p, testKey, nil), 503, comptentra.CodeInternal)
		}
		wantStatus(t, post(t, s, sale()), 503, comptentra.CodeInternal)
		if len(s.Entries()) != 0 {
			t.Error("entry stored behind an injected error")
		}
		// Sandbox controls are not affected.
		if r := call(t, s, http.MethodGet, "/_sandbox/stats", "", nil); r.status != 200 {
			t.Errorf("stats: %d", r.status)
		}
		_ = s.SetFaults(Faults{ErrorRate: 1, ErrorStatus: 500})
		wantStatus(t, call(t, s, http.MethodGet, "/comptes", testKey, nil), 500, comptentra.CodeInternal)
		s.ClearFaults()
		wantStatus(t, call(t, s, http.MethodGet, "/comptes", testKey, nil), 200, "")
		if st := s.Stats(); st.FaultsInjected != 5 || st.Rejections[comptentra.CodeInternal] != 5 {
			t.Errorf("stats %+v", st)
		}
	})
	t.Run("rate limit", func(t *testing.T) {
		s, _ := newTest(t)
		_ = s.SetFaults(Faults{RateLimitRate: 1, RetryAfterS: 7, ErrorRate: 1})
		r := post(t, s, sale())
		wantStatus(t, r, 429, comptentra.CodeRateLimited) // rate limiting comes before errors
		if r.header.Get(comptentra.HeaderRetryAfter) != "7" {
			t.Errorf("Retry-After %q", r.header.Get(comptentra.HeaderRetryAfter))
		}
		_ = s.SetFaults(Faults{RateLimitRate: 1})
		if r := call(t, s, http.MethodGet, "/comptes", testKey, nil); r.status != 429 || r.header.Get(comptentra.HeaderRetryAfter) != "1" {
			t.Errorf("default Retry-After: %d %q", r.status, r.header.Get(comptentra.HeaderRetryAfter))
		}
	})
	t.Run("commit then fail", func(t *testing.T) {
		s, _ := newTest(t)
		_ = s.SetFaults(Faults{CommitThenFailRate: 1})
		wantStatus(t, post(t, s, sale(), comptentra.HeaderIdempotencyKey, "k"), 502, comptentra.CodeInternal)
		if n := len(s.Entries()); n != 1 {
			t.Fatalf("%d entries stored, want 1", n)
		}
		// Validation errors are not turned into 502.
		bad := sale()
		bad.Journal = "X"
		wantStatus(t, post(t, s, bad), 422, comptentra.CodeJournalInconnu)
		s.ClearFaults()
		// The retry with the same key gets the original 201, without a second entry.
		r := post(t, s, sale(), comptentra.HeaderIdempotencyKey, "k")
		wantStatus(t, r, 201, "")
		if r.header.Get(comptentra.HeaderIdempotentReplayed) != "true" || r.entry(t).ID != s.Entries()[0].ID || len(s.Entries()) != 1 {
			t.Errorf("retry after commit-then-fail: replayed=%q entries=%d", r.header.Get(comptentra.HeaderIdempotentReplayed), len(s.Entries()))
		}
		// Without a key the naive retry posts twice: exactly what the fault exists to expose.
		_ = s.SetFaults(Faults{CommitThenFailRate: 1})
		post(t, s, sale())
		s.ClearFaults()
		post(t, s, sale())
		if n := len(s.Entries()); n != 3 {
			t.Errorf("%d entries", n)
		}
	})
	t.Run("latency", func(t *testing.T) {
		s, _ := newTest(t)
		_ = s.SetFaults(Faults{LatencyMS: 150})
		start := time.Now()
		wantStatus(t, call(t, s, http.MethodGet, "/comptes", testKey, nil), 200, "")
		if d := time.Since(start); d < 150*time.Millisecond {
			t.Errorf("answered in %v", d)
		}
		start = time.Now()
		call(t, s, http.MethodGet, "/_sandbox/stats", "", nil)
		if d := time.Since(start); d > 100*time.Millisecond {
			t.Errorf("sandbox control delayed %v", d)
		}
	})
	t.Run("seeded rates are reproducible", func(t *testing.T) {
		pattern := func(seed int64) string {
			s, _ := newTest(t, func(o *Options) { o.Seed = seed })
			_ = s.SetFaults(Faults{ErrorRate: 0.5})
			var b strings.Builder
			for i := 0; i < 40; i++ {
				fmt.Fprint(&b, call(t, s, http.MethodGet, "/comptes", testKey, nil).status/100)
			}
			return b.String()
		}
		a, b, c := pattern(7), pattern(7), pattern(8)
		if a != b {
			t.Errorf("same seed, different faults:\n%s\n%s", a, b)
		}
		if !strings.Contains(a, "2") || !strings.Contains(a, "5") || a == c {
			t.Errorf("rate 0.5 gave %s (seed 8: %s)", a, c)
		}
	})
	t.Run("control endpoint", func(t *testing.T) {
		s, _ := newTest(t)
		r := call(t, s, http.MethodPost, "/_sandbox/faults", "", `{"error_rate": 0.3, "error_status": 502, "rate_limit_rate": 0.1, "retry_after_s": 2, "latency_ms": 5, "commit_then_fail_rate": 0.05}`)
		if r.status != 200 {
			t.Fatalf("%d %s", r.status, r.body)
		}
		want := Faults{ErrorRate: 0.3, ErrorStatus: 502, RateLimitRate: 0.1, RetryAfterS: 2, LatencyMS: 5, CommitThenFailRate: 0.05}
		if s.Faults() != want {
			t.Errorf("faults %+v", s.Faults())
		}
		var got Faults
		if err := json.Unmarshal(call(t, s, http.MethodGet, "/_sandbox/faults", "", nil).body, &got); err != nil || got != want {
			t.Errorf("GET faults %+v %v", got, err)
		}
		bad := []string{
			`{"error_rate": 1.5}`, `{"error_rate": -0.1}`, `{"rate_limit_rate": 2}`, `{"commit_then_fail_rate": -1}`,
			`{"error_status": 404}`, `{"error_status": 600}`, `{"latency_ms": -1}`, `{"retry_after_s": -1}`,
		}
		for _, b := range bad {
			wantStatus(t, call(t, s, http.MethodPost, "/_sandbox/faults", "", b), 422, CodeParametreInvalide)
		}
		wantStatus(t, call(t, s, http.MethodPost, "/_sandbox/faults", "", `{"eror_rate": 1}`), 400, comptentra.CodeJSONInvalide)
		wantStatus(t, call(t, s, http.MethodPost, "/_sandbox/faults", "", `{"error_rate": "1"}`), 400, comptentra.CodeJSONInvalide)
		if s.Faults() != want {
			t.Errorf("invalid faults changed the faults: %+v", s.Faults())
		}
		if r := call(t, s, http.MethodDelete, "/_sandbox/faults", "", nil); r.status != 200 || s.Faults() != (Faults{}) {
			t.Errorf("DELETE: %d %+v", r.status, s.Faults())
		}
		wantStatus(t, call(t, s, http.MethodPut, "/_sandbox/faults", "", nil), 405, comptentra.CodeMethodNotAllowed)
		if err := s.SetFaults(Faults{ErrorRate: 2}); err == nil {
			t.Error("SetFaults accepted error_rate 2")
		}
	})
}

func TestResetAndStats(t *testing.T) {
	s, _ := newTest(t)
	post(t, s, sale(), comptentra.HeaderIdempotencyKey, "k")
	post(t, s, sale(), comptentra.HeaderIdempotencyKey, "k")
	bad := sale()
	bad.Date = "2025-06-01"
	post(t, s, bad)
	call(t, s, http.MethodGet, "/ecritures", "", nil)
	call(t, s, http.MethodGet, "/ecritures", testKey, nil)

	var st Stats
	r := call(t, s, http.MethodGet, "/_sandbox/stats", "", nil)
	if err := json.Unmarshal(r.body, &st); err != nil {
		t.Fatal(err)
	}
	want := Stats{Requests: 5, EntriesCreated: 1, IdempotentReplays: 1, Entries: 1,
		Rejections: map[string]int64{comptentra.CodeExerciceClos: 1, comptentra.CodeUnauthorized: 1}}
	if fmt.Sprint(st) != fmt.Sprint(want) {
		t.Errorf("stats %+v, want %+v", st, want)
	}
	for _, k := range []string{`"requests"`, `"entries_created"`, `"idempotent_replays"`, `"rejections"`} {
		if !strings.Contains(string(r.body), k) {
			t.Errorf("stats JSON lacks %s: %s", k, r.body)
		}
	}
	var ents struct{ Data []comptentra.Entry }
	if err := json.Unmarshal(call(t, s, http.MethodGet, "/_sandbox/entries", "", nil).body, &ents); err != nil || len(ents.Data) != 1 {
		t.Errorf("entries %v %v", ents, err)
	}

	_ = s.SetFaults(Faults{LatencyMS: 1})
	if r := call(t, s, http.MethodPost, "/_sandbox/reset", "", nil); r.status != 200 {
		t.Fatalf("reset %d", r.status)
	}
	wantStatus(t, call(t, s, http.MethodGet, "/_sandbox/reset", "", nil), 405, comptentra.CodeMethodNotAllowed)
	if st := s.Stats(); st.Requests != 0 || st.Entries != 0 || len(st.Rejections) != 0 || len(s.Tiers()) != 0 {
		t.Errorf("after reset: %+v, %d tiers", st, len(s.Tiers()))
	}
	if s.Faults().LatencyMS != 1 {
		t.Error("reset cleared the faults")
	}
	// Numbering and idempotency restart.
	r = post(t, s, sale(), comptentra.HeaderIdempotencyKey, "k")
	if r.status != 201 || r.header.Get(comptentra.HeaderIdempotentReplayed) != "" || r.entry(t).Numero != "VTE-000001" {
		t.Errorf("after reset: %d %s", r.status, short(r.body))
	}
}
