package main

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/servolution/stripe-comptentra-sync/eventtask"
	"github.com/servolution/stripe-comptentra-sync/internal/redistest"
	"github.com/servolution/stripe-comptentra-sync/internal/stripeevent"
	"github.com/servolution/stripe-comptentra-sync/ledger"
	"github.com/servolution/stripe-comptentra-sync/stripeapi/stripetest"
)

func TestParseWhen(t *testing.T) {
	now := time.Date(2026, 12, 4, 21, 30, 0, 0, time.UTC)
	for _, c := range []struct {
		in   string
		want time.Time
		err  string
	}{
		{in: "2026-11-20", want: time.Date(2026, 11, 20, 0, 0, 0, 0, ledger.Paris)}, // 23:00 UTC the day before
		{in: "2026-07-14", want: time.Date(2026, 7, 13, 22, 0, 0, 0, time.UTC)},     // summer time
		{in: "2026-11-20T10:00:00+01:00", want: time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC)},
		{in: "2026-11-20T10:00:00Z", want: time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)},
		{in: "36h", want: now.Add(-36 * time.Hour)},
		{in: "90m", want: now.Add(-90 * time.Minute)},
		{in: "7d", want: now.Add(-7 * 24 * time.Hour)},
		{in: "1d12h", want: now.Add(-36 * time.Hour)},
		{in: "-2h", err: "positive"},
		{in: "0d", err: "positive"},
		{in: "yesterday", err: "want a date"},
		{in: "2026-13-01", err: "want a date"},
		{in: "7x", err: "want a date"},
	} {
		got, err := parseWhen(c.in, now)
		switch {
		case c.err != "":
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%q: err %v, want %q", c.in, err, c.err)
			}
		case err != nil:
			t.Errorf("%q: %v", c.in, err)
		case !got.Equal(c.want):
			t.Errorf("%q = %s, want %s", c.in, got.UTC(), c.want.UTC())
		}
	}
}

type backfillFixture struct {
	stripe *stripetest.Server
	redis  *redistest.Redis
	env    map[string]string
}

func newBackfillFixture(t *testing.T) *backfillFixture {
	s := stripetest.NewServer(t)
	r := redistest.New(t)
	return &backfillFixture{stripe: s, redis: r, env: map[string]string{
		"STRIPE_API_KEY": s.APIKey(),
		"STRIPE_API_URL": s.URL(),
		"REDIS_URL":      r.URL,
		"WORKER_QUEUE":   r.Queue,
	}}
}

func (f *backfillFixture) run(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err := run(context.Background(), append([]string{"backfill"}, args...),
		func(k string) string { return f.env[k] }, &out, &errOut)
	return out.String(), err
}

func TestBackfillCommand(t *testing.T) {
	f := newBackfillFixture(t)
	now := time.Now()
	var ids []string
	for i := range 3 {
		ch := stripeevent.Charge{ID: stripeevent.NewID("ch"), Amount: 1000, Captured: true, Created: now}
		ev := ch.Succeeded(now.Add(-time.Duration(i+1) * time.Hour))
		f.stripe.AddEventJSON(ev.JSON())
		ids = append(ids, ev.ID)
	}
	f.stripe.AddEventJSON(stripeevent.Event{ID: stripeevent.NewID("evt"), Type: "customer.created",
		Created: now.Add(-time.Hour), Object: map[string]any{"id": "cus_1"}}.JSON())
	old := stripeevent.Charge{ID: "ch_old", Amount: 1000, Captured: true}.Succeeded(now.Add(-5 * 24 * time.Hour))
	f.stripe.AddEventJSON(old.JSON())

	// A webhook got the newest one through.
	opt, _ := asynq.ParseRedisURI(f.redis.URL)
	client := asynq.NewClient(opt)
	defer client.Close()
	task, _ := eventtask.NewStripeEventTask(ids[0], []byte(`{}`), eventtask.Options{Queue: f.redis.Queue})
	if _, err := client.Enqueue(task); err != nil {
		t.Fatal(err)
	}

	out, err := f.run(t, "--since", "36h")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if !strings.Contains(out, "events read 3, enqueued 2, already known 1\n") {
		t.Fatalf("no summary line in:\n%s", out)
	}
	insp := asynq.NewInspector(opt)
	defer insp.Close()
	tasks, err := insp.ListPendingTasks(f.redis.Queue)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, ti := range tasks {
		got[ti.ID] = true
	}
	if len(got) != 3 || !got[ids[1]] || !got[ids[2]] || got[old.ID] {
		t.Errorf("pending %v, want %v", got, ids)
	}

	out, err = f.run(t, "--since", "36h")
	if err != nil || !strings.Contains(out, "events read 3, enqueued 0, already known 3\n") {
		t.Fatalf("second run: %v\n%s", err, out)
	}

	// --since 7d --until 3d: only the old one; progress lines when asked for each event.
	progressInterval, progressEvery = 0, 1
	t.Cleanup(func() { progressInterval, progressEvery = time.Second, 1000 })
	out, err = f.run(t, "--since", "7d", "--until", "3d", "--types", "charge.succeeded")
	if err != nil || !strings.Contains(out, "events read 1, enqueued 1, already known 0\n") {
		t.Fatalf("window: %v\n%s", err, out)
	}
	if !strings.Contains(out, "… read 1, enqueued 1, already known 0, queued through ") {
		t.Errorf("no progress line in:\n%s", out)
	}
}

func TestBackfillCommandThirtyDays(t *testing.T) {
	f := newBackfillFixture(t)
	now := time.Now()
	ev := stripeevent.Charge{ID: "ch_29", Amount: 1000, Captured: true}.Succeeded(now.Add(-29 * 24 * time.Hour))
	f.stripe.AddEventJSON(ev.JSON())

	for _, since := range []string{"31d", now.Add(-40 * 24 * time.Hour).Format(time.DateOnly)} {
		out, err := f.run(t, "--since", since)
		if err == nil || !strings.Contains(err.Error(), "30 days") || !strings.Contains(err.Error(), "--clamp") {
			t.Fatalf("--since %s: err %v, want the 30-day limit and --clamp named\n%s", since, err, out)
		}
	}
	if n := len(f.stripe.Requests()); n != 0 {
		t.Errorf("%d Stripe requests for a refused window", n)
	}

	out, err := f.run(t, "--since", "30d")
	if err != nil || !strings.Contains(out, "events read 1, enqueued 1") {
		t.Fatalf("exactly 30d: %v\n%s", err, out)
	}
	out, err = f.run(t, "--since", "45d", "--clamp")
	if err != nil || !strings.Contains(out, "Stripe keeps events for 30 days: starting at the limit") ||
		!strings.Contains(out, "events read 1, enqueued 0, already known 1") {
		t.Fatalf("--clamp: %v\n%s", err, out)
	}
}

func TestBackfillCommandErrors(t *testing.T) {
	f := newBackfillFixture(t)
	delete(f.env, "STRIPE_API_KEY")
	if _, err := f.run(t, "--since", "1h"); err == nil || !strings.Contains(err.Error(), "STRIPE_API_KEY") {
		t.Errorf("no key: %v", err)
	}
	f.env["STRIPE_API_KEY"] = f.stripe.APIKey()
	if _, err := f.run(t); !errors.Is(err, errUsage) {
		t.Errorf("no --since: %v", err)
	}
	if _, err := f.run(t, "--since", "1h", "--types", "customer.created"); err == nil || !strings.Contains(err.Error(), "customer.created") {
		t.Errorf("unhandled type: %v", err)
	}
	if _, err := f.run(t, "--since", "1h", "--until", "2h"); err == nil || !strings.Contains(err.Error(), "empty window") {
		t.Errorf("until before since: %v", err)
	}
	f.env["STRIPE_API_KEY"] = "sk_test_wrong"
	if _, err := f.run(t, "--since", "1h"); err == nil || strings.Contains(err.Error(), "sk_test_wrong") {
		t.Errorf("wrong key: %v", err)
	}
}
