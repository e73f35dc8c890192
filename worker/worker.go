// Package worker is the asynq worker pool of stripe-comptentra-sync: it takes the
// Stripe events ingest queued, computes their entries with package ledger, and posts
// each business fact to Comptentra exactly once, retrying temporary failures with
// exponential backoff and archiving permanent ones (also kept in a failure record of
// our own that never expires).
package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/servolution/stripe-comptentra-sync/comptentra"
	"github.com/servolution/stripe-comptentra-sync/eventtask"
	"github.com/servolution/stripe-comptentra-sync/ledger"
)

// DefaultKeyPrefix prefixes every Redis key of our own (records, locks, failures).
const DefaultKeyPrefix = "stripe-comptentra-sync:"

// Config configures a worker. Zero durations take the defaults below.
type Config struct {
	Rules       ledger.Rules
	Queue       string // default eventtask.DefaultQueue
	Concurrency int    // default 10
	KeyPrefix   string // default DefaultKeyPrefix

	TaskTimeout     time.Duration // default 60s; must be below ShutdownTimeout
	ShutdownTimeout time.Duration // default 90s
	LockTTL         time.Duration // lease of a business-key lock; default TaskTimeout
	LockWait        time.Duration // how long to wait for a held lock before retrying later; default 5s

	RetryBase time.Duration // first retry delay; default 2s, doubled each time
	RetryMax  time.Duration // cap of a retry delay; default 1h

	// DelayedTaskCheckInterval is how often asynq moves due retries back to pending;
	// default 1s (asynq's own 5s makes every retry up to 5s late).
	DelayedTaskCheckInterval time.Duration

	Stripe     StripeAPI  // nil: no STRIPE_API_KEY; fees and settlements are not booked
	RateSource string     // RateSourceStripe (default) or RateSourceECB
	ECB        RateSource // required with RateSourceECB

	// AlwaysLookUp looks in Comptentra by piece_ref before every POST, not only
	// before a retry. Safer with a Comptentra that ignores Idempotency-Key, dearer.
	AlwaysLookUp bool

	Logger  *slog.Logger
	Metrics *Metrics // nil: a private registry
	Now     func() time.Time
}

func (c Config) withDefaults() Config {
	if c.Queue == "" {
		c.Queue = eventtask.DefaultQueue
	}
	if c.Concurrency <= 0 {
		c.Concurrency = 10
	}
	if c.KeyPrefix == "" {
		c.KeyPrefix = DefaultKeyPrefix
	}
	if c.TaskTimeout <= 0 {
		c.TaskTimeout = 60 * time.Second
	}
	if c.ShutdownTimeout <= 0 {
		c.ShutdownTimeout = 90 * time.Second
	}
	if c.LockTTL <= 0 {
		c.LockTTL = c.TaskTimeout
	}
	if c.LockWait <= 0 {
		c.LockWait = 5 * time.Second
	}
	if c.RetryBase <= 0 {
		c.RetryBase = 2 * time.Second
	}
	if c.RetryMax <= 0 {
		c.RetryMax = time.Hour
	}
	if c.DelayedTaskCheckInterval <= 0 {
		c.DelayedTaskCheckInterval = time.Second
	}
	if c.RateSource == "" {
		c.RateSource = RateSourceStripe
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Metrics == nil {
		c.Metrics = NewMetrics(nil)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// Validate reports a configuration the worker cannot run with.
func (c Config) Validate() error {
	c = c.withDefaults()
	var errs []error
	if err := c.Rules.Validate(); err != nil {
		errs = append(errs, err)
	}
	if c.TaskTimeout >= c.ShutdownTimeout {
		errs = append(errs, fmt.Errorf("worker: task timeout %s must be below the shutdown timeout %s (WORKER_TASK_TIMEOUT < WORKER_SHUTDOWN_TIMEOUT), or a stopping worker abandons tasks mid-flight", c.TaskTimeout, c.ShutdownTimeout))
	}
	if c.RateSource != RateSourceStripe && c.RateSource != RateSourceECB {
		errs = append(errs, fmt.Errorf("worker: FX_RATE_SOURCE %q: want %q or %q", c.RateSource, RateSourceStripe, RateSourceECB))
	}
	if c.RateSource == RateSourceECB && c.ECB == nil {
		errs = append(errs, errors.New("worker: FX_RATE_SOURCE=ecb needs an ECB rate source"))
	}
	return errors.Join(errs...)
}

// Worker is a pool of asynq workers processing Stripe event tasks.
type Worker struct {
	cfg      Config
	srv      *asynq.Server
	mux      *asynq.ServeMux
	handler  *handler
	failures *FailureStore
}

// New builds a worker on the Redis of redisOpt. rdb is a client on the same Redis
// for our own records (business keys, locks, failures).
func New(cfg Config, redisOpt asynq.RedisConnOpt, rdb redis.UniversalClient, books Books) (*Worker, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	w := &Worker{cfg: cfg, failures: NewFailureStore(rdb, cfg.KeyPrefix)}
	w.handler = &handler{
		rules: cfg.Rules,
		poster: &poster{
			books: books, redis: rdb, prefix: cfg.KeyPrefix,
			lockTTL: cfg.LockTTL, lockWait: cfg.LockWait, now: cfg.Now,
			alwaysLookUp: cfg.AlwaysLookUp,
		},
		redis:      rdb,
		prefix:     cfg.KeyPrefix,
		stripe:     cfg.Stripe,
		ecb:        cfg.ECB,
		rateSource: cfg.RateSource,
		log:        cfg.Logger,
		timeout:    cfg.TaskTimeout,
		metrics:    cfg.Metrics,
		failures:   w.failures,
	}
	w.srv = asynq.NewServer(redisOpt, asynq.Config{
		Concurrency:              cfg.Concurrency,
		Queues:                   map[string]int{cfg.Queue: 1},
		RetryDelayFunc:           w.retryDelay,
		ErrorHandler:             asynq.ErrorHandlerFunc(w.handleError),
		ShutdownTimeout:          cfg.ShutdownTimeout,
		DelayedTaskCheckInterval: cfg.DelayedTaskCheckInterval,
		Logger:                   asynqLogger{cfg.Logger},
		LogLevel:                 asynq.WarnLevel,
	})
	w.mux = asynq.NewServeMux()
	w.mux.HandleFunc(eventtask.TypeStripeEvent, w.handler.HandleStripeEventTask)
	return w, nil
}

// Failures is the durable record of the events that ended in the archive.
func (w *Worker) Failures() *FailureStore { return w.failures }

// Run processes tasks until ctx is done, then stops taking new tasks and waits up to
// the shutdown timeout for those in flight; a task still running then is re-queued by
// asynq and, its side effects being idempotent, safely run again.
func (w *Worker) Run(ctx context.Context) error {
	if err := w.srv.Start(w.mux); err != nil {
		return fmt.Errorf("worker: start: %w", err)
	}
	w.cfg.Logger.Info("worker started", "queue", w.cfg.Queue, "concurrency", w.cfg.Concurrency,
		"stripe_api", w.cfg.Stripe != nil, "rate_source", w.cfg.RateSource)
	<-ctx.Done()
	w.cfg.Logger.Info("worker stopping", "shutdown_timeout", w.cfg.ShutdownTimeout.String())
	w.srv.Shutdown()
	return nil
}

// Ping checks that Redis answers (readiness).
func (w *Worker) Ping(ctx context.Context) error { return w.handler.redis.Ping(ctx).Err() }

// retryDelay is exponential with full jitter, capped, and never shorter than a
// Retry-After Comptentra asked for. n is 0 on the first failure.
func (w *Worker) retryDelay(n int, err error, t *asynq.Task) time.Duration {
	if errors.Is(err, ErrBusy) {
		return w.cfg.RetryBase // the other worker will be done in a moment
	}
	d := w.cfg.RetryBase << min(n, 30)
	if d <= 0 || d > w.cfg.RetryMax {
		d = w.cfg.RetryMax
	}
	d = d/2 + rand.N(d/2+1)
	if ra := comptentra.RetryAfter(err); ra > d {
		d = ra
	}
	return d
}

// handleError runs after every failed attempt: it logs, counts, and keeps a durable
// record of the events that go to the archive.
func (w *Worker) handleError(ctx context.Context, t *asynq.Task, err error) {
	id, _ := asynq.GetTaskID(ctx)
	retried, _ := asynq.GetRetryCount(ctx)
	maxRetry, _ := asynq.GetMaxRetry(ctx)
	archived := errors.Is(err, asynq.SkipRetry) || retried >= maxRetry
	attrs := []any{"event_id", id, "retried", retried, "max_retry", maxRetry, "error", err.Error()}
	var apiErr *comptentra.APIError
	if errors.As(err, &apiErr) {
		attrs = append(attrs, "comptentra_status", apiErr.StatusCode, "comptentra_code", apiErr.Code, "comptentra_request_id", apiErr.RequestID)
	}
	w.cfg.Metrics.failure(archived)
	if !archived {
		w.cfg.Logger.Warn("event failed, will retry", attrs...)
		return
	}
	w.cfg.Logger.Error("event failed permanently, archived", attrs...)
	f := Failure{EventID: id, Queue: w.cfg.Queue, Error: err.Error(), Retried: retried, FailedAt: w.cfg.Now().UTC(), Payload: t.Payload()}
	if apiErr != nil {
		f.Code = apiErr.Code
	}
	c, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := w.failures.Add(c, f); err != nil {
		w.cfg.Logger.Error("could not record failure", "event_id", id, "error", err)
	}
}

// asynqLogger sends asynq's own logs through slog.
type asynqLogger struct{ l *slog.Logger }

func (a asynqLogger) Debug(args ...any) { a.l.Debug(fmt.Sprint(args...), "component", "asynq") }
func (a asynqLogger) Info(args ...any)  { a.l.Info(fmt.Sprint(args...), "component", "asynq") }
func (a asynqLogger) Warn(args ...any)  { a.l.Warn(fmt.Sprint(args...), "component", "asynq") }
func (a asynqLogger) Error(args ...any) { a.l.Error(fmt.Sprint(args...), "component", "asynq") }
func (a asynqLogger) Fatal(args ...any) {
	a.l.Error(fmt.Sprint(args...), "component", "asynq")
	os.Exit(1) // asynq calls Fatal only when it cannot go on
}
