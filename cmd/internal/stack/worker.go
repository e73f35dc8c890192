// Package stack wires the programs together: the worker with its Comptentra client,
// Stripe API client, ECB rates and HTTP endpoints; ingest with its queue. cmd/worker,
// cmd/ingest and syncctl dev all start their services through it, so the one-process
// dev stack runs exactly what the separate programs run.
package stack

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/redis/go-redis/v9"
	"golang.org/x/time/rate"

	"github.com/servolution/stripe-comptentra-sync/cmd/internal/settings"
	"github.com/servolution/stripe-comptentra-sync/comptentra"
	"github.com/servolution/stripe-comptentra-sync/ecb"
	"github.com/servolution/stripe-comptentra-sync/stripeapi"
	"github.com/servolution/stripe-comptentra-sync/worker"
)

// Worker is a running worker with its HTTP endpoints.
type Worker struct {
	*worker.Worker
	HTTP http.Handler // /healthz, /readyz, /metrics
}

// NewWorker builds the worker of s on the Redis of redisOpt/ropt.
func NewWorker(ctx context.Context, s settings.Worker, redisOpt asynq.RedisConnOpt, ropt *redis.Options, log *slog.Logger) (*Worker, func(), error) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	metrics := worker.NewMetrics(reg)

	books, err := comptentra.NewClient(s.ComptentraURL, s.ComptentraKey,
		comptentra.WithHTTPClient(&http.Client{Transport: metrics.ComptentraTransport(nil)}),
		comptentra.WithUserAgent("stripe-comptentra-sync"))
	if err != nil {
		return nil, nil, fmt.Errorf("COMPTENTRA_URL / COMPTENTRA_API_KEY: %w", err)
	}

	cfg := s.Config
	cfg.Logger = log
	cfg.Metrics = metrics
	if s.StripeAPIKey != "" {
		// Stripe limits read requests per second (25 in test mode, 100 live): all the
		// worker goroutines of this process share one token bucket below that.
		limited := rateLimited{rate.NewLimiter(rate.Limit(s.StripeRateLimit), 1+int(s.StripeRateLimit)/5), metrics.StripeTransport(nil)}
		sc, err := stripeapi.New(stripeapi.Config{
			APIKey:     s.StripeAPIKey,
			BaseURL:    s.StripeAPIURL,
			HTTPClient: &http.Client{Transport: limited, Timeout: 30 * time.Second},
		})
		if err != nil {
			return nil, nil, fmt.Errorf("STRIPE_API_KEY / STRIPE_API_URL: %w", err)
		}
		cfg.Stripe = sc
	} else {
		log.Warn("STRIPE_API_KEY is not set: sales, refunds, payouts and disputes are booked from the webhook payloads, but Stripe fees and settlements (rule A′) are not, and foreign-currency charges need FX_RATE_SOURCE=ecb")
	}
	if cfg.RateSource == worker.RateSourceECB {
		cfg.ECB = ecb.NewSource(s.ECBRatesURL, &http.Client{Timeout: 30 * time.Second}, 6*time.Hour)
	}

	// A mapping to an account the user's chart lacks is reported now, not on the first event.
	checkCtx, cancel := context.WithTimeout(ctx, 15*time.Second)
	err = worker.CheckChart(checkCtx, books.Accounts, cfg.Rules)
	cancel()
	switch {
	case errors.Is(err, worker.ErrAccountMissing):
		return nil, nil, err
	case err != nil:
		log.Warn("could not check the chart of accounts at start-up; a missing account will fail its events permanently instead", "error", err)
	}

	rdb := redis.NewClient(ropt)
	w, err := worker.New(cfg, redisOpt, rdb, books)
	if err != nil {
		rdb.Close()
		return nil, nil, err
	}
	insp := asynq.NewInspector(redisOpt)
	metrics.WatchQueue(insp, cfg.Queue)

	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, `{"status":"ok"}`)
	})
	mux.HandleFunc("GET /readyz", func(rw http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := w.Ping(ctx); err != nil {
			writeJSON(rw, http.StatusServiceUnavailable, `{"status":"redis unreachable"}`)
			return
		}
		writeJSON(rw, http.StatusOK, `{"status":"ready"}`)
	})
	mux.Handle("GET /metrics", metrics.Handler())
	closeFn := func() { insp.Close(); rdb.Close() }
	return &Worker{Worker: w, HTTP: mux}, closeFn, nil
}

// rateLimited waits for a token before each request; the wait honours the request's context.
type rateLimited struct {
	limiter *rate.Limiter
	next    http.RoundTripper
}

func (r rateLimited) RoundTrip(req *http.Request) (*http.Response, error) {
	if err := r.limiter.Wait(req.Context()); err != nil {
		return nil, err
	}
	return r.next.RoundTrip(req)
}

func writeJSON(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	fmt.Fprintln(w, body)
}

// Listen opens addr ("host:port"; port 0 picks a free one).
func Listen(name, addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("%s=%q: %w", name, addr, err)
	}
	return ln, nil
}
