package worker

import (
	"context"
	"errors"
	"log/slog"
	"sort"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/servolution/stripe-comptentra-sync/comptentra"
	"github.com/servolution/stripe-comptentra-sync/comptentra/comptentratest"
	"github.com/servolution/stripe-comptentra-sync/eventtask"
	"github.com/servolution/stripe-comptentra-sync/internal/redistest"
	"github.com/servolution/stripe-comptentra-sync/internal/stripeevent"
	"github.com/servolution/stripe-comptentra-sync/internal/syncbuf"
	"github.com/servolution/stripe-comptentra-sync/ledger"
)

// harness is one worker test's world: its own Redis queue and keys, its own sandbox.
type harness struct {
	t       testing.TB
	r       *redistest.Redis
	sandbox *comptentratest.Server
	books   *comptentra.Client
	client  *asynq.Client
	insp    *asynq.Inspector
	cfg     Config
	logs    *syncbuf.Buffer
}

func newHarness(t testing.TB, sbOpts comptentratest.Options) *harness {
	t.Helper()
	r := redistest.New(t)
	sb := comptentratest.NewServer(t, sbOpts)
	books, err := comptentra.NewClient(sb.URL(), sb.APIKey(), comptentra.WithTimeout(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	opt, err := asynq.ParseRedisURI(r.URL)
	if err != nil {
		t.Fatal(err)
	}
	client := asynq.NewClient(opt)
	insp := asynq.NewInspector(opt)
	t.Cleanup(func() { client.Close(); insp.Close() })
	logs := &syncbuf.Buffer{}
	return &harness{
		t: t, r: r, sandbox: sb, books: books, client: client, insp: insp, logs: logs,
		cfg: Config{
			Rules:           ledger.DefaultRules(),
			Queue:           r.Queue,
			KeyPrefix:       r.Prefix,
			Concurrency:     4,
			TaskTimeout:     10 * time.Second,
			ShutdownTimeout: 15 * time.Second,
			LockWait:        2 * time.Second,
			RetryBase:       50 * time.Millisecond,
			RetryMax:        200 * time.Millisecond,
			Logger:          slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		},
	}
}

// worker builds a worker on the harness with cfg (after the test's tweaks).
func (h *harness) worker() *Worker {
	h.t.Helper()
	opt, _ := asynq.ParseRedisURI(h.r.URL)
	w, err := New(h.cfg, opt, h.r.Client, h.books)
	if err != nil {
		h.t.Fatal(err)
	}
	return w
}

// start runs a worker until the test ends.
func (h *harness) start() *Worker {
	w, _ := h.startStoppable()
	return w
}

// startStoppable runs a worker until stop is called (or the test ends).
func (h *harness) startStoppable() (*Worker, func()) {
	h.t.Helper()
	w := h.worker()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { w.Run(ctx); close(done) }()
	stop := func() { cancel(); <-done }
	h.t.Cleanup(stop)
	return w, stop
}

// deliver enqueues an event the way ingest does; a duplicate is not an error.
func (h *harness) deliver(e stripeevent.Event, maxRetry int) {
	h.t.Helper()
	task, err := eventtask.NewStripeEventTask(e.ID, e.JSON(), eventtask.Options{Queue: h.r.Queue, MaxRetry: maxRetry})
	if err != nil {
		h.t.Fatal(err)
	}
	if _, err := h.client.Enqueue(task); err != nil && !errors.Is(err, asynq.ErrTaskIDConflict) {
		h.t.Fatal(err)
	}
}

// handle runs the handler on one event directly, as asynq would.
func (h *harness) handle(w *Worker, e stripeevent.Event) error {
	task := asynq.NewTask(eventtask.TypeStripeEvent, e.JSON())
	return w.handler.HandleStripeEventTask(context.Background(), task)
}

// waitIdle waits until no task of the queue is pending, active, scheduled or retrying.
func (h *harness) waitIdle(timeout time.Duration) *asynq.QueueInfo {
	h.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		info, err := h.insp.GetQueueInfo(h.r.Queue)
		if err == nil && info.Pending+info.Active+info.Scheduled+info.Retry == 0 {
			return info
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("queue not idle after %s: %+v (err %v)\nlogs:\n%s", timeout, info, err, h.logs)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// entries returns the sandbox's entries of journal, oldest first.
func (h *harness) entries(journal string) []comptentra.Entry {
	var out []comptentra.Entry
	for _, e := range h.sandbox.Entries() {
		if journal == "" || e.Journal == journal {
			out = append(out, e)
		}
	}
	return out
}

type line struct {
	Compte        string
	Debit, Credit int64
	TiersRef      string
}

func lines(e comptentra.Entry) []line {
	out := make([]line, 0, len(e.Lignes))
	for _, l := range e.Lignes {
		out = append(out, line{l.Compte, l.DebitCents, l.CreditCents, l.TiersRef})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Compte != out[j].Compte {
			return out[i].Compte < out[j].Compte
		}
		return out[i].Debit < out[j].Debit
	})
	return out
}
