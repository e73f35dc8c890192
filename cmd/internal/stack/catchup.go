package stack

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/servolution/stripe-comptentra-sync/backfill"
	"github.com/servolution/stripe-comptentra-sync/eventtask"
	"github.com/servolution/stripe-comptentra-sync/stripeapi"
	"github.com/servolution/stripe-comptentra-sync/worker"
)

// DefaultCatchUpLookback is WORKER_CATCHUP_LOOKBACK's default.
const DefaultCatchUpLookback = 2 * time.Hour

// catchUpLockKey is the lock (under REDIS_KEY_PREFIX) that keeps catch-up to one
// worker replica at a time.
const catchUpLockKey = "catchup:lock"

// StartCatchUp starts the periodic catch-up when WORKER_CATCHUP_INTERVAL is set (a Go
// duration such as 15m; unset or "" = off, the default): every interval, one worker
// replica at a time (a Redis lock with a lease, under REDIS_KEY_PREFIX) reads the Stripe
// events of the last WORKER_CATCHUP_LOOKBACK (default 2h, at most 30 days, at least the
// interval) and enqueues those the queue does not know, like `syncctl backfill`. It
// needs STRIPE_API_KEY (and STRIPE_API_URL when not Stripe's), and enqueues into
// WORKER_QUEUE with eventtask's default options, as ingest does.
//
// The configuration is checked before StartCatchUp returns; the loop then runs in a
// goroutine until ctx is done, logging each run's summary. rdb must stay open until
// then.
func StartCatchUp(ctx context.Context, getenv func(string) string, redisOpt asynq.RedisConnOpt, rdb redis.UniversalClient, log *slog.Logger) error {
	raw := strings.TrimSpace(getenv("WORKER_CATCHUP_INTERVAL"))
	if raw == "" || raw == "0" || strings.EqualFold(raw, "off") {
		log.Debug("catch-up from the Stripe Events API is off (WORKER_CATCHUP_INTERVAL unset)")
		return nil
	}
	interval, err := time.ParseDuration(raw)
	if err != nil || interval <= 0 {
		return fmt.Errorf("WORKER_CATCHUP_INTERVAL=%q: want a positive Go duration such as 15m (unset: catch-up off)", raw)
	}
	lookback := DefaultCatchUpLookback
	if s := strings.TrimSpace(getenv("WORKER_CATCHUP_LOOKBACK")); s != "" {
		lookback, err = time.ParseDuration(s)
		if err != nil || lookback <= 0 {
			return fmt.Errorf("WORKER_CATCHUP_LOOKBACK=%q: want a positive Go duration such as 2h", s)
		}
	}
	var errs []error
	if lookback > backfill.Retention {
		errs = append(errs, fmt.Errorf("WORKER_CATCHUP_LOOKBACK=%s: Stripe's Events API keeps events for 30 days (720h) only", lookback))
	}
	if lookback < interval {
		errs = append(errs, fmt.Errorf("WORKER_CATCHUP_LOOKBACK (%s) must be at least WORKER_CATCHUP_INTERVAL (%s), or events between two runs are never looked at", lookback, interval))
	}
	key := strings.TrimSpace(getenv("STRIPE_API_KEY"))
	if key == "" {
		errs = append(errs, errors.New("WORKER_CATCHUP_INTERVAL is set but STRIPE_API_KEY is not: catch-up reads the Stripe Events API (set STRIPE_API_KEY, or unset WORKER_CATCHUP_INTERVAL)"))
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	src, err := stripeapi.New(stripeapi.Config{
		APIKey:     key,
		BaseURL:    strings.TrimSpace(getenv("STRIPE_API_URL")),
		HTTPClient: &http.Client{Timeout: 30 * time.Second},
	})
	if err != nil {
		return fmt.Errorf("STRIPE_API_KEY / STRIPE_API_URL: %w", err)
	}
	queue := strings.TrimSpace(getenv("WORKER_QUEUE"))
	if queue == "" {
		queue = eventtask.DefaultQueue
	}
	prefix := strings.TrimSpace(getenv("REDIS_KEY_PREFIX"))
	if prefix == "" {
		prefix = worker.DefaultKeyPrefix
	}
	if lookback > eventtask.DefaultRetention {
		log.Warn("WORKER_CATCHUP_LOOKBACK is longer than the queue keeps completed task ids: older events are enqueued again at every run and the worker re-checks them (harmless, deduplicated by business keys, but costly)",
			"lookback", lookback.String(), "retention", eventtask.DefaultRetention.String())
	}

	client := asynq.NewClient(redisOpt)
	lock := &backfill.RedisLock{Client: rdb, Key: prefix + catchUpLockKey, TTL: 30 * time.Second}
	c := backfill.CatchUp{
		Interval: interval,
		Lookback: lookback,
		Lock:     lock.TryLock,
		Run: func(ctx context.Context, since, until time.Time) (backfill.Summary, error) {
			return backfill.Run(ctx, src, client, backfill.Options{Since: since, Until: until, Now: until, Clamp: true, Queue: queue})
		},
		Report: func(sum backfill.Summary, skipped bool, err error) {
			switch {
			case skipped && err != nil:
				log.Warn("catch-up skipped: could not take its lock", "error", err)
			case skipped:
				log.Debug("catch-up skipped: another replica is running it")
			case err != nil && ctx.Err() != nil:
				log.Info("catch-up interrupted by shutdown", "read", sum.Read, "enqueued", sum.Enqueued, "already_known", sum.AlreadyKnown)
			case err != nil:
				log.Error("catch-up failed; the next run retries", "error", err,
					"read", sum.Read, "enqueued", sum.Enqueued, "already_known", sum.AlreadyKnown)
			default:
				log.Info("catch-up done", "since", sum.Since, "until", sum.Until,
					"read", sum.Read, "enqueued", sum.Enqueued, "already_known", sum.AlreadyKnown,
					"skipped", sum.Skipped, "duration_ms", sum.Duration.Milliseconds())
			}
		},
	}
	log.Info("catch-up from the Stripe Events API on", "interval", interval.String(), "lookback", lookback.String(), "queue", queue)
	go func() {
		defer client.Close()
		if err := c.Loop(ctx); err != nil {
			log.Error("catch-up stopped", "error", err)
		}
	}()
	return nil
}
