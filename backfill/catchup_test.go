package backfill

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hibiken/asynq"
)

func TestCatchUpRunsInOneOfTwoInstancesAndStopsOnCancel(t *testing.T) {
	e := newEnv(t)
	now := time.Now()
	ev := e.add("charge.succeeded", now.Add(-10*time.Minute))
	e.add("charge.succeeded", now.Add(-5*time.Hour)) // outside the lookback

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var (
		runs     atomic.Int32
		skipped  atomic.Int32
		mu       sync.Mutex
		sums     []Summary
		started  = make(chan struct{}, 2)
		proceed  = make(chan struct{})
		finished = make(chan struct{}, 2)
	)
	instance := func() CatchUp {
		client := asynq.NewClient(e.opt) // each replica has its own client
		t.Cleanup(func() { client.Close() })
		lock := &RedisLock{Client: e.redis.Client, Key: e.redis.Prefix + "catchup", TTL: 3 * time.Second}
		return CatchUp{
			Interval: time.Hour, Lookback: 2 * time.Hour, Lock: lock.TryLock,
			Run: func(ctx context.Context, since, until time.Time) (Summary, error) {
				runs.Add(1)
				started <- struct{}{}
				<-proceed // hold the lock while the other instance tries
				return Run(ctx, e.api, client, Options{Since: since, Until: until, Queue: e.redis.Queue})
			},
			Report: func(s Summary, skip bool, err error) {
				if skip {
					if err != nil {
						t.Errorf("lock error: %v", err)
					}
					skipped.Add(1)
				} else {
					mu.Lock()
					sums = append(sums, s)
					mu.Unlock()
					if err != nil {
						t.Errorf("run: %v", err)
					}
				}
				finished <- struct{}{}
			},
		}
	}
	a, b := instance(), instance()
	var wg sync.WaitGroup
	for _, c := range []CatchUp{a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := c.Loop(ctx); err != nil {
				t.Errorf("Loop: %v", err)
			}
		}()
	}
	letGo := sync.OnceFunc(func() { close(proceed) })
	defer letGo()
	wait := func(ch chan struct{}, what string) {
		t.Helper()
		select {
		case <-ch:
		case <-time.After(5 * time.Second):
			letGo()
			t.Fatalf("%s: timed out (runs %d, skipped %d)", what, runs.Load(), skipped.Load())
		}
	}
	wait(started, "first run")
	wait(finished, "other instance") // found the lock taken
	if runs.Load() != 1 || skipped.Load() != 1 {
		t.Fatalf("runs %d, skipped %d: want 1 and 1", runs.Load(), skipped.Load())
	}
	letGo()
	wait(finished, "run")
	mu.Lock()
	if len(sums) != 1 || sums[0].Enqueued != 1 || sums[0].Read != 1 {
		t.Errorf("summaries %+v, want one run enqueueing the recent event", sums)
	}
	mu.Unlock()
	if got := e.pending(t); len(got) != 1 || got[ev.ID] == nil {
		t.Errorf("pending %d tasks", len(got))
	}
	if n, _ := e.redis.Client.Exists(context.Background(), e.redis.Prefix+"catchup").Result(); n != 0 {
		t.Errorf("lock not released after the run")
	}

	cancel()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Loop did not stop when ctx was cancelled")
	}
	if runs.Load() != 1 {
		t.Errorf("%d runs after cancel", runs.Load())
	}
}

func TestCatchUpCancelsARunInProgressAndRepeats(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var n atomic.Int32
	var lookbacks []time.Duration
	var mu sync.Mutex
	c := CatchUp{Interval: 20 * time.Millisecond, Lookback: 90 * time.Minute,
		Run: func(ctx context.Context, since, until time.Time) (Summary, error) {
			mu.Lock()
			lookbacks = append(lookbacks, until.Sub(since))
			mu.Unlock()
			if n.Add(1) == 3 {
				<-ctx.Done() // a long run
				return Summary{}, ctx.Err()
			}
			return Summary{}, nil
		}}
	done := make(chan error, 1)
	go func() { done <- c.Loop(ctx) }()
	for n.Load() < 3 {
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Loop did not stop")
	}
	mu.Lock()
	defer mu.Unlock()
	for _, l := range lookbacks {
		if l != 90*time.Minute {
			t.Errorf("window %s, want the lookback", l)
		}
	}
}

func TestRedisLockLeaseAndToken(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	key := e.redis.Prefix + "lock"
	l := &RedisLock{Client: e.redis.Client, Key: key, TTL: 300 * time.Millisecond}

	held, release, ok, err := l.TryLock(ctx)
	if err != nil || !ok {
		t.Fatalf("TryLock: %v %v", ok, err)
	}
	if _, _, ok, _ := l.TryLock(ctx); ok {
		t.Fatal("lock taken twice")
	}
	if ttl := e.redis.Client.PTTL(ctx, key).Val(); ttl <= 0 || ttl > 300*time.Millisecond {
		t.Errorf("lease %s, want ≤ 300ms", ttl)
	}
	// Held past its lease: renewed.
	time.Sleep(700 * time.Millisecond)
	if held.Err() != nil || e.redis.Client.Exists(ctx, key).Val() != 1 {
		t.Fatalf("lock lost while held: %v", context.Cause(held))
	}
	release()
	if e.redis.Client.Exists(ctx, key).Val() != 0 {
		t.Fatal("release left the key")
	}
	if held.Err() == nil {
		t.Error("held context not done after release")
	}

	// A lease taken over by another instance: the holder loses the lock (its run is
	// cancelled) and its release leaves the other's key alone.
	held, release, ok, _ = l.TryLock(ctx)
	if !ok {
		t.Fatal("not re-taken")
	}
	e.redis.Client.Set(ctx, key, "someone-else", time.Minute)
	select {
	case <-held.Done():
	case <-time.After(2 * time.Second):
		t.Fatal("holder not told it lost the lock")
	}
	if cause := context.Cause(held); cause == nil || !strings.Contains(cause.Error(), "lost lock") {
		t.Errorf("cause %v, want lost lock", cause)
	}
	release()
	if v := e.redis.Client.Get(ctx, key).Val(); v != "someone-else" {
		t.Fatalf("release deleted another instance's lock (now %q)", v)
	}
}
