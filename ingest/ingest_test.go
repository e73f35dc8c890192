package ingest_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"github.com/stripe/stripe-go/v76/webhook"

	"github.com/servolution/stripe-comptentra-sync/eventtask"
	"github.com/servolution/stripe-comptentra-sync/ingest"
	"github.com/servolution/stripe-comptentra-sync/internal/redistest"
	"github.com/servolution/stripe-comptentra-sync/internal/syncbuf"
)

const (
	secret    = "whsec_test_primary_5f3c1a9e7d2b4c6a"
	secret2   = "whsec_test_rotated_0b8e6d4c2a1f3e5d"
	otherSecr = "whsec_test_unknown_9a9a9a9a9a9a9a9a"
)

type testEnv struct {
	srv  *ingest.Server
	h    http.Handler
	r    *redistest.Redis
	insp *asynq.Inspector
	logs *syncbuf.Buffer
}

// setup builds a Server on an isolated Redis queue, logging JSON at debug level.
func setup(t testing.TB, mod func(*ingest.Config)) *testEnv {
	t.Helper()
	r := redistest.New(t)
	logs := &syncbuf.Buffer{}
	cfg := ingest.Config{
		Secrets: []string{secret},
		Enqueue: eventtask.Options{Queue: r.Queue},
		Logger:  slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	if mod != nil {
		mod(&cfg)
	}
	client := asynq.NewClientFromRedisClient(r.Client)
	srv, err := ingest.New(cfg, client, func(ctx context.Context) error { return r.Client.Ping(ctx).Err() })
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return &testEnv{srv: srv, h: srv.Handler(), r: r, insp: asynq.NewInspectorFromRedisClient(r.Client), logs: logs}
}

// tasks lists the pending tasks of the test's queue.
func (e *testEnv) tasks(t testing.TB) []*asynq.TaskInfo {
	t.Helper()
	ts, err := e.insp.ListPendingTasks(e.r.Queue)
	if errors.Is(err, asynq.ErrQueueNotFound) {
		return nil
	}
	if err != nil {
		t.Fatalf("ListPendingTasks: %v", err)
	}
	return ts
}

func post(h http.Handler, body []byte, sig string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodPost, ingest.WebhookPath, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	if sig != "" {
		req.Header.Set(ingest.SignatureHeader, sig)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func get(h http.Handler, path string) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	return rec
}

func fixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

type respBody struct {
	Received  bool `json:"received"`
	Duplicate bool `json:"duplicate"`
	Ignored   bool `json:"ignored"`
	Error     *struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

func decode(t testing.TB, rec *httptest.ResponseRecorder) respBody {
	t.Helper()
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("Content-Type = %q, want JSON; body %s", ct, rec.Body)
	}
	var b respBody
	if err := json.Unmarshal(rec.Body.Bytes(), &b); err != nil {
		t.Fatalf("response is not JSON: %v: %s", err, rec.Body)
	}
	return b
}

func sign(body []byte, s string) string { return ingest.SignPayload(body, s, time.Now()) }

// event builds a small event JSON.
func event(id, typ, apiVersion string) []byte {
	return []byte(fmt.Sprintf(`{"id":%q,"object":"event","api_version":%q,"type":%q,"data":{"object":{"id":"ch_1","object":"charge"}}}`, id, apiVersion, typ))
}

func TestWebhook(t *testing.T) {
	now := time.Now()
	valid := fixture(t, "charge.succeeded.json") // evt_3NvKgBIGBnsLynRr0pJJqudS, 2023-10-16
	dahlia := fixture(t, "charge.succeeded.api-2026-04-22.dahlia.json")
	old := fixture(t, "charge.refund.updated.failed.json") // 2020-03-02
	unhandled := fixture(t, "object-event.json")           // setup_intent.created
	tampered := append(bytes.Clone(valid[:len(valid)-2]), []byte(" }")...)

	big := func(n int) []byte { // a handled event of exactly n bytes
		head := `{"id":"evt_big","object":"event","type":"charge.succeeded","pad":"`
		tail := `"}`
		return []byte(head + strings.Repeat("x", n-len(head)-len(tail)) + tail)
	}
	atMax, overMax := big(ingest.DefaultMaxBodyBytes), big(ingest.DefaultMaxBodyBytes+1)
	twoV1 := func(body []byte) string { // an old secret's signature first, then the current one
		ts := now.Unix()
		a := hex.EncodeToString(webhook.ComputeSignature(now, body, otherSecr))
		b := hex.EncodeToString(webhook.ComputeSignature(now, body, secret))
		return fmt.Sprintf("t=%d,v1=%s,v1=%s,v0=%s", ts, a, b, a)
	}

	cases := []struct {
		name     string
		secrets  []string
		body     []byte
		sig      string
		chunked  bool // no Content-Length: the cap must hold while reading
		status   int
		code     string // error code, "" for success
		ignored  bool
		wantTask string // id of the one task expected, "" for none
	}{
		{name: "valid event enqueued", body: valid, sig: sign(valid, secret), status: 200, wantTask: "evt_3NvKgBIGBnsLynRr0pJJqudS"},
		{name: "other api_version accepted (2026-04-22.dahlia)", body: dahlia, sig: sign(dahlia, secret), status: 200, wantTask: "evt_3TbGBUJEe0yY0QKr1eTEBGsV"},
		{name: "other api_version accepted (2020-03-02)", body: old, sig: sign(old, secret), status: 200, wantTask: "evt_1Gib6dHLwdCOCoR7mbMhSVu0"},
		{name: "event without api_version accepted", body: event("evt_nover", "payout.paid", ""), sig: sign(event("evt_nover", "payout.paid", ""), secret), status: 200, wantTask: "evt_nover"},
		{name: "unhandled type ignored", body: unhandled, sig: sign(unhandled, secret), status: 200, ignored: true},
		{name: "rotation: second secret matches", secrets: []string{secret2, secret}, body: valid, sig: sign(valid, secret), status: 200, wantTask: "evt_3NvKgBIGBnsLynRr0pJJqudS"},
		{name: "rotation: first secret matches", secrets: []string{secret, secret2}, body: valid, sig: sign(valid, secret), status: 200, wantTask: "evt_3NvKgBIGBnsLynRr0pJJqudS"},
		{name: "rotation: header with two v1 values, second matches", body: valid, sig: twoV1(valid), status: 200, wantTask: "evt_3NvKgBIGBnsLynRr0pJJqudS"},
		{name: "timestamp 290s old accepted", body: valid, sig: ingest.SignPayload(valid, secret, now.Add(-290*time.Second)), status: 200, wantTask: "evt_3NvKgBIGBnsLynRr0pJJqudS"},
		{name: "body of exactly MaxBodyBytes accepted", body: atMax, sig: sign(atMax, secret), status: 200, wantTask: "evt_big"},

		{name: "missing signature header", body: valid, sig: "", status: 400, code: ingest.CodeSignatureMissing},
		{name: "malformed header: garbage", body: valid, sig: "garbage", status: 400, code: ingest.CodeSignatureMalformed},
		{name: "malformed header: no timestamp", body: valid, sig: "v1=" + hex.EncodeToString(webhook.ComputeSignature(now, valid, secret)), status: 400, code: ingest.CodeSignatureMalformed},
		{name: "malformed header: non-numeric timestamp", body: valid, sig: "t=abc,v1=00ff", status: 400, code: ingest.CodeSignatureMalformed},
		{name: "malformed header: no v1", body: valid, sig: fmt.Sprintf("t=%d,v0=00ff", now.Unix()), status: 400, code: ingest.CodeSignatureMalformed},
		{name: "wrong secret", body: valid, sig: sign(valid, otherSecr), status: 400, code: ingest.CodeSignatureInvalid},
		{name: "wrong secret, two configured", secrets: []string{secret, secret2}, body: valid, sig: sign(valid, otherSecr), status: 400, code: ingest.CodeSignatureInvalid},
		{name: "body altered after signing", body: tampered, sig: sign(valid, secret), status: 400, code: ingest.CodeSignatureInvalid},
		{name: "stale timestamp (301s)", body: valid, sig: ingest.SignPayload(valid, secret, now.Add(-301*time.Second)), status: 400, code: ingest.CodeSignatureExpired},
		{name: "body over MaxBodyBytes (Content-Length)", body: overMax, sig: sign(overMax, secret), status: 413, code: ingest.CodeBodyTooLarge},
		{name: "body over MaxBodyBytes (chunked)", body: overMax, sig: sign(overMax, secret), chunked: true, status: 413, code: ingest.CodeBodyTooLarge},
		{name: "signed body is not JSON", body: []byte(`{"id": "evt_1", "type": "charge.succeeded"`), sig: sign([]byte(`{"id": "evt_1", "type": "charge.succeeded"`), secret), status: 400, code: ingest.CodeEventInvalid},
		{name: "signed body is a JSON array", body: []byte(`[1,2]`), sig: sign([]byte(`[1,2]`), secret), status: 400, code: ingest.CodeEventInvalid},
		{name: "signed body is null", body: []byte(`null`), sig: sign([]byte(`null`), secret), status: 400, code: ingest.CodeEventInvalid},
		{name: "event without id", body: []byte(`{"type":"charge.succeeded"}`), sig: sign([]byte(`{"type":"charge.succeeded"}`), secret), status: 400, code: ingest.CodeEventInvalid},
		{name: "event with blank id", body: []byte(`{"id":"  ","type":"charge.succeeded"}`), sig: sign([]byte(`{"id":"  ","type":"charge.succeeded"}`), secret), status: 400, code: ingest.CodeEventInvalid},
		{name: "event with numeric id", body: []byte(`{"id":12,"type":"charge.succeeded"}`), sig: sign([]byte(`{"id":12,"type":"charge.succeeded"}`), secret), status: 400, code: ingest.CodeEventInvalid},
		{name: "event without type", body: []byte(`{"id":"evt_notype"}`), sig: sign([]byte(`{"id":"evt_notype"}`), secret), status: 400, code: ingest.CodeEventInvalid},
		{name: "unhandled event without id still rejected", body: []byte(`{"type":"customer.created"}`), sig: sign([]byte(`{"type":"customer.created"}`), secret), status: 400, code: ingest.CodeEventInvalid},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := setup(t, func(c *ingest.Config) {
				if tc.secrets != nil {
					c.Secrets = tc.secrets
				}
			})
			var rec *httptest.ResponseRecorder
			if tc.chunked {
				req := httptest.NewRequest(http.MethodPost, ingest.WebhookPath, io.MultiReader(bytes.NewReader(tc.body)))
				req.ContentLength = -1
				req.Header.Set(ingest.SignatureHeader, tc.sig)
				rec = httptest.NewRecorder()
				e.h.ServeHTTP(rec, req)
			} else {
				rec = post(e.h, tc.body, tc.sig)
			}
			if rec.Code != tc.status {
				t.Fatalf("status = %d, want %d; body %s", rec.Code, tc.status, rec.Body)
			}
			b := decode(t, rec)
			if tc.code != "" {
				if b.Error == nil || b.Error.Code != tc.code || b.Error.Message == "" {
					t.Errorf("body = %s, want error code %q with a message", rec.Body, tc.code)
				}
				if b.Received || b.Ignored {
					t.Errorf("error response also claims success: %s", rec.Body)
				}
			} else {
				if b.Error != nil {
					t.Errorf("unexpected error body %s", rec.Body)
				}
				if b.Ignored != tc.ignored || b.Received == tc.ignored || b.Duplicate {
					t.Errorf("body = %s, want ignored=%v received=%v", rec.Body, tc.ignored, !tc.ignored)
				}
			}
			ts := e.tasks(t)
			if tc.wantTask == "" {
				if len(ts) != 0 {
					t.Fatalf("%d task(s) enqueued, want none", len(ts))
				}
				return
			}
			if len(ts) != 1 {
				t.Fatalf("%d task(s) enqueued, want 1", len(ts))
			}
			task := ts[0]
			if task.ID != tc.wantTask || task.Type != eventtask.TypeStripeEvent || task.Queue != e.r.Queue {
				t.Errorf("task id=%q type=%q queue=%q, want id=%q type=%q queue=%q",
					task.ID, task.Type, task.Queue, tc.wantTask, eventtask.TypeStripeEvent, e.r.Queue)
			}
			if !bytes.Equal(task.Payload, tc.body) {
				t.Errorf("payload differs from the raw body (%d vs %d bytes)", len(task.Payload), len(tc.body))
			}
			if task.MaxRetry != eventtask.DefaultMaxRetry || task.Retention != eventtask.DefaultRetention {
				t.Errorf("task MaxRetry=%d Retention=%s, want eventtask defaults", task.MaxRetry, task.Retention)
			}
		})
	}
}

func TestWebhookDuplicate(t *testing.T) {
	e := setup(t, nil)
	body := fixture(t, "charge.succeeded.json")

	first := post(e.h, body, sign(body, secret))
	if b := decode(t, first); first.Code != 200 || !b.Received || b.Duplicate {
		t.Fatalf("first delivery: %d %s", first.Code, first.Body)
	}
	// Stripe's redelivery carries a new timestamp and signature.
	second := post(e.h, body, ingest.SignPayload(body, secret, time.Now().Add(-10*time.Second)))
	if b := decode(t, second); second.Code != 200 || !b.Received || !b.Duplicate {
		t.Fatalf("second delivery: %d %s, want 200 received+duplicate", second.Code, second.Body)
	}
	if ts := e.tasks(t); len(ts) != 1 {
		t.Fatalf("%d tasks, want exactly 1", len(ts))
	}
	if !strings.Contains(e.logs.String(), `"duplicate":true`) {
		t.Errorf("duplicate not logged: %s", e.logs)
	}
}

// TestWebhookLogs checks the log lines about an event carry its id and type, and that
// an api_version other than stripe-go's is warned about once per version.
func TestWebhookLogs(t *testing.T) {
	e := setup(t, nil)
	for i := 0; i < 3; i++ {
		b := event("evt_log_"+strconv.Itoa(i), "charge.refunded", "2020-08-27")
		if rec := post(e.h, b, sign(b, secret)); rec.Code != 200 {
			t.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
	}
	b := event("evt_log_current", "charge.refunded", "2023-10-16")
	post(e.h, b, sign(b, secret))

	var warns, enqueued int
	for _, line := range strings.Split(strings.TrimSpace(e.logs.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line is not JSON: %q", line)
		}
		if strings.Contains(m["msg"].(string), "api_version") && m["level"] == "WARN" {
			warns++
			if m["api_version"] != "2020-08-27" || m["event_id"] != "evt_log_0" {
				t.Errorf("version warning lacks api_version/event_id: %s", line)
			}
		}
		if m["msg"] == "stripe event enqueued" {
			enqueued++
			if id, _ := m["event_id"].(string); !strings.HasPrefix(id, "evt_log_") || m["event_type"] != "charge.refunded" {
				t.Errorf("enqueue log lacks event_id/event_type: %s", line)
			}
		}
	}
	if warns != 1 {
		t.Errorf("%d api_version warnings, want 1 (once per version): %s", warns, e.logs)
	}
	if enqueued != 4 {
		t.Errorf("%d 'enqueued' lines, want 4", enqueued)
	}
}

// closedRedisClient returns an asynq client on a Redis that has gone away.
func closedRedisClient(t *testing.T) *asynq.Client {
	m := miniredis.RunT(t)
	addr := m.Addr()
	m.Close()
	c := asynq.NewClient(asynq.RedisClientOpt{Addr: addr})
	t.Cleanup(func() { c.Close() })
	return c
}

// hangingRedisClient returns an asynq client on a server that accepts connections and
// never answers, with the client's own timeouts far above the enqueue bound.
func hangingRedisClient(t *testing.T) *asynq.Client {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
	})
	c := asynq.NewClient(asynq.RedisClientOpt{Addr: ln.Addr().String(), ReadTimeout: 30 * time.Second, WriteTimeout: 30 * time.Second})
	t.Cleanup(func() { c.Close() })
	return c
}

func TestWebhookRedisDown(t *testing.T) {
	body := fixture(t, "charge.succeeded.json")
	cases := []struct {
		name   string
		client func(*testing.T) *asynq.Client
	}{
		{"Redis closed", closedRedisClient},
		{"Redis hangs", hangingRedisClient},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			logs := &syncbuf.Buffer{}
			srv, err := ingest.New(ingest.Config{
				Secrets:        []string{secret},
				EnqueueTimeout: 300 * time.Millisecond,
				Logger:         slog.New(slog.NewJSONHandler(logs, nil)),
			}, tc.client(t), func(context.Context) error { return errors.New("down") })
			if err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			rec := post(srv.Handler(), body, sign(body, secret))
			elapsed := time.Since(start)
			if rec.Code != http.StatusServiceUnavailable {
				t.Fatalf("status = %d, want 503; body %s", rec.Code, rec.Body)
			}
			if b := decode(t, rec); b.Error == nil || b.Error.Code != ingest.CodeEnqueueFailed || b.Received {
				t.Errorf("body = %s, want enqueue_failed", rec.Body)
			}
			if ra, err := strconv.Atoi(rec.Header().Get("Retry-After")); err != nil || ra <= 0 {
				t.Errorf("Retry-After = %q, want a positive number of seconds", rec.Header().Get("Retry-After"))
			}
			if elapsed > 2*time.Second {
				t.Errorf("503 took %s, want it bounded by the 300ms enqueue timeout", elapsed)
			}
			if l := logs.String(); !strings.Contains(l, `"event_id":"evt_3NvKgBIGBnsLynRr0pJJqudS"`) || !strings.Contains(l, `"level":"ERROR"`) {
				t.Errorf("failure not logged at error with event_id: %s", l)
			}
		})
	}
}

func TestHealthAndReady(t *testing.T) {
	e := setup(t, nil)
	cases := []struct {
		name   string
		h      http.Handler
		path   string
		status int
		want   string
	}{
		{"healthz", e.h, ingest.HealthPath, 200, `"status":"ok"`},
		{"readyz with Redis up", e.h, ingest.ReadyPath, 200, `"status":"ready"`},
		{"readyz with Redis down", newWithPing(t, func(ctx context.Context) error { return errors.New("connection refused") }), ingest.ReadyPath, 503, `"code":"not_ready"`},
		{"readyz with Redis hanging", newWithPing(t, func(ctx context.Context) error { time.Sleep(3 * time.Second); return nil }), ingest.ReadyPath, 503, `"code":"not_ready"`},
		{"readyz with a real closed Redis", newWithClosedRedis(t), ingest.ReadyPath, 503, `"code":"not_ready"`},
		{"healthz with Redis down", newWithPing(t, func(ctx context.Context) error { return errors.New("down") }), ingest.HealthPath, 200, `"status":"ok"`},
		{"unknown path is JSON 404", e.h, "/nope", 404, `"code":"not_found"`},
		{"GET on the webhook is JSON 405", e.h, ingest.WebhookPath, 405, `"code":"method_not_allowed"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			rec := get(tc.h, tc.path)
			if rec.Code != tc.status || !strings.Contains(rec.Body.String(), tc.want) {
				t.Fatalf("GET %s = %d %s, want %d containing %s", tc.path, rec.Code, rec.Body, tc.status, tc.want)
			}
			if !strings.HasPrefix(rec.Header().Get("Content-Type"), "application/json") {
				t.Errorf("Content-Type = %q", rec.Header().Get("Content-Type"))
			}
			if d := time.Since(start); d > 2*time.Second {
				t.Errorf("took %s, want the readiness timeout (500ms) to bound it", d)
			}
		})
	}
}

func newWithPing(t *testing.T, ping func(context.Context) error) http.Handler {
	srv, err := ingest.New(ingest.Config{Secrets: []string{secret}, ReadyTimeout: 500 * time.Millisecond,
		Logger: slog.New(slog.NewJSONHandler(io.Discard, nil))}, closedRedisClient(t), ping)
	if err != nil {
		t.Fatal(err)
	}
	return srv.Handler()
}

func newWithClosedRedis(t *testing.T) http.Handler {
	m := miniredis.RunT(t)
	addr := m.Addr()
	m.Close()
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	t.Cleanup(func() { rdb.Close() })
	return newWithPing(t, func(ctx context.Context) error { return rdb.Ping(ctx).Err() })
}

// TestNoSecretInLogsOrResponses sends requests that fail (and one that succeeds) and
// checks that neither a signing secret nor the Stripe-Signature value shows anywhere.
func TestNoSecretInLogsOrResponses(t *testing.T) {
	body := fixture(t, "charge.succeeded.json")
	stale := ingest.SignPayload(body, secret, time.Now().Add(-time.Hour))
	cases := []struct {
		name string
		sig  string
		body []byte
	}{
		{"wrong secret", sign(body, otherSecr), body},
		{"signed with the secret, body altered", sign(body, secret), append(bytes.Clone(body), ' ')},
		{"stale", stale, body},
		{"malformed header holding the secret", "t=1,v1=" + secret, body},
		{"secret as the header", secret, body},
		{"valid", sign(body, secret), body},
		{"valid but not JSON", sign([]byte("{"+secret), secret), []byte("{" + secret)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := setup(t, func(c *ingest.Config) { c.Secrets = []string{secret, secret2} })
			rec := post(e.h, tc.body, tc.sig)
			var hdrs strings.Builder
			rec.Header().Write(&hdrs)
			out := e.logs.String() + "\n" + rec.Body.String() + "\n" + hdrs.String()
			if e.logs.String() == "" {
				t.Fatal("nothing logged: the test would prove nothing")
			}
			for _, s := range []string{secret, secret2, "whsec_", tc.sig} {
				if strings.Contains(out, s) {
					t.Errorf("%q appears in logs or response:\n%s", s, out)
				}
			}
			// Neither the hex signatures of the header.
			for _, part := range strings.Split(tc.sig, ",") {
				if v, ok := strings.CutPrefix(part, "v1="); ok && len(v) >= 16 && strings.Contains(out, v) {
					t.Errorf("signature %q appears in logs or response", v)
				}
			}
		})
	}
}

func TestNewValidatesConfig(t *testing.T) {
	client := asynq.NewClient(asynq.RedisClientOpt{Addr: "127.0.0.1:1"})
	defer client.Close()
	ping := func(context.Context) error { return nil }
	cases := []struct {
		name   string
		cfg    ingest.Config
		client *asynq.Client
		ping   func(context.Context) error
		want   string // "" for success
	}{
		{"ok", ingest.Config{Secrets: []string{secret}}, client, ping, ""},
		{"no secret", ingest.Config{}, client, ping, "no webhook signing secret"},
		{"empty secret", ingest.Config{Secrets: []string{secret, ""}}, client, ping, "secret #2 is empty"},
		{"secret with newline", ingest.Config{Secrets: []string{secret + "\n"}}, client, ping, "whitespace"},
		{"negative tolerance", ingest.Config{Secrets: []string{secret}, Tolerance: -1}, client, ping, "Tolerance"},
		{"negative body cap", ingest.Config{Secrets: []string{secret}, MaxBodyBytes: -1}, client, ping, "MaxBodyBytes"},
		{"negative enqueue timeout", ingest.Config{Secrets: []string{secret}, EnqueueTimeout: -1}, client, ping, "EnqueueTimeout"},
		{"blank queue", ingest.Config{Secrets: []string{secret}, Enqueue: eventtask.Options{Queue: " "}}, client, ping, "queue"},
		{"nil client", ingest.Config{Secrets: []string{secret}}, nil, ping, "client"},
		{"nil ping", ingest.Config{Secrets: []string{secret}}, client, nil, "ping"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ingest.New(tc.cfg, tc.client, tc.ping)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("New: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one mentioning %q", err, tc.want)
			}
			if strings.Contains(err.Error(), secret) {
				t.Errorf("error shows the secret: %v", err)
			}
		})
	}
}

func TestSignPayload(t *testing.T) {
	body := []byte(`{"id":"evt_1"}`)
	at := time.Unix(1700000000, 0)
	h := ingest.SignPayload(body, secret, at)
	want := "t=1700000000,v1=" + hex.EncodeToString(webhook.ComputeSignature(at, body, secret))
	if h != want {
		t.Fatalf("SignPayload = %q, want %q", h, want)
	}
	if err := webhook.ValidatePayloadIgnoringTolerance(body, h, secret); err != nil {
		t.Fatalf("stripe-go rejects the header: %v", err)
	}
}

// FuzzWebhook feeds random bodies and Stripe-Signature headers (and random bodies
// correctly signed) to the handler: it must never panic nor answer 5xx while Redis works.
func FuzzWebhook(f *testing.F) {
	e := setup(f, nil)
	valid := fixture(f, "charge.succeeded.json")
	f.Add(valid, "", true)
	f.Add(valid, "t=1,v1=00", false)
	f.Add([]byte(`{"id":"evt_f","type":"payout.paid"}`), "", true)
	f.Add([]byte(`{"id":"evt_f","type":"customer.created"}`), "", true)
	f.Add([]byte(`{"id":" ","type":"payout.paid"}`), "", true)
	f.Add([]byte(`{"id":"`+strings.Repeat("z", 300)+`","type":"payout.paid"}`), "", true)
	f.Add([]byte(`[]`), "", true)
	f.Add([]byte(`{`), ",,,==,t=,v1=", false)
	f.Add([]byte{0xff, 0xfe, 0x00}, "t=99999999999999999999,v1=zz", false)
	f.Add([]byte(`{"id":"evt_x","type":"charge.succeeded"}`), "t=-5,v1=ab,v1=", false)
	f.Fuzz(func(t *testing.T, body []byte, sig string, signIt bool) {
		if signIt {
			sig = sign(body, secret)
		}
		rec := post(e.h, body, sig)
		if rec.Code >= 500 {
			t.Fatalf("status %d for body %q sig %q: %s", rec.Code, body, sig, rec.Body)
		}
		if !json.Valid(rec.Body.Bytes()) {
			t.Fatalf("response is not JSON: %q", rec.Body)
		}
		if !signIt && rec.Code == 200 {
			t.Fatalf("unsigned request accepted: sig %q", sig)
		}
	})
}
