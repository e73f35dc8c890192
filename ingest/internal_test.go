package ingest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/hibiken/asynq"
	"github.com/labstack/echo/v4"
)

// TestErrorHandler checks that a wrapped *echo.HTTPError keeps its status (echo's
// default handler would answer 500), and that every answer is JSON without internals.
func TestErrorHandler(t *testing.T) {
	client := asynq.NewClient(asynq.RedisClientOpt{Addr: "127.0.0.1:1"})
	defer client.Close()
	s, err := New(Config{Secrets: []string{"whsec_x"}, Logger: slog.New(slog.NewJSONHandler(io.Discard, nil))},
		client, func(context.Context) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name   string
		err    error
		method string
		status int
		body   string // substring; "" for an empty body
	}{
		{"plain HTTPError", echo.NewHTTPError(http.StatusTeapot, "short and stout"), "GET", 418, `{"error":{"code":"im_a_teapot","message":"short and stout"}}`},
		{"wrapped HTTPError", fmt.Errorf("outer: %w", echo.ErrNotFound), "GET", 404, `"code":"not_found"`},
		{"doubly wrapped 413", fmt.Errorf("a: %w", fmt.Errorf("b: %w", echo.ErrStatusRequestEntityTooLarge)), "POST", 413, `"code":"body_too_large"`},
		{"plain error hides its text", errors.New("dial tcp 10.0.0.1:6379: secret-internal"), "GET", 500, `"code":"internal_error"`},
		{"HEAD gets no body", echo.ErrMethodNotAllowed, "HEAD", 405, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			c := s.e.NewContext(httptest.NewRequest(tc.method, "/x", nil), rec)
			s.handleError(tc.err, c)
			if rec.Code != tc.status {
				t.Fatalf("status %d, want %d", rec.Code, tc.status)
			}
			if tc.body == "" {
				if rec.Body.Len() != 0 {
					t.Errorf("body %q, want none", rec.Body)
				}
				return
			}
			if !strings.Contains(rec.Body.String(), tc.body) || strings.Contains(rec.Body.String(), "secret-internal") {
				t.Errorf("body %s, want it to contain %s and no internals", rec.Body, tc.body)
			}
			if !strings.HasPrefix(rec.Header().Get("Content-Type"), "application/json") {
				t.Errorf("Content-Type %q", rec.Header().Get("Content-Type"))
			}
		})
	}

	t.Run("panic in a handler becomes a JSON 500", func(t *testing.T) {
		s.e.GET("/panic", func(echo.Context) error { panic("boom") })
		rec := httptest.NewRecorder()
		s.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/panic", nil))
		if rec.Code != 500 || !strings.Contains(rec.Body.String(), `"code":"internal_error"`) {
			t.Fatalf("got %d %s", rec.Code, rec.Body)
		}
	})
}

// A flood beyond MaxInFlight is answered 503 at once (Stripe retries it) instead of
// queueing goroutines and memory without bound.
func TestFloodBeyondMaxInFlightIs503(t *testing.T) {
	blocking := func(ctx context.Context) error { return nil }
	s, err := New(Config{Secrets: []string{"whsec_flood"}, MaxInFlight: 2}, asynq.NewClient(asynq.RedisClientOpt{Addr: "127.0.0.1:1"}), blocking)
	if err != nil {
		t.Fatal(err)
	}
	// Hold both slots, as two slow deliveries would.
	s.inFlight <- struct{}{}
	s.inFlight <- struct{}{}
	defer func() { <-s.inFlight; <-s.inFlight }()
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodPost, WebhookPath, strings.NewReader(`{}`))
	s.Handler().ServeHTTP(rec, req)
	if rec.Code != http.StatusServiceUnavailable || !strings.Contains(rec.Body.String(), CodeOverloaded) || rec.Header().Get("Retry-After") == "" {
		t.Fatalf("flood: %d %s, want 503 overloaded with Retry-After", rec.Code, rec.Body)
	}
}
