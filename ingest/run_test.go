package ingest_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/servolution/stripe-comptentra-sync/ingest"
	"github.com/servolution/stripe-comptentra-sync/internal/httpserve"
)

// TestServeGracefulShutdown starts a request that is held inside the real handler
// (a readiness ping that blocks), cancels the context, and checks that the request
// still gets its answer, that new connections are refused, and that Serve returns nil.
func TestServeGracefulShutdown(t *testing.T) {
	entered, release := make(chan struct{}), make(chan struct{})
	srv, err := ingest.New(ingest.Config{Secrets: []string{secret}, ReadyTimeout: 10 * time.Second,
		Logger: slog.New(slog.NewJSONHandler(io.Discard, nil))}, closedRedisClient(t),
		func(ctx context.Context) error { close(entered); <-release; return nil })
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + ln.Addr().String()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	served := make(chan error, 1)
	go func() {
		served <- httpserve.Serve(ctx, ln, srv.Handler(), 5*time.Second, slog.New(slog.NewJSONHandler(io.Discard, nil)))
	}()

	type result struct {
		status int
		body   string
		err    error
	}
	got := make(chan result, 1)
	go func() {
		resp, err := http.Get(url + ingest.ReadyPath)
		if err != nil {
			got <- result{err: err}
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		got <- result{status: resp.StatusCode, body: string(b)}
	}()
	select {
	case <-entered:
	case <-time.After(5 * time.Second):
		t.Fatal("request never reached the handler")
	}
	cancel()
	time.Sleep(200 * time.Millisecond) // let Shutdown close the listener

	select {
	case err := <-served:
		t.Fatalf("Serve returned (%v) before the in-flight request finished", err)
	default:
	}
	if c, err := net.DialTimeout("tcp", ln.Addr().String(), time.Second); err == nil {
		c.Close()
		t.Error("a new connection was accepted during shutdown")
	}
	close(release)

	r := <-got
	if r.err != nil || r.status != 200 || !strings.Contains(r.body, `"status":"ready"`) {
		t.Fatalf("in-flight request: %d %q %v, want 200 ready", r.status, r.body, r.err)
	}
	select {
	case err := <-served:
		if err != nil {
			t.Fatalf("Serve: %v, want nil after a clean shutdown", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return after the request finished")
	}
}

func TestServeShutdownTimeout(t *testing.T) {
	block := make(chan struct{})
	defer close(block)
	entered := make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { close(entered); <-block })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- httpserve.Serve(ctx, ln, h, 200*time.Millisecond, nil) }()
	go func() {
		if resp, err := http.Get("http://" + ln.Addr().String()); err == nil {
			resp.Body.Close()
		}
	}()
	<-entered
	cancel()
	select {
	case err := <-served:
		if err == nil || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Serve = %v, want a shutdown deadline error", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not give up after the shutdown timeout")
	}
}

func TestRun(t *testing.T) {
	t.Run("listen error", func(t *testing.T) {
		err := httpserve.Run(context.Background(), "256.0.0.1:http", http.NotFoundHandler(), time.Second, nil)
		if err == nil || !strings.Contains(err.Error(), "listen") {
			t.Fatalf("Run = %v, want a listen error", err)
		}
	})
	t.Run("serves then stops", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		if err := httpserve.Run(ctx, "127.0.0.1:0", http.NotFoundHandler(), time.Second, nil); err != nil {
			t.Fatalf("Run = %v, want nil", err)
		}
	})
}
