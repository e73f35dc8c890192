package stack

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/servolution/stripe-comptentra-sync/internal/redistest"
	"github.com/servolution/stripe-comptentra-sync/internal/stripeevent"
	"github.com/servolution/stripe-comptentra-sync/stripeapi/stripetest"
)

type catchUpLogBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *catchUpLogBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *catchUpLogBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func TestStartCatchUpSettings(t *testing.T) {
	r := redistest.New(t)
	opt, _ := asynq.ParseRedisURI(r.URL)
	log := slog.New(slog.DiscardHandler)
	for _, c := range []struct {
		env  map[string]string
		want []string // "" → no error
	}{
		{env: map[string]string{}},
		{env: map[string]string{"STRIPE_API_KEY": "sk_test_x"}},
		{env: map[string]string{"WORKER_CATCHUP_INTERVAL": "15m"}, want: []string{"WORKER_CATCHUP_INTERVAL", "STRIPE_API_KEY"}},
		{env: map[string]string{"WORKER_CATCHUP_INTERVAL": "soon", "STRIPE_API_KEY": "sk_test_x"}, want: []string{"WORKER_CATCHUP_INTERVAL"}},
		{env: map[string]string{"WORKER_CATCHUP_INTERVAL": "15m", "WORKER_CATCHUP_LOOKBACK": "10m", "STRIPE_API_KEY": "sk_test_x"}, want: []string{"WORKER_CATCHUP_LOOKBACK", "at least"}},
		{env: map[string]string{"WORKER_CATCHUP_INTERVAL": "15m", "WORKER_CATCHUP_LOOKBACK": "800h", "STRIPE_API_KEY": "sk_test_x"}, want: []string{"WORKER_CATCHUP_LOOKBACK", "30 days"}},
	} {
		ctx, cancel := context.WithCancel(context.Background())
		err := StartCatchUp(ctx, func(k string) string { return c.env[k] }, opt, r.Client, log)
		cancel()
		if len(c.want) == 0 {
			if err != nil {
				t.Errorf("%v: %v", c.env, err)
			}
			continue
		}
		for _, w := range c.want {
			if err == nil || !strings.Contains(err.Error(), w) {
				t.Errorf("%v: err %v, want %q", c.env, err, w)
			}
		}
	}
}

func TestStartCatchUpEnqueuesMissedEvents(t *testing.T) {
	s := stripetest.NewServer(t)
	r := redistest.New(t)
	opt, _ := asynq.ParseRedisURI(r.URL)
	now := time.Now()
	ev := stripeevent.Charge{ID: "ch_1", Amount: 100, Captured: true, Created: now}.Succeeded(now.Add(-time.Hour))
	s.AddEventJSON(ev.JSON())
	env := map[string]string{
		"WORKER_CATCHUP_INTERVAL": "1h", "WORKER_CATCHUP_LOOKBACK": "3h",
		"STRIPE_API_KEY": s.APIKey(), "STRIPE_API_URL": s.URL(),
		"WORKER_QUEUE": r.Queue, "REDIS_KEY_PREFIX": r.Prefix,
	}
	var logs catchUpLogBuffer
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := StartCatchUp(ctx, func(k string) string { return env[k] }, opt, r.Client, slog.New(slog.NewTextHandler(&logs, nil))); err != nil {
		t.Fatal(err)
	}
	insp := asynq.NewInspector(opt)
	defer insp.Close()
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(logs.String(), "catch-up done") {
		if time.Now().After(deadline) {
			t.Fatalf("no catch-up run logged:\n%s", logs.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if !strings.Contains(logs.String(), "read=1 enqueued=1 already_known=0") {
		t.Errorf("summary not logged:\n%s", logs.String())
	}
	if _, err := insp.GetTaskInfo(r.Queue, ev.ID); err != nil {
		t.Errorf("event not enqueued: %v", err)
	}
}
