// Command comptentra-sandbox serves the in-memory Comptentra API of package comptentratest
// (docs/comptentra-api.md, "The sandbox") for docker compose and local development.
//
// Configuration by environment: SANDBOX_ADDR (default ":8090"), SANDBOX_API_KEY (generated
// and printed when unset — a local sandbox key, the one secret this program prints),
// SANDBOX_READ_ONLY_API_KEY, SANDBOX_FISCAL_YEARS, SANDBOX_CHART_FILE, SANDBOX_DATA_FILE,
// SANDBOX_DISABLE_IDEMPOTENCY, SANDBOX_SEED. Logs are JSON on stdout. SIGINT/SIGTERM shut
// the server down gracefully.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/servolution/stripe-comptentra-sync/comptentra/comptentratest"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Getenv, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "comptentra-sandbox:", err)
		os.Exit(1)
	}
}

const shutdownTimeout = 10 * time.Second

// run validates the configuration, serves until ctx is done, then shuts down gracefully.
func run(ctx context.Context, getenv func(string) string, stdout io.Writer) error {
	opts, addr, err := comptentratest.ConfigFromEnv(getenv)
	if err != nil {
		return fmt.Errorf("configuration: %w", err)
	}
	logger := slog.New(slog.NewJSONHandler(stdout, nil))
	opts.Logger = logger
	generated := opts.APIKey == ""
	srv, err := comptentratest.New(opts)
	if err != nil {
		return fmt.Errorf("sandbox: %w", err)
	}
	defer srv.Close()

	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("%s: %w", comptentratest.EnvAddr, err)
	}
	hs := &http.Server{Handler: srv, ReadHeaderTimeout: 10 * time.Second}
	if generated {
		// The documented exception: a generated local sandbox key is printed so it can be used.
		fmt.Fprintf(stdout, "comptentra-sandbox: generated API key (set %s to choose one): %s\n",
			comptentratest.EnvAPIKey, srv.APIKey())
	}
	logger.Info("comptentra sandbox listening", "addr", ln.Addr().String(),
		"base_url", "http://"+ln.Addr().String()+"/api/v1",
		"data_file", opts.DataFile, "idempotency", srv.IdempotencyEnabled())

	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	logger.Info("comptentra sandbox shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	srv.Close() // ends injected latencies so in-flight requests finish
	if err := hs.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	logger.Info("comptentra sandbox stopped")
	return nil
}
