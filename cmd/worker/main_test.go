package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/servolution/stripe-comptentra-sync/comptentra/comptentratest"
	"github.com/servolution/stripe-comptentra-sync/internal/redistest"
	"github.com/servolution/stripe-comptentra-sync/internal/syncbuf"
)

const (
	comptentraKey = "ck_live_SECRET_comptentra_key_123"
	stripeKey     = "rk_live_SECRET_stripe_key_456"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

// Bad settings stop the worker at start-up with a message naming the variable, and no
// secret ever appears in that message or in the logs.
func TestStartupErrorsNameTheSettingAndHideSecrets(t *testing.T) {
	base := map[string]string{"COMPTENTRA_API_KEY": comptentraKey, "STRIPE_API_KEY": stripeKey, "REDIS_URL": "redis://:hunter2pass@127.0.0.1:1/0"}
	for _, tc := range []struct {
		name, key, value, want string
	}{
		{"no Comptentra key", "COMPTENTRA_API_KEY", "", "COMPTENTRA_API_KEY"},
		{"bad Comptentra URL", "COMPTENTRA_URL", "ftp://x", "COMPTENTRA_URL"},
		{"bad concurrency", "WORKER_CONCURRENCY", "lots", "WORKER_CONCURRENCY"},
		{"bad timeout", "WORKER_TASK_TIMEOUT", "soon", "WORKER_TASK_TIMEOUT"},
		{"task timeout above shutdown", "WORKER_TASK_TIMEOUT", "5m", "WORKER_SHUTDOWN_TIMEOUT"},
		{"bad account", "ACCOUNT_SALES", "ventes", "ACCOUNT_SALES"},
		{"bad VAT rate", "VAT_DEFAULT_RATE", "vingt", "VAT_DEFAULT_RATE"},
		{"bad rate map", "ACCOUNT_VAT_BY_RATE", "5.5:445713", "ACCOUNT_VAT_BY_RATE"},
		{"bad payout account", "PAYOUT_ACCOUNT", "cash", "PAYOUT_ACCOUNT"},
		{"bad dispute policy", "LOST_DISPUTE_POLICY", "forget", "LOST_DISPUTE_POLICY"},
		{"bad rate source", "FX_RATE_SOURCE", "bce", "FX_RATE_SOURCE"},
		{"bad Stripe key", "STRIPE_API_KEY", "pk_live_SECRET_publishable", "STRIPE_API_KEY"},
		{"bad log level", "LOG_LEVEL", "loud", "LOG_LEVEL"},
		{"bad Redis URL", "REDIS_URL", "http://:hunter2pass@host", "REDIS_URL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := map[string]string{}
			for k, v := range base {
				m[k] = v
			}
			m[tc.key] = tc.value
			stderr := &bytes.Buffer{}
			err := run(context.Background(), env(m), stderr)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("run() = %v, want an error naming %s", err, tc.want)
			}
			for _, secret := range []string{comptentraKey, stripeKey, "hunter2pass", "SECRET"} {
				if strings.Contains(err.Error(), secret) || strings.Contains(stderr.String(), secret) {
					t.Errorf("secret %q leaked:\nerror: %v\nlogs: %s", secret, err, stderr)
				}
			}
		})
	}
}

// A configured account missing from the Comptentra chart stops the worker at start-up,
// naming the account and its variable.
func TestStartupChecksTheChart(t *testing.T) {
	r := redistest.New(t)
	sb := comptentratest.NewServer(t, comptentratest.Options{})
	stderr := &bytes.Buffer{}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	err := run(ctx, env(map[string]string{
		"REDIS_URL": r.URL, "WORKER_QUEUE": r.Queue, "REDIS_KEY_PREFIX": r.Prefix, "WORKER_ADDR": "127.0.0.1:0",
		"COMPTENTRA_URL": sb.URL(), "COMPTENTRA_API_KEY": sb.APIKey(), "ACCOUNT_FEES": "627999",
	}), stderr)
	if err == nil || !strings.Contains(err.Error(), "627999") || !strings.Contains(err.Error(), "ACCOUNT_FEES") {
		t.Fatalf("run() = %v, want a start-up error naming 627999 and ACCOUNT_FEES", err)
	}
	if strings.Contains(err.Error()+stderr.String(), sb.APIKey()) {
		t.Error("the Comptentra key leaked")
	}
}

// Started without a Stripe key, the worker warns that fees and settlements are not
// booked, serves its health endpoints, and stops cleanly on cancel.
func TestWorkerStartsWarnsAndStops(t *testing.T) {
	r := redistest.New(t)
	sb := comptentratest.NewServer(t, comptentratest.Options{})
	stderr := &syncbuf.Buffer{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, env(map[string]string{
			"REDIS_URL": r.URL, "WORKER_QUEUE": r.Queue, "REDIS_KEY_PREFIX": r.Prefix, "WORKER_ADDR": "127.0.0.1:0",
			"COMPTENTRA_URL": sb.URL(), "COMPTENTRA_API_KEY": sb.APIKey(),
		}), stderr)
	}()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(stderr.String(), "worker started") {
		if time.Now().After(deadline) {
			t.Fatalf("worker did not start:\n%s", stderr)
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("worker did not stop")
	}
	logs := stderr.String()
	if !strings.Contains(logs, "STRIPE_API_KEY is not set") {
		t.Errorf("no warning about fees without a Stripe key:\n%s", logs)
	}
	if strings.Contains(logs, sb.APIKey()) {
		t.Error("the Comptentra key appears in the logs")
	}
}
