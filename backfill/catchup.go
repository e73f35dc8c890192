package backfill

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// LockFunc tries to take the catch-up lock without waiting. When ok, the returned
// context is ctx until the lock is lost (its lease could not be renewed) or released,
// and release must be called once the run is over.
type LockFunc func(ctx context.Context) (held context.Context, release func(), ok bool, err error)

// CatchUp runs a backfill of the last Lookback every Interval, one instance at a time
// across replicas (Lock): the safety net for webhooks lost while ingest was down or
// misconfigured for longer than Stripe retries them (3 days). Events delivered by
// webhooks are already known to the queue and only counted.
type CatchUp struct {
	Interval time.Duration // between runs (> 0)
	Lookback time.Duration // each run backfills [now − Lookback, now] (> 0)
	Lock     LockFunc      // nil → no lock (a single instance)
	// Run backfills [since, until]; typically a closure over Run.
	Run func(ctx context.Context, since, until time.Time) (Summary, error)
	// Report, when set, receives each run's outcome; skipped says another instance
	// held the lock (or taking it failed: err) and nothing was run.
	Report func(sum Summary, skipped bool, err error)
	Now    func() time.Time // nil → time.Now
}

// Loop runs the first catch-up at once, then one every Interval, until ctx is done.
// A run in progress when ctx is done is cancelled. It returns nil after ctx is done,
// or an error for an unusable configuration.
func (c CatchUp) Loop(ctx context.Context) error {
	if c.Interval <= 0 || c.Lookback <= 0 || c.Run == nil {
		return errors.New("backfill: catch-up needs a positive Interval and Lookback and a Run")
	}
	now := c.Now
	if now == nil {
		now = time.Now
	}
	report := c.Report
	if report == nil {
		report = func(Summary, bool, error) {}
	}
	t := time.NewTicker(c.Interval)
	defer t.Stop()
	for {
		c.once(ctx, now, report)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

func (c CatchUp) once(ctx context.Context, now func() time.Time, report func(Summary, bool, error)) {
	if ctx.Err() != nil {
		return
	}
	held, release := ctx, func() {}
	if c.Lock != nil {
		h, r, ok, err := c.Lock(ctx)
		if err != nil || !ok {
			report(Summary{}, true, err)
			return
		}
		held, release = h, r
	}
	until := now()
	sum, err := c.Run(held, until.Add(-c.Lookback), until)
	release() // before reporting: the lock is free once the run is seen to be over
	report(sum, false, err)
}

// RedisLock is a lock with a lease in Redis: SET key token NX PX ttl, renewed every
// ttl/3 while held, released (and renewed) only while the key still holds our token,
// so an instance whose lease expired can never release or extend another's lock.
type RedisLock struct {
	Client redis.UniversalClient
	Key    string
	TTL    time.Duration // lease; 0 → 30s
}

var (
	releaseScript = redis.NewScript(`if redis.call("GET", KEYS[1]) == ARGV[1] then return redis.call("DEL", KEYS[1]) end return 0`)
	renewScript   = redis.NewScript(`if redis.call("GET", KEYS[1]) == ARGV[1] then return redis.call("PEXPIRE", KEYS[1], ARGV[2]) end return 0`)
)

// TryLock is a LockFunc.
func (l *RedisLock) TryLock(ctx context.Context) (context.Context, func(), bool, error) {
	ttl := l.TTL
	if ttl <= 0 {
		ttl = 30 * time.Second
	}
	var b [16]byte
	_, _ = rand.Read(b[:])
	token := hex.EncodeToString(b[:])
	ok, err := l.Client.SetNX(ctx, l.Key, token, ttl).Result()
	if err != nil {
		return nil, nil, false, fmt.Errorf("backfill: take lock %s: %w", l.Key, err)
	}
	if !ok {
		return nil, nil, false, nil
	}
	held, cancel := context.WithCancelCause(ctx)
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // renew the lease; lose the lock (cancel the run) when that fails
		defer wg.Done()
		tick := time.NewTicker(ttl / 3)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-held.Done():
				return
			case <-tick.C:
			}
			rctx, rcancel := context.WithTimeout(held, ttl/3)
			n, err := renewScript.Run(rctx, l.Client, []string{l.Key}, token, ttl.Milliseconds()).Int()
			rcancel()
			if err != nil || n != 1 {
				if err == nil {
					err = errors.New("lease expired and taken over")
				}
				cancel(fmt.Errorf("backfill: lost lock %s: %w", l.Key, err))
				return
			}
		}
	}()
	var once sync.Once
	release := func() {
		once.Do(func() {
			close(done)
			wg.Wait()
			cancel(nil)
			rctx, rcancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer rcancel()
			_ = releaseScript.Run(rctx, l.Client, []string{l.Key}, token).Err()
		})
	}
	return held, release, true, nil
}
