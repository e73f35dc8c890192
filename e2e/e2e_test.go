// Package e2e tests the whole pipeline in one process: signed Stripe events posted to
// ingest over HTTP, queued in Redis, booked by the worker into the Comptentra sandbox.
package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/servolution/stripe-comptentra-sync/comptentra"
	"github.com/servolution/stripe-comptentra-sync/comptentra/comptentratest"
	"github.com/servolution/stripe-comptentra-sync/eventtask"
	"github.com/servolution/stripe-comptentra-sync/ingest"
	"github.com/servolution/stripe-comptentra-sync/internal/redistest"
	"github.com/servolution/stripe-comptentra-sync/internal/stripeevent"
	"github.com/servolution/stripe-comptentra-sync/ledger"
	"github.com/servolution/stripe-comptentra-sync/worker"
)

const secret = "whsec_e2e_test_secret"

// stack is sandbox + ingest + worker on one test's Redis.
type stack struct {
	sandbox *comptentratest.Server
	ingest  *httptest.Server
	insp    *asynq.Inspector
}

// newStack starts it; api, when not nil, is the worker's Stripe API (fees, settlements).
func newStack(tb testing.TB, redisURL, queue, prefix string, api worker.StripeAPI) *stack {
	tb.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if os.Getenv("PROPERTY_LOG") != "" { // PROPERTY_LOG=1: the worker's warnings and errors on stderr
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	sb := comptentratest.NewServer(tb, comptentratest.Options{FiscalYears: []comptentra.FiscalYear{
		{ID: "ex_2025", DateDebut: "2025-01-01", DateFin: "2025-12-31", Statut: comptentra.StatutClos},
		{ID: "ex_2026", DateDebut: "2026-01-01", DateFin: "2026-12-31", Statut: comptentra.StatutOuvert},
	}})
	opt, err := asynq.ParseRedisURI(redisURL)
	if err != nil {
		tb.Fatal(err)
	}
	ropt, _ := redis.ParseURL(redisURL)
	rdb := redis.NewClient(ropt)
	client := asynq.NewClient(opt)
	insp := asynq.NewInspector(opt)
	in, err := ingest.New(ingest.Config{Secrets: []string{secret}, Enqueue: eventtask.Options{Queue: queue}, Logger: log},
		client, func(ctx context.Context) error { return rdb.Ping(ctx).Err() })
	if err != nil {
		tb.Fatal(err)
	}
	srv := httptest.NewServer(in.Handler())

	books, err := comptentra.NewClient(sb.URL(), sb.APIKey())
	if err != nil {
		tb.Fatal(err)
	}
	w, err := worker.New(worker.Config{
		Rules: ledger.DefaultRules(), Queue: queue, KeyPrefix: prefix, Concurrency: 10,
		TaskTimeout: 10 * time.Second, ShutdownTimeout: 15 * time.Second,
		RetryBase: 50 * time.Millisecond, RetryMax: 500 * time.Millisecond, Logger: log,
		Stripe: api,
	}, opt, rdb, books)
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { w.Run(ctx); close(done) }()
	tb.Cleanup(func() {
		cancel()
		<-done
		srv.Close()
		client.Close()
		insp.Close()
		rdb.Close()
	})
	return &stack{sandbox: sb, ingest: srv, insp: insp}
}

// post signs body like Stripe and posts it to ingest.
func (s *stack) post(tb testing.TB, body []byte, sig string) (int, string) {
	tb.Helper()
	req, _ := http.NewRequest(http.MethodPost, s.ingest.URL+"/stripe-webhook", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if sig != "" {
		req.Header.Set("Stripe-Signature", sig)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func (s *stack) send(tb testing.TB, e stripeevent.Event) {
	tb.Helper()
	body := e.JSON()
	if code, answer := s.post(tb, body, ingest.SignPayload(body, secret, time.Now())); code != http.StatusOK {
		tb.Fatalf("%s %s: ingest answered %d %s", e.ID, e.Type, code, answer)
	}
}

func (s *stack) waitIdle(tb testing.TB, queue string, timeout time.Duration) {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	for {
		info, err := s.insp.GetQueueInfo(queue)
		if err == nil && info.Pending+info.Active+info.Scheduled+info.Retry == 0 {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("queue %s not idle after %s: %+v %v", queue, timeout, info, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

type saleLine struct {
	Compte        string
	Debit, Credit int64
	TiersRef      string
	TiersEmail    string
}

func TestEndToEnd(t *testing.T) {
	r := redistest.New(t)
	s := newStack(t, r.URL, r.Queue, r.Prefix, nil)
	rng := rand.New(rand.NewPCG(2026, 3))

	const n = 40
	var charges []stripeevent.Charge
	var events []stripeevent.Event
	for i := 0; i < n; i++ {
		// Spread over the year, including the New Year's Eve that is already 2026 in Paris.
		created := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(rng.IntN(300*24)) * time.Hour).Add(time.Duration(rng.IntN(3600)) * time.Second)
		if i == 0 {
			created = time.Date(2025, 12, 31, 23, 30, 0, 0, time.UTC)
		}
		c := stripeevent.Charge{
			ID: fmt.Sprintf("ch_e2e%03d", i), Amount: int64(50 + rng.IntN(500000)), Currency: "eur", Captured: true,
			Created: created, Customer: fmt.Sprintf("cus_e2e%03d", i), Email: fmt.Sprintf("client%d@example.com", i),
			BalanceTransaction: fmt.Sprintf("txn_e2e%03d", i),
		}
		charges = append(charges, c)
		evt := c.Succeeded(created)
		deliveries := 1 + rng.IntN(3)
		for d := 0; d < deliveries; d++ {
			events = append(events, evt)
		}
		if i%3 == 0 {
			events = append(events, c.CapturedEvent(created.Add(time.Minute)))
		}
	}
	rng.Shuffle(len(events), func(i, j int) { events[i], events[j] = events[j], events[i] })
	for _, e := range events {
		s.send(t, e)
	}

	// A bad signature gets 400 and leaves no trace.
	bad := charges[0]
	bad.ID = "ch_forged"
	forgedEvt := bad.Succeeded(time.Now())
	forged := forgedEvt.JSON()
	if code, answer := s.post(t, forged, ingest.SignPayload(forged, "whsec_wrong", time.Now())); code != http.StatusBadRequest {
		t.Errorf("wrong secret: %d %s, want 400", code, answer)
	}
	if code, _ := s.post(t, forged, ""); code != http.StatusBadRequest {
		t.Errorf("no signature: %d, want 400", code)
	}
	// An unhandled type gets 200 and nothing is queued.
	unhandled := stripeevent.Event{ID: "evt_customer_created", Type: "customer.created", Created: time.Now(), Object: map[string]any{"id": "cus_x"}}
	body := unhandled.JSON()
	if code, answer := s.post(t, body, ingest.SignPayload(body, secret, time.Now())); code != http.StatusOK || !strings.Contains(answer, `"ignored":true`) {
		t.Errorf("unhandled type: %d %s, want 200 ignored", code, answer)
	}

	s.waitIdle(t, r.Queue, 60*time.Second)
	for _, id := range []string{"evt_customer_created", forgedEvt.ID} {
		if _, err := s.insp.GetTaskInfo(r.Queue, id); err == nil {
			t.Errorf("task %s was queued", id)
		}
	}

	entries := s.sandbox.Entries()
	if len(entries) != n {
		t.Fatalf("%d entries for %d charges, want exactly %d", len(entries), n, n)
	}
	byPiece := map[string]comptentra.Entry{}
	for _, e := range entries {
		if _, dup := byPiece[e.PieceRef]; dup {
			t.Errorf("charge %s booked twice", e.PieceRef)
		}
		byPiece[e.PieceRef] = e
	}
	if _, ok := byPiece["ch_forged"]; ok {
		t.Error("the forged event was booked")
	}
	for _, c := range charges {
		e, ok := byPiece[c.ID]
		if !ok {
			t.Errorf("charge %s not booked", c.ID)
			continue
		}
		ht, tva := ledger.Split(c.Amount, 2000)
		want := []saleLine{
			{"411000", c.Amount, 0, c.Customer, c.Email},
			{"445712", 0, tva, "", ""},
			{"707000", 0, ht, "", ""},
		}
		var got []saleLine
		for _, l := range e.Lignes {
			got = append(got, saleLine{l.Compte, l.DebitCents, l.CreditCents, l.TiersRef, l.TiersEmail})
		}
		sort.Slice(got, func(i, j int) bool { return got[i].Compte < got[j].Compte })
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s: lines %v, want %v", c.ID, got, want)
		}
		if wantDate := ledger.ParisDate(c.Created.Unix()).String(); e.Date != wantDate || e.Journal != "VTE" {
			t.Errorf("%s: %s on %s, want VTE on %s (Paris)", c.ID, e.Journal, e.Date, wantDate)
		}
	}
	if e := byPiece["ch_e2e000"]; e.Date != "2026-01-01" {
		t.Errorf("23:30 UTC on 31 December booked on %s, want 2026-01-01", e.Date)
	}
}

// With Redis stopped, ingest answers 503 (Stripe retries) and never a 2xx; when Redis is
// back, the same delivery is accepted without restarting anything.
func TestIngestWithoutRedis(t *testing.T) {
	srv := redistest.StartServer(t, false)
	s := newStack(t, srv.URL(), "e2e-down", "e2e-down:", nil)
	evt := stripeevent.Charge{ID: "ch_down", Amount: 1000, Captured: true, Created: time.Now(), BalanceTransaction: "txn_down"}.Succeeded(time.Now())
	body := evt.JSON()
	srv.Stop()
	start := time.Now()
	code, answer := s.post(t, body, ingest.SignPayload(body, secret, time.Now()))
	if code != http.StatusServiceUnavailable {
		t.Fatalf("Redis down: %d %s, want 503", code, answer)
	}
	t.Logf("503 after %s", time.Since(start))
	srv.Start()
	code, answer = s.post(t, body, ingest.SignPayload(body, secret, time.Now()))
	if code != http.StatusOK {
		t.Fatalf("Redis back: %d %s, want 200", code, answer)
	}
	s.waitIdle(t, "e2e-down", 30*time.Second)
	if n := len(s.sandbox.Entries()); n != 1 {
		t.Fatalf("%d entries after recovery, want 1", n)
	}
}

// BenchmarkEndToEnd measures one charge.succeeded from the signed POST to its entry in
// the sandbox, with 10 worker goroutines: go test -run '^$' -bench EndToEnd ./e2e
func BenchmarkEndToEnd(b *testing.B) {
	r := redistest.New(b)
	s := newStack(b, r.URL, r.Queue, r.Prefix, nil)
	created := time.Date(2026, 3, 10, 10, 0, 0, 0, time.UTC)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		c := stripeevent.Charge{ID: fmt.Sprintf("ch_bench%d_%d", b.N, i), Amount: 12000, Captured: true, Created: created,
			Customer: "cus_bench", BalanceTransaction: "txn_bench"}
		s.send(b, c.Succeeded(created))
	}
	s.waitIdle(b, r.Queue, 10*time.Minute)
	b.StopTimer()
	if n := len(s.sandbox.Entries()); n != b.N {
		b.Fatalf("%d entries, want %d", n, b.N)
	}
}
