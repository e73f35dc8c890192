package backfill

import (
	"context"
	"encoding/json"
	"errors"
	"iter"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	stripe "github.com/stripe/stripe-go/v76"

	"github.com/servolution/stripe-comptentra-sync/eventtask"
	"github.com/servolution/stripe-comptentra-sync/internal/redistest"
	"github.com/servolution/stripe-comptentra-sync/internal/stripeevent"
	"github.com/servolution/stripe-comptentra-sync/stripeapi"
	"github.com/servolution/stripe-comptentra-sync/stripeapi/stripetest"
)

type env struct {
	stripe *stripetest.Server
	api    *stripeapi.Client
	redis  *redistest.Redis
	opt    asynq.RedisConnOpt
	client *asynq.Client
	insp   *asynq.Inspector
}

func newEnv(t *testing.T) *env {
	t.Helper()
	s := stripetest.NewServer(t)
	api, err := stripeapi.New(stripeapi.Config{APIKey: s.APIKey(), BaseURL: s.URL(), MaxNetworkRetries: -1})
	if err != nil {
		t.Fatal(err)
	}
	r := redistest.New(t)
	opt, err := asynq.ParseRedisURI(r.URL)
	if err != nil {
		t.Fatal(err)
	}
	c := asynq.NewClient(opt)
	insp := asynq.NewInspector(opt)
	t.Cleanup(func() { c.Close(); insp.Close() })
	return &env{stripe: s, api: api, redis: r, opt: opt, client: c, insp: insp}
}

// add stores a webhook-shaped event in the fake Stripe and returns it.
func (e *env) add(typ string, created time.Time) stripeevent.Event {
	ch := stripeevent.Charge{ID: stripeevent.NewID("ch"), Amount: 12000, Captured: true, Created: created,
		Customer: "cus_1", BalanceTransaction: stripeevent.NewID("txn"), VATRate: "20"}
	var ev stripeevent.Event
	switch typ {
	case "charge.refunded":
		ch.AmountRefunded = 12000
		ev = ch.Refunded(0, created)
	case "payout.paid":
		ev = stripeevent.Payout{ID: stripeevent.NewID("po"), Amount: 5000, Created: created, ArrivalDate: created, Status: "paid"}.Event(created)
	default:
		ev = ch.Succeeded(created)
		ev.Type = typ
	}
	e.stripe.AddEventJSON(ev.JSON())
	return ev
}

func (e *env) opts(since time.Time) Options {
	return Options{Since: since, Queue: e.redis.Queue, RetryDelay: time.Millisecond}
}

func (e *env) pending(t *testing.T) map[string][]byte {
	t.Helper()
	tasks, err := e.insp.ListPendingTasks(e.redis.Queue, asynq.PageSize(1000))
	if err != nil && !errors.Is(err, asynq.ErrQueueNotFound) {
		t.Fatal(err)
	}
	out := map[string][]byte{}
	for _, ti := range tasks {
		if ti.Type != eventtask.TypeStripeEvent {
			t.Errorf("task %s has type %q", ti.ID, ti.Type)
		}
		if _, dup := out[ti.ID]; dup {
			t.Errorf("task %s pending twice", ti.ID)
		}
		out[ti.ID] = ti.Payload
	}
	return out
}

// webhookView is what the worker reads of an event.
type webhookView struct {
	ID, Type, APIVersion string
	Created              int64
	Object, Previous     map[string]any
	Raw                  map[string]any
}

func view(t *testing.T, raw []byte) webhookView {
	t.Helper()
	var evt stripe.Event // as worker.HandleStripeEventTask decodes it
	if err := json.Unmarshal(raw, &evt); err != nil || evt.Data == nil {
		t.Fatalf("payload does not decode as a stripe.Event: %v\n%s", err, raw)
	}
	var generic struct {
		Data struct {
			Object map[string]any `json:"object"`
		} `json:"data"`
	}
	if err := json.Unmarshal(raw, &generic); err != nil {
		t.Fatal(err)
	}
	return webhookView{ID: evt.ID, Type: string(evt.Type), APIVersion: evt.APIVersion, Created: evt.Created,
		Object: evt.Data.Object, Previous: evt.Data.PreviousAttributes, Raw: generic.Data.Object}
}

func TestRunEnqueuesHandledEventsOnceAsWebhooksWould(t *testing.T) {
	e := newEnv(t)
	e.stripe.SetMaxPageSize(2) // several pages
	now := time.Now()
	want := map[string]stripeevent.Event{}
	for i, typ := range []string{"charge.succeeded", "charge.refunded", "payout.paid", "charge.dispute.created", "charge.captured"} {
		ev := e.add(typ, now.Add(-time.Duration(i+1)*time.Hour))
		want[ev.ID] = ev
	}
	e.add("customer.created", now.Add(-2*time.Hour))         // not handled
	e.add("invoice.paid", now.Add(-3*time.Hour))             // not handled
	old := e.add("charge.succeeded", now.Add(-49*time.Hour)) // before the window

	sum, err := Run(context.Background(), e.api, e.client, e.opts(now.Add(-48*time.Hour)))
	if err != nil {
		t.Fatal(err)
	}
	if sum.Enqueued != 5 || sum.AlreadyKnown != 0 || sum.Read != 5 {
		t.Fatalf("summary %+v, want 5 read and enqueued", sum)
	}
	if got := sum.String(); got != "events read 5, enqueued 5, already known 0" {
		t.Errorf("String() = %q", got)
	}
	got := e.pending(t)
	if len(got) != len(want) {
		t.Fatalf("%d pending tasks, want %d: %v", len(got), len(want), slices.Collect(mapKeys(got)))
	}
	if _, ok := got[old.ID]; ok {
		t.Errorf("event before the window enqueued")
	}
	for id, ev := range want {
		raw, ok := got[id]
		if !ok {
			t.Errorf("event %s (%s) not enqueued under its id", id, ev.Type)
			continue
		}
		if g, w := view(t, raw), view(t, ev.JSON()); !reflect.DeepEqual(g, w) {
			t.Errorf("event %s decodes differently from its webhook:\n got %+v\nwant %+v", id, g, w)
		}
	}
	// The types were asked of Stripe, so unhandled events were never even listed.
	for _, r := range e.stripe.Requests() {
		if r.Path == "/v1/events" && r.Query.Get("types[0]") == "" {
			t.Errorf("events listed without types[]: %v", r.Query)
		}
	}
}

func TestPayloadKeepsPreviousAttributesAndObject(t *testing.T) {
	e := newEnv(t)
	now := time.Now()
	ev := e.add("charge.refunded", now.Add(-time.Hour))
	if _, err := Run(context.Background(), e.api, e.client, e.opts(now.Add(-2*time.Hour))); err != nil {
		t.Fatal(err)
	}
	raw := e.pending(t)[ev.ID]
	v := view(t, raw)
	if v.Previous["amount_refunded"] != float64(0) || v.Object["amount_refunded"] != float64(12000) || v.APIVersion != stripeevent.APIVersion {
		t.Errorf("previous/object/api_version lost: %s", raw)
	}
}

func TestSecondRunFindsEverythingKnown(t *testing.T) {
	e := newEnv(t)
	now := time.Now()
	for i := range 4 {
		e.add("charge.succeeded", now.Add(-time.Duration(i+1)*time.Minute))
	}
	o := e.opts(now.Add(-time.Hour))
	first, err := Run(context.Background(), e.api, e.client, o)
	if err != nil || first.Enqueued != 4 {
		t.Fatalf("first run: %+v, %v", first, err)
	}
	second, err := Run(context.Background(), e.api, e.client, o)
	if err != nil {
		t.Fatal(err)
	}
	if second.Read != 4 || second.Enqueued != 0 || second.AlreadyKnown != 4 {
		t.Fatalf("second run: %+v, want 4 already known", second)
	}
	if n := len(e.pending(t)); n != 4 {
		t.Fatalf("%d pending tasks, want 4", n)
	}
}

func TestEventsDeliveredByWebhookAreAlreadyKnown(t *testing.T) {
	e := newEnv(t)
	now := time.Now()
	hooked := e.add("charge.succeeded", now.Add(-30*time.Minute))
	missed := e.add("payout.paid", now.Add(-20*time.Minute))
	// ingest enqueued the first one from its webhook.
	webhookBody := hooked.JSON()
	task, err := eventtask.NewStripeEventTask(hooked.ID, webhookBody, eventtask.Options{Queue: e.redis.Queue})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.client.Enqueue(task); err != nil {
		t.Fatal(err)
	}
	sum, err := Run(context.Background(), e.api, e.client, e.opts(now.Add(-time.Hour)))
	if err != nil {
		t.Fatal(err)
	}
	if sum.Enqueued != 1 || sum.AlreadyKnown != 1 {
		t.Fatalf("summary %+v, want 1 enqueued and 1 already known", sum)
	}
	got := e.pending(t)
	if string(got[hooked.ID]) != string(webhookBody) {
		t.Errorf("webhook's task replaced")
	}
	if _, ok := got[missed.ID]; !ok {
		t.Errorf("missed event not enqueued")
	}
}

// recorder records the ids enqueued, in order, and can fail.
type recorder struct {
	mu   sync.Mutex
	ids  []string
	fail func(n int) error // n counts calls from 1
	n    int
}

func (r *recorder) enqueue(ctx context.Context, t *asynq.Task) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.n++
	if r.fail != nil {
		if err := r.fail(r.n); err != nil {
			return err
		}
	}
	var v struct {
		ID string `json:"id"`
	}
	_ = json.Unmarshal(t.Payload(), &v)
	r.ids = append(r.ids, v.ID)
	return nil
}

func TestOldestFirstAcrossChunksAndPages(t *testing.T) {
	e := newEnv(t)
	e.stripe.SetMaxPageSize(3)
	now := time.Now().Truncate(time.Second)
	since := now.Add(-72 * time.Hour)
	// Created times in scrambled order, some on chunk boundaries (since + k·24h and
	// one second before), two in the same second (kept in creation order).
	offsets := []time.Duration{50 * time.Hour, 0, 24*time.Hour - time.Second, 24 * time.Hour, 71 * time.Hour, 5 * time.Hour, 48 * time.Hour, 72 * time.Hour, 5 * time.Hour}
	type ev struct {
		id string
		at time.Time
		i  int
	}
	var evs []ev
	for i, off := range offsets {
		x := e.add("charge.succeeded", since.Add(off))
		evs = append(evs, ev{x.ID, since.Add(off), i})
	}
	slices.SortStableFunc(evs, func(a, b ev) int { return a.at.Compare(b.at) })
	var want []string
	for _, x := range evs {
		want = append(want, x.id)
	}

	rec := &recorder{}
	o := e.opts(since)
	o.Now, o.Until = now, now
	sum, err := run(context.Background(), e.api, rec.enqueue, o)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(rec.ids, want) {
		t.Fatalf("enqueue order\n got %v\nwant %v", rec.ids, want)
	}
	if sum.Enqueued != len(offsets) || !sum.Oldest.Equal(since) || !sum.Through.Equal(now) {
		t.Errorf("summary %+v", sum)
	}
	// The default one-day chunks: one request per chunk at least.
	var lists int
	for _, r := range e.stripe.Requests() {
		if r.Path == "/v1/events" && r.Query.Get("starting_after") == "" {
			lists++
		}
	}
	if lists != 4 { // 72h and one second: [0,24h) [24h,48h) [48h,72h) [72h,72h]
		t.Errorf("%d listings, want 4 chunks", lists)
	}

	// Through the real queue too: asynq hands pending tasks out in enqueue order.
	e.stripe.ResetRequests()
	if _, err := Run(context.Background(), e.api, e.client, o); err != nil {
		t.Fatal(err)
	}
	tasks, err := e.insp.ListPendingTasks(e.redis.Queue, asynq.PageSize(100))
	if err != nil {
		t.Fatal(err)
	}
	var pend []string
	for _, ti := range tasks {
		pend = append(pend, ti.ID)
	}
	if !slices.Equal(pend, want) {
		t.Fatalf("pending order\n got %v\nwant %v", pend, want)
	}
}

// allTypes ignores the types filter, as a Source might.
type allTypes struct{ Source }

func (a allTypes) Events(ctx context.Context, p stripeapi.EventsParams) iter.Seq2[*stripe.Event, error] {
	p.Types = nil
	return a.Source.Events(ctx, p)
}

func TestUnhandledTypesAreSkipped(t *testing.T) {
	e := newEnv(t)
	now := time.Now()
	handled := e.add("charge.succeeded", now.Add(-time.Minute))
	e.add("customer.created", now.Add(-2*time.Minute))
	e.add("charge.updated", now.Add(-3*time.Minute))
	sum, err := Run(context.Background(), allTypes{e.api}, e.client, e.opts(now.Add(-time.Hour)))
	if err != nil {
		t.Fatal(err)
	}
	if sum.Read != 3 || sum.Skipped != 2 || sum.Enqueued != 1 {
		t.Fatalf("summary %+v, want 3 read, 2 skipped, 1 enqueued", sum)
	}
	got := e.pending(t)
	if len(got) != 1 || got[handled.ID] == nil {
		t.Fatalf("pending %v, want only %s", slices.Collect(mapKeys(got)), handled.ID)
	}
}

func TestTypesOption(t *testing.T) {
	e := newEnv(t)
	now := time.Now()
	e.add("charge.succeeded", now.Add(-time.Minute))
	po := e.add("payout.paid", now.Add(-2*time.Minute))
	o := e.opts(now.Add(-time.Hour))
	o.Types = []string{"payout.paid"}
	sum, err := Run(context.Background(), e.api, e.client, o)
	if err != nil || sum.Enqueued != 1 {
		t.Fatalf("%+v, %v", sum, err)
	}
	if got := e.pending(t); got[po.ID] == nil {
		t.Fatalf("payout not enqueued")
	}
	o.Types = []string{"customer.created"}
	if _, err := Run(context.Background(), e.api, e.client, o); !errors.Is(err, ErrNotHandled) {
		t.Fatalf("unhandled type: err %v, want ErrNotHandled", err)
	}
}

func TestThirtyDayLimit(t *testing.T) {
	e := newEnv(t)
	now := time.Now()
	limit := now.Add(-30 * 24 * time.Hour)

	o := e.opts(limit.Add(-time.Hour))
	o.Now = now
	_, err := Run(context.Background(), e.api, e.client, o)
	if !errors.Is(err, ErrTooOld) || !strings.Contains(err.Error(), "30 days") {
		t.Fatalf("31 days back: err %v, want ErrTooOld naming 30 days", err)
	}
	if n := len(e.stripe.Requests()); n != 0 {
		t.Errorf("%d requests made for a refused window", n)
	}

	o.Since = limit // exactly 30 days: allowed
	o.Chunk = 31 * 24 * time.Hour
	if _, err := Run(context.Background(), e.api, e.client, o); err != nil {
		t.Fatalf("exactly 30 days: %v", err)
	}

	e.stripe.ResetRequests()
	o.Since, o.Clamp = limit.Add(-10*24*time.Hour), true
	sum, err := Run(context.Background(), e.api, e.client, o)
	if err != nil {
		t.Fatal(err)
	}
	if !sum.Clamped || !sum.Since.Equal(limit.Truncate(time.Second)) {
		t.Errorf("clamped summary %+v, want since %s", sum, limit)
	}
	reqs := e.stripe.Requests()
	if len(reqs) == 0 || reqs[0].Query.Get("created[gte]") != strconv.FormatInt(limit.Unix(), 10) {
		t.Errorf("clamped request: %+v", reqs)
	}
}

func TestEnqueueErrorsAreRetriedThenFail(t *testing.T) {
	e := newEnv(t)
	now := time.Now()
	a := e.add("charge.succeeded", now.Add(-2*time.Minute))
	b := e.add("charge.succeeded", now.Add(-time.Minute))
	o := e.opts(now.Add(-time.Hour))
	o.Retries = 3

	flaky := &recorder{fail: func(n int) error {
		if n <= 2 {
			return errors.New("READONLY You can't write against a read only replica")
		}
		return nil
	}}
	sum, err := run(context.Background(), e.api, flaky.enqueue, o)
	if err != nil || sum.Enqueued != 2 || !slices.Equal(flaky.ids, []string{a.ID, b.ID}) {
		t.Fatalf("transient errors: %+v %v %v", sum, flaky.ids, err)
	}

	down := &recorder{fail: func(n int) error {
		if n >= 2 {
			return errors.New("dial tcp: connection refused")
		}
		return nil
	}}
	sum, err = run(context.Background(), e.api, down.enqueue, o)
	if err == nil || !strings.Contains(err.Error(), b.ID) || !strings.Contains(err.Error(), "4 times") || !strings.Contains(err.Error(), "connection refused") {
		t.Fatalf("persistent error: %v", err)
	}
	if sum.Enqueued != 1 || down.n != 5 {
		t.Errorf("summary %+v after %d calls, want 1 enqueued after 1+4 calls", sum, down.n)
	}
}

func TestListErrorFailsTheRun(t *testing.T) {
	e := newEnv(t)
	now := time.Now()
	e.add("charge.succeeded", now.Add(-time.Minute))
	e.stripe.SetFailures(5, 500)
	_, err := Run(context.Background(), e.api, e.client, e.opts(now.Add(-time.Hour)))
	if err == nil || !strings.Contains(err.Error(), "list events") {
		t.Fatalf("err %v", err)
	}
	if n := len(e.pending(t)); n != 0 {
		t.Errorf("%d tasks enqueued", n)
	}
}

func mapKeys[V any](m map[string]V) iter.Seq[string] {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}
