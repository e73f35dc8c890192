// Command ingest receives Stripe webhooks and enqueues the booked events in Redis.
// It serves GET /metrics (Prometheus) on the same address as the webhook.
//
// Environment: INGEST_ADDR (default ":8080"), REDIS_URL (default
// "redis://127.0.0.1:6379/0"), STRIPE_WEBHOOK_SECRET (required; comma-separated during
// a secret rotation), INGEST_QUEUE (default "stripe"), LOG_LEVEL (debug|info|warn|error)
// and LOG_FORMAT (json|text).
package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/redis/go-redis/v9"

	"github.com/servolution/stripe-comptentra-sync/cmd/internal/settings"
	"github.com/servolution/stripe-comptentra-sync/ingest"
	"github.com/servolution/stripe-comptentra-sync/internal/httpserve"
)

// shutdownTimeout bounds the graceful shutdown; it exceeds the enqueue bound so that
// an in-flight delivery gets its answer.
const shutdownTimeout = 20 * time.Second

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Getenv, os.Stderr); err != nil {
		fmt.Fprintf(os.Stderr, "ingest: %v\n", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, getenv func(string) string, stderr io.Writer) error {
	log, err := settings.Logger(getenv, stderr)
	if err != nil {
		return err
	}
	cfg, addr, redisURL, err := ingest.ConfigFromEnv(getenv)
	if err != nil {
		return err
	}
	cfg.Logger = log
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	cfg.Metrics = ingest.NewMetrics(reg)
	redisLogOnce.Do(func() { redis.SetLogger(redisLogger{log}) })

	// Both parsers accepted the URL in ConfigFromEnv; one go-redis client serves the
	// enqueues and the readiness ping.
	if _, err := asynq.ParseRedisURI(redisURL); err != nil {
		return fmt.Errorf("%s: invalid Redis URL", ingest.EnvRedisURL)
	}
	opt, err := redis.ParseURL(redisURL)
	if err != nil {
		return fmt.Errorf("%s: invalid Redis URL", ingest.EnvRedisURL)
	}
	opt.ContextTimeoutEnabled = true // honour the enqueue and ping deadlines
	rdb := redis.NewClient(opt)
	defer rdb.Close()
	client := asynq.NewClientFromRedisClient(rdb) // rdb.Close releases it

	srv, err := ingest.New(cfg, client, func(ctx context.Context) error { return rdb.Ping(ctx).Err() })
	if err != nil {
		return err
	}

	log.Info("ingest starting", "addr", addr, "redis", ingest.RedactURL(redisURL),
		"queue", cfg.Enqueue.Queue, "signing_secrets", len(cfg.Secrets))
	pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	if err := rdb.Ping(pctx).Err(); err != nil {
		// Not fatal: /readyz reports it and webhooks get 503 until Redis answers.
		log.Warn("Redis does not answer yet; webhooks get 503 until it does", "err", err)
	}
	cancel()

	return httpserve.Run(ctx, addr, srv.Handler(), shutdownTimeout, log)
}

var redisLogOnce sync.Once

// redisLogger sends go-redis' own messages (dial failures…) to slog instead of the
// standard logger.
type redisLogger struct{ log *slog.Logger }

func (l redisLogger) Printf(ctx context.Context, format string, v ...any) {
	l.log.WarnContext(ctx, "redis client", "detail", fmt.Sprintf(format, v...))
}
