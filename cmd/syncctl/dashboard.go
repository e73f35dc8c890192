package main

import (
	"context"
	"io"
	"net/http"
	"time"

	"github.com/servolution/stripe-comptentra-sync/cmd/internal/settings"
	"github.com/servolution/stripe-comptentra-sync/cmd/internal/stack"
	"github.com/servolution/stripe-comptentra-sync/dashboard"
	"github.com/servolution/stripe-comptentra-sync/internal/httpserve"
)

// runDashboard serves asynqmon under /monitoring/ behind basic auth on DASHBOARD_ADDR.
func runDashboard(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) error {
	log, err := settings.Logger(getenv, stderr)
	if err != nil {
		return err
	}
	_, redisOpt, _, err := settings.Redis(getenv)
	if err != nil {
		return err
	}
	h, err := dashboard.New(dashboard.Options{
		Redis: redisOpt, User: getenv("DASHBOARD_USER"), Password: getenv("DASHBOARD_PASSWORD"),
		ReadOnly: getenv("DASHBOARD_READ_ONLY") == "true",
	})
	if err != nil {
		return err
	}
	addr := envOr(getenv, "DASHBOARD_ADDR", ":8082")
	ln, err := stack.Listen("DASHBOARD_ADDR", addr)
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.Handle("/", h)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok\n")) })
	log.Info("dashboard listening", "addr", ln.Addr().String(), "path", dashboard.RootPath+"/")
	return httpserve.Serve(ctx, ln, mux, 5*time.Second, log)
}
