// Package backfill catches up after downtime: it reads the Stripe events of a time
// window from the Events API (which keeps 30 days) and enqueues the handled ones
// exactly as ingest enqueues a webhook — same task type, same queue, the Stripe event
// id as task id — so the worker books them through its usual, deduplicated path.
//
// An event the queue still knows (a webhook already delivered it, or an earlier
// backfill did) is rejected by asynq's task-id check and counted as AlreadyKnown; an
// event the queue forgot (after eventtask.DefaultRetention) is enqueued again and the
// worker's business keys make booking it a second time harmless. A backfill can thus
// be re-run safely, whole or in part.
package backfill

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"slices"
	"time"

	"github.com/hibiken/asynq"
	stripe "github.com/stripe/stripe-go/v76"

	"github.com/servolution/stripe-comptentra-sync/eventtask"
	"github.com/servolution/stripe-comptentra-sync/stripeapi"
)

// Retention is how far back Stripe's Events API reaches.
const Retention = 30 * 24 * time.Hour

// DefaultChunk is the default width of the windows read at once (see Options.Chunk).
const DefaultChunk = 24 * time.Hour

// maxTypesPerRequest is Stripe's limit on types[] for GET /v1/events.
const maxTypesPerRequest = 20

// ErrTooOld is returned when Options.Since is earlier than Stripe's 30-day limit and
// Options.Clamp is not set.
var ErrTooOld = errors.New("Stripe's Events API keeps events for 30 days only")

// ErrNotHandled is returned for an Options.Types entry the worker does not book.
var ErrNotHandled = errors.New("event type not handled")

// Source lists Stripe events; *stripeapi.Client is one.
type Source interface {
	Events(ctx context.Context, p stripeapi.EventsParams) iter.Seq2[*stripe.Event, error]
}

// Options select and route the events of a backfill.
type Options struct {
	// Since is the start of the window (inclusive, whole seconds). Required.
	Since time.Time
	// Until is the end of the window (inclusive, whole seconds); zero → Now.
	Until time.Time
	// Now is the reference time of the 30-day limit and of a zero Until; zero →
	// time.Now(). A command that parses "--since 30d" passes the instant it parsed
	// it against, so that exactly 30 days is accepted.
	Now time.Time
	// Clamp starts a window older than 30 days at the 30-day limit instead of
	// failing with ErrTooOld.
	Clamp bool
	// Types are the event types to backfill; empty → eventtask.HandledTypes. Every
	// type must be handled (ErrNotHandled).
	Types []string
	// Queue is the asynq queue; "" → Enqueue.Queue, then eventtask.DefaultQueue.
	Queue string
	// Enqueue are the task options, the same as ingest's.
	Enqueue eventtask.Options
	// Chunk is the width of the windows read and sorted in memory at once (see Run);
	// 0 → DefaultChunk.
	Chunk time.Duration
	// Progress, when set, is called after every event read, enqueued, known or skipped.
	// It runs on Run's goroutine: keep it quick.
	Progress func(Progress)
	// Retries is the number of retries of an enqueue that failed other than by a
	// task-id conflict; 0 → 4, negative → none. RetryDelay is the first delay, doubled
	// at each retry; 0 → 250ms.
	Retries    int
	RetryDelay time.Duration
}

// Progress counts the events of a run so far.
type Progress struct {
	Read         int // events listed by Stripe
	Enqueued     int // newly enqueued
	AlreadyKnown int // rejected by the queue as already known (task-id conflict)
	Skipped      int // listed but of a type the worker does not book
	// Oldest is the creation time of the oldest event read so far.
	Oldest time.Time
	// Through is the creation time of the last event enqueued or known: every
	// handled event of the window created before it is in the queue.
	Through time.Time
}

// Summary is the outcome of a run.
type Summary struct {
	Progress
	Since, Until time.Time     // the window actually read
	Clamped      bool          // Since was moved to the 30-day limit
	Duration     time.Duration // wall time of the run
}

// String is the one-line summary the command prints.
func (s Summary) String() string {
	return fmt.Sprintf("events read %d, enqueued %d, already known %d", s.Read, s.Enqueued, s.AlreadyKnown)
}

// Limit is the oldest time Stripe's Events API still reaches at now.
func Limit(now time.Time) time.Time { return now.Add(-Retention) }

// Window resolves o's window: Since (clamped when asked), Until, and whether it
// clamped. It fails with ErrTooOld, ErrNotHandled or a plain error for an empty or
// missing window.
func (o Options) Window() (since, until time.Time, clamped bool, err error) {
	now := o.Now
	if now.IsZero() {
		now = time.Now()
	}
	since, until = o.Since, o.Until
	if since.IsZero() {
		return since, until, false, errors.New("backfill: no start time (Since)")
	}
	if until.IsZero() {
		until = now
	}
	// Stripe's created is whole seconds: compare at that precision.
	limit := Limit(now).Truncate(time.Second)
	if since.Truncate(time.Second).Before(limit) {
		if !o.Clamp {
			return since, until, false, fmt.Errorf("backfill: start %s is %s before the limit %s: %w",
				since.UTC().Format(time.RFC3339), limit.Sub(since.Truncate(time.Second)).Round(time.Second), limit.UTC().Format(time.RFC3339), ErrTooOld)
		}
		since, clamped = limit, true
	}
	if until.Before(since) {
		return since, until, clamped, fmt.Errorf("backfill: empty window: end %s is before start %s",
			until.UTC().Format(time.RFC3339), since.UTC().Format(time.RFC3339))
	}
	for _, t := range o.Types {
		if !eventtask.Handled(t) {
			return since, until, clamped, fmt.Errorf("backfill: type %q: %w (handled: %v)", t, ErrNotHandled, eventtask.HandledTypes)
		}
	}
	return since, until, clamped, nil
}

// Run backfills o's window into client's queue, oldest event first, and returns
// what it did. On an error the summary counts what was done before it; the run can
// be repeated safely (see the package comment).
func Run(ctx context.Context, src Source, client *asynq.Client, o Options) (Summary, error) {
	return run(ctx, src, func(ctx context.Context, t *asynq.Task) error {
		_, err := client.EnqueueContext(ctx, t)
		return err
	}, o)
}

type enqueueFunc func(context.Context, *asynq.Task) error

// pending is one event waiting to be enqueued.
type pending struct {
	id      string
	created int64
	seq     int // listing position (Stripe lists newest first)
	raw     []byte
}

func run(ctx context.Context, src Source, enqueue enqueueFunc, o Options) (Summary, error) {
	start := time.Now()
	since, until, clamped, err := o.Window()
	sum := Summary{Since: since, Until: until, Clamped: clamped}
	if err != nil {
		return sum, err
	}
	types := o.Types
	if len(types) == 0 {
		types = eventtask.HandledTypes
	}
	topts := o.Enqueue
	if o.Queue != "" {
		topts.Queue = o.Queue
	}
	chunk := o.Chunk
	if chunk <= 0 {
		chunk = DefaultChunk
	}
	chunk = max(chunk.Truncate(time.Second), time.Second)
	report := func() {
		if o.Progress != nil {
			o.Progress(sum.Progress)
		}
	}
	defer func() { sum.Duration = time.Since(start) }()

	// Stripe lists newest first and the worker is best fed oldest first, so a window
	// is collected, sorted and then enqueued. To keep memory bounded however busy the
	// account, the window is cut into chunks (a day by default) read one after the
	// other, oldest chunk first: only one chunk's payloads are held at once. Both ends
	// of Stripe's created filter are inclusive whole seconds, so chunk k covers
	// [lo, lo+chunk−1s] and no event is read twice or missed.
	lo, end := since.Truncate(time.Second), until.Truncate(time.Second)
	for !lo.After(end) {
		hi := lo.Add(chunk - time.Second)
		if hi.After(end) {
			hi = end
		}
		var batch []pending
		for group := range slices.Chunk(types, maxTypesPerRequest) {
			for evt, err := range src.Events(ctx, stripeapi.EventsParams{Since: lo, Until: hi, Types: group}) {
				if err != nil {
					return sum, fmt.Errorf("backfill: list events %s to %s: %w",
						lo.UTC().Format(time.RFC3339), hi.UTC().Format(time.RFC3339), err)
				}
				sum.Read++
				if c := time.Unix(evt.Created, 0); sum.Oldest.IsZero() || c.Before(sum.Oldest) {
					sum.Oldest = c
				}
				if !eventtask.Handled(string(evt.Type)) || evt.ID == "" {
					sum.Skipped++
					report()
					continue
				}
				raw, err := payload(evt)
				if err != nil {
					return sum, fmt.Errorf("backfill: event %s: %w", evt.ID, err)
				}
				batch = append(batch, pending{id: evt.ID, created: evt.Created, seq: len(batch), raw: raw})
				report()
			}
		}
		// Oldest first; within one second, Stripe's newest-first listing reversed.
		slices.SortFunc(batch, func(a, b pending) int {
			if c := cmp.Compare(a.created, b.created); c != 0 {
				return c
			}
			return cmp.Compare(b.seq, a.seq)
		})
		seen := make(map[string]bool, len(batch))
		for _, p := range batch {
			if seen[p.id] { // listed twice (an event created while paging): once is enough
				continue
			}
			seen[p.id] = true
			known, err := enqueueOne(ctx, enqueue, p, topts, o)
			if err != nil {
				return sum, err
			}
			if known {
				sum.AlreadyKnown++
			} else {
				sum.Enqueued++
			}
			sum.Through = time.Unix(p.created, 0)
			report()
		}
		lo = hi.Add(time.Second)
	}
	return sum, nil
}

// enqueueOne enqueues p, retrying errors other than a task-id conflict with backoff.
// It reports whether the queue already knew the event.
func enqueueOne(ctx context.Context, enqueue enqueueFunc, p pending, topts eventtask.Options, o Options) (known bool, err error) {
	task, err := eventtask.NewStripeEventTask(p.id, p.raw, topts)
	if err != nil {
		return false, fmt.Errorf("backfill: event %s: %w", p.id, err)
	}
	retries := o.Retries
	switch {
	case retries == 0:
		retries = 4
	case retries < 0:
		retries = 0
	}
	delay := o.RetryDelay
	if delay <= 0 {
		delay = 250 * time.Millisecond
	}
	for attempt := 0; ; attempt++ {
		err = enqueue(ctx, task)
		switch {
		case err == nil:
			return false, nil
		case errors.Is(err, asynq.ErrTaskIDConflict):
			return true, nil
		case ctx.Err() != nil:
			return false, fmt.Errorf("backfill: enqueue event %s: %w", p.id, ctx.Err())
		case attempt >= retries:
			return false, fmt.Errorf("backfill: enqueue event %s failed %d times, last: %w (events before it are queued; re-running the backfill is safe)",
				p.id, attempt+1, err)
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return false, fmt.Errorf("backfill: enqueue event %s: %w", p.id, ctx.Err())
		case <-t.C:
		}
		delay *= 2
	}
}

// payload is the event as JSON, in the shape of a webhook body: stripe-go keeps
// data.object as the raw bytes Stripe sent (EventData.Raw, marshalled as "object"),
// and the envelope's fields — id, object, api_version, created, livemode,
// pending_webhooks, request, type, data.previous_attributes — are re-encoded from
// their decoded values, which decode back to the same values in the worker
// (previous_attributes goes through map[string]any, exact for every amount below
// 2⁵³).
func payload(evt *stripe.Event) ([]byte, error) {
	if evt.Data == nil || len(evt.Data.Raw) == 0 {
		return nil, errors.New("no data.object")
	}
	return json.Marshal(evt)
}
