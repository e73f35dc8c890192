package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/servolution/stripe-comptentra-sync/eventtask"
	"github.com/servolution/stripe-comptentra-sync/ingest"
	"github.com/servolution/stripe-comptentra-sync/internal/redistest"
	"github.com/servolution/stripe-comptentra-sync/internal/syncbuf"
)

const secret = "whsec_cmd_test_4c1d9e2f7a8b"

func TestRunConfigErrors(t *testing.T) {
	const pw = "hunter2-redis"
	cases := []struct {
		name      string
		env       map[string]string
		want      string
		forbidden []string
	}{
		{"no secret", map[string]string{}, "STRIPE_WEBHOOK_SECRET", nil},
		{"empty secret in list", map[string]string{"STRIPE_WEBHOOK_SECRET": secret + ",,"}, "STRIPE_WEBHOOK_SECRET", []string{secret}},
		{"bad REDIS_URL", map[string]string{"STRIPE_WEBHOOK_SECRET": secret, "REDIS_URL": "redis://:" + pw + "@h:port/0"}, "REDIS_URL", []string{pw, secret}},
		{"bad LOG_LEVEL", map[string]string{"STRIPE_WEBHOOK_SECRET": secret, "LOG_LEVEL": "loud"}, "LOG_LEVEL", []string{secret}},
		{"bad LOG_FORMAT", map[string]string{"STRIPE_WEBHOOK_SECRET": secret, "LOG_FORMAT": "yaml"}, "LOG_FORMAT", []string{secret}},
		{"address in use / invalid", map[string]string{"STRIPE_WEBHOOK_SECRET": secret, "INGEST_ADDR": "256.1.1.1:1", "REDIS_URL": "redis://127.0.0.1:1/0"}, "listen", []string{secret}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var stderr syncbuf.Buffer
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			err := run(ctx, func(k string) string { return tc.env[k] }, &stderr)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("run = %v, want an error naming %s", err, tc.want)
			}
			for _, f := range tc.forbidden {
				if strings.Contains(err.Error(), f) || strings.Contains(stderr.String(), f) {
					t.Errorf("%q shown in error %q or stderr %q", f, err, stderr.String())
				}
			}
		})
	}
}

func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// TestRunServes starts the command on a free port against the test Redis, delivers a
// signed event, checks the task and the logs, then stops it through the context.
func TestRunServes(t *testing.T) {
	r := redistest.New(t)
	addr := freeAddr(t)
	env := map[string]string{
		"INGEST_ADDR":           addr,
		"REDIS_URL":             r.URL,
		"STRIPE_WEBHOOK_SECRET": "whsec_other_one," + secret,
		"INGEST_QUEUE":          r.Queue,
		"LOG_LEVEL":             "debug",
	}
	var stderr syncbuf.Buffer
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- run(ctx, func(k string) string { return env[k] }, &stderr) }()

	base := "http://" + addr
	deadline := time.Now().Add(5 * time.Second)
	for {
		resp, err := http.Get(base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("not ready after 5s: %v; stderr %s", err, stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}

	body := []byte(`{"id":"evt_cmd_1","object":"event","api_version":"2023-10-16","type":"payout.paid","data":{"object":{"id":"po_1"}}}`)
	req, _ := http.NewRequest(http.MethodPost, base+"/stripe-webhook", bytes.NewReader(body))
	req.Header.Set("Stripe-Signature", ingest.SignPayload(body, secret, time.Now()))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(got), `"received":true`) {
		t.Fatalf("webhook: %d %s", resp.StatusCode, got)
	}
	info, err := asynq.NewInspectorFromRedisClient(r.Client).GetTaskInfo(r.Queue, "evt_cmd_1")
	if err != nil {
		t.Fatalf("task not in queue %s: %v", r.Queue, err)
	}
	if info.Type != eventtask.TypeStripeEvent || !bytes.Equal(info.Payload, body) {
		t.Errorf("task type %q payload %q", info.Type, info.Payload)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run = %v, want nil after SIGTERM-like cancel", err)
		}
	case <-time.After(25 * time.Second):
		t.Fatal("run did not stop")
	}
	logs := stderr.String()
	for _, want := range []string{`"msg":"ingest starting"`, `"signing_secrets":2`, `"event_id":"evt_cmd_1"`, `"msg":"http server stopped"`} {
		if !strings.Contains(logs, want) {
			t.Errorf("logs lack %s:\n%s", want, logs)
		}
	}
	for _, f := range []string{secret, "whsec_other_one"} {
		if strings.Contains(logs, f) {
			t.Errorf("logs show a secret")
		}
	}
}

// TestRunRedisDown: the command starts without Redis, reports not ready, answers 503.
func TestRunRedisDown(t *testing.T) {
	dead := freeAddr(t) // nothing listens there any more
	addr := freeAddr(t)
	env := map[string]string{
		"INGEST_ADDR": addr, "REDIS_URL": "redis://:pw-not-shown@" + dead + "/0",
		"STRIPE_WEBHOOK_SECRET": secret,
	}
	var stderr syncbuf.Buffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, func(k string) string { return env[k] }, &stderr) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run = %v", err)
		}
	}()
	base := "http://" + addr
	var status int
	for i := 0; i < 250; i++ {
		resp, err := http.Get(base + "/healthz")
		if err == nil {
			resp.Body.Close()
			status = resp.StatusCode
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if status != 200 {
		t.Fatalf("healthz = %d", status)
	}
	resp, err := http.Get(base + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 503 {
		t.Errorf("readyz = %d, want 503", resp.StatusCode)
	}
	body := []byte(`{"id":"evt_cmd_down","type":"charge.succeeded"}`)
	req, _ := http.NewRequest(http.MethodPost, base+"/stripe-webhook", bytes.NewReader(body))
	req.Header.Set("Stripe-Signature", ingest.SignPayload(body, secret, time.Now()))
	start := time.Now()
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 503 || time.Since(start) > 6*time.Second {
		t.Errorf("webhook with Redis down = %d after %s, want 503 within the 5s enqueue bound", resp.StatusCode, time.Since(start))
	}
	if strings.Contains(stderr.String(), "pw-not-shown") {
		t.Errorf("the Redis password is logged:\n%s", stderr.String())
	}
}
