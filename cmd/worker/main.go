// Command worker runs the asynq worker pool that books queued Stripe events into
// Comptentra. Configuration comes from the environment; see README.md.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/redis/go-redis/v9"
	"golang.org/x/sync/errgroup"

	"github.com/servolution/stripe-comptentra-sync/cmd/internal/settings"
	"github.com/servolution/stripe-comptentra-sync/cmd/internal/stack"
	"github.com/servolution/stripe-comptentra-sync/internal/httpserve"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Getenv, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "worker:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, getenv settings.Getenv, stderr io.Writer) error {
	log, err := settings.Logger(getenv, stderr)
	if err != nil {
		return err
	}
	s, err := settings.ReadWorker(getenv)
	if err != nil {
		return err
	}
	_, redisOpt, ropt, err := settings.Redis(getenv)
	if err != nil {
		return err
	}
	w, closeFn, err := stack.NewWorker(ctx, s, redisOpt, ropt, log)
	if err != nil {
		return err
	}
	defer closeFn()
	ln, err := stack.Listen("WORKER_ADDR", s.Addr)
	if err != nil {
		return err
	}
	g, ctx := errgroup.WithContext(ctx)
	rdb := redis.NewClient(ropt)
	defer rdb.Close()
	// Optional periodic catch-up from Stripe's Events API (WORKER_CATCHUP_INTERVAL).
	if err := stack.StartCatchUp(ctx, getenv, redisOpt, rdb, log); err != nil {
		return err
	}
	g.Go(func() error { return w.Run(ctx) })
	g.Go(func() error { return httpserve.Serve(ctx, ln, w.HTTP, s.Config.ShutdownTimeout, log) })
	return g.Wait()
}
