package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"golang.org/x/sync/errgroup"

	"github.com/servolution/stripe-comptentra-sync/cmd/internal/settings"
	"github.com/servolution/stripe-comptentra-sync/cmd/internal/stack"
	"github.com/servolution/stripe-comptentra-sync/comptentra/comptentratest"
	"github.com/servolution/stripe-comptentra-sync/dashboard"
	"github.com/servolution/stripe-comptentra-sync/ingest"
	"github.com/servolution/stripe-comptentra-sync/internal/httpserve"
)

// runDev runs the whole stack in one process: the Comptentra sandbox, ingest and the
// worker, on REDIS_URL when set, otherwise on an embedded in-memory Redis.
func runDev(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("dev", flag.ContinueOnError)
	fs.SetOutput(stderr)
	if err := fs.Parse(args); err != nil {
		return flagError(err)
	}
	defaults := map[string]string{"LOG_FORMAT": "text"}
	env := func(k string) string {
		if v := getenv(k); v != "" {
			return v
		}
		return defaults[k]
	}
	log, err := settings.Logger(env, stderr)
	if err != nil {
		return err
	}

	durable := true
	if getenv("REDIS_URL") == "" {
		mr := miniredis.NewMiniRedis()
		if err := mr.StartAddr("127.0.0.1:0"); err != nil {
			return fmt.Errorf("embedded Redis: %w", err)
		}
		defer mr.Close()
		defaults["REDIS_URL"] = "redis://" + mr.Addr() + "/0"
		durable = false
	}
	redisURL, redisOpt, ropt, err := settings.Redis(env)
	if err != nil {
		return err
	}
	if err := ping(ctx, ropt); err != nil {
		return fmt.Errorf("REDIS_URL=%s does not answer: %w", settings.Redact(redisURL), err)
	}

	// The Comptentra sandbox.
	sbOpts, sbAddr, err := comptentratest.ConfigFromEnv(env)
	if err != nil {
		return err
	}
	sandbox, err := comptentratest.New(sbOpts)
	if err != nil {
		return err
	}
	sbLn, err := stack.Listen("SANDBOX_ADDR", sbAddr)
	if err != nil {
		return err
	}
	sandboxURL := "http://" + loopback(sbLn.Addr()) + "/api/v1"
	defaults["COMPTENTRA_URL"] = sandboxURL
	defaults["COMPTENTRA_API_KEY"] = sandbox.APIKey()

	// Ingest, with a generated webhook secret unless one is set.
	if getenv("STRIPE_WEBHOOK_SECRET") == "" {
		defaults["STRIPE_WEBHOOK_SECRET"] = "whsec_dev_" + randomHex(16)
	}
	inCfg, inAddr, _, err := ingest.ConfigFromEnv(env)
	if err != nil {
		return err
	}
	inCfg.Logger = log.With("service", "ingest")
	inCfg.Metrics = ingest.NewMetrics(nil)
	client := asynq.NewClient(redisOpt)
	defer client.Close()
	rdb := redis.NewClient(ropt)
	defer rdb.Close()
	in, err := ingest.New(inCfg, client, func(ctx context.Context) error { return rdb.Ping(ctx).Err() })
	if err != nil {
		return err
	}
	inLn, err := stack.Listen("INGEST_ADDR", inAddr)
	if err != nil {
		return err
	}

	// The worker, pointed at the sandbox unless COMPTENTRA_URL says otherwise.
	ws, err := settings.ReadWorker(env)
	if err != nil {
		return err
	}
	// The sandbox must answer before the worker checks the chart against it.
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return httpserve.Serve(gctx, sbLn, sandbox, 5*time.Second, log) })
	w, closeWorker, err := stack.NewWorker(gctx, ws, redisOpt, ropt, log.With("service", "worker"))
	if err != nil {
		sbLn.Close()
		inLn.Close()
		return err
	}
	defer closeWorker()
	wLn, err := stack.Listen("WORKER_ADDR", ws.Addr)
	if err != nil {
		return err
	}
	// The dashboard shares the worker's port, behind basic auth; no credentials, no dashboard.
	workerHTTP := http.NewServeMux()
	workerHTTP.Handle("/", w.HTTP)
	dashboardLine := "off (set DASHBOARD_USER and DASHBOARD_PASSWORD to serve asynqmon under /monitoring/)"
	if dash, err := dashboard.New(dashboard.Options{Redis: redisOpt, User: env("DASHBOARD_USER"), Password: env("DASHBOARD_PASSWORD"),
		ReadOnly: env("DASHBOARD_READ_ONLY") == "true"}); err == nil {
		workerHTTP.Handle(dashboard.RootPath+"/", dash)
		workerHTTP.Handle(dashboard.RootPath, dash)
		dashboardLine = "http://" + loopback(wLn.Addr()) + dashboard.RootPath + "/ (basic auth: DASHBOARD_USER)"
	}
	g.Go(func() error { return httpserve.Serve(gctx, inLn, in.Handler(), 10*time.Second, log) })
	g.Go(func() error { return w.Run(gctx) })
	g.Go(func() error { return httpserve.Serve(gctx, wLn, workerHTTP, 5*time.Second, log) })

	webhookURL := "http://" + loopback(inLn.Addr()) + "/stripe-webhook"
	secrets := env("STRIPE_WEBHOOK_SECRET")
	fmt.Fprintf(stdout, `
stripe-comptentra-sync dev stack is running (Ctrl-C stops everything)

  webhook URL      %s   (metrics: /metrics on the same port)
  webhook secret   %s
  sandbox URL      %s
  sandbox API key  %s
  worker           http://%s/healthz  /readyz  /metrics
  dashboard        %s
  redis            %s

  send a test event:  STRIPE_WEBHOOK_SECRET=%s go run ./cmd/syncctl trigger charge.succeeded -url %s
  with the Stripe CLI: stripe listen --forward-to %s
                       (then restart with STRIPE_WEBHOOK_SECRET=<the whsec_ stripe listen prints>,%s)
  see the entries:     curl -H 'X-API-Key: %s' '%s/ecritures?journal=VTE&limit=5'

`, webhookURL, secrets, sandboxURL, sandbox.APIKey(), loopback(wLn.Addr()), dashboardLine, settings.Redact(redisURL),
		firstSecret(secrets), webhookURL, webhookURL, firstSecret(secrets), sandbox.APIKey(), sandboxURL)
	if !durable {
		banner := strings.Repeat("!", 78)
		fmt.Fprintf(stdout, "%s\n!! REDIS_URL is not set: using an EMBEDDED IN-MEMORY Redis. NOTHING IS DURABLE:\n!! queued events are lost when this process stops. Set REDIS_URL for a real Redis.\n%s\n\n", banner, banner)
		log.Warn("embedded in-memory Redis: queued events do not survive a restart; set REDIS_URL for durability")
	}
	err = g.Wait()
	if ctx.Err() != nil {
		fmt.Fprintln(stdout, "dev stack stopped")
		return nil
	}
	return err
}

func ping(ctx context.Context, ropt *redis.Options) error {
	rdb := redis.NewClient(ropt)
	defer rdb.Close()
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	return rdb.Ping(ctx).Err()
}

// loopback turns ":8080" or "[::]:8080" into an address a browser on this machine can use.
func loopback(a net.Addr) string {
	host, port, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}

func firstSecret(list string) string {
	s, _, _ := strings.Cut(list, ",")
	return s
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
