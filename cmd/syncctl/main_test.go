package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/servolution/stripe-comptentra-sync/internal/redistest"
	"github.com/servolution/stripe-comptentra-sync/internal/syncbuf"
	"github.com/servolution/stripe-comptentra-sync/worker"
)

func envMap(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

// startDev runs `syncctl dev` on free ports and returns what its banner says.
func startDev(t *testing.T, env map[string]string) (banner map[string]string, stdout *syncbuf.Buffer) {
	t.Helper()
	for k, v := range map[string]string{"INGEST_ADDR": "127.0.0.1:0", "WORKER_ADDR": "127.0.0.1:0", "SANDBOX_ADDR": "127.0.0.1:0", "LOG_LEVEL": "warn"} {
		if _, ok := env[k]; !ok {
			env[k] = v
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	stdout, stderr := &syncbuf.Buffer{}, &syncbuf.Buffer{}
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"dev"}, envMap(env), stdout, stderr) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("dev returned %v", err)
			}
			if !strings.Contains(stdout.String(), "dev stack stopped") {
				t.Errorf("dev did not say it stopped:\n%s", stdout)
			}
		case <-time.After(30 * time.Second):
			t.Error("dev did not stop within 30s of Ctrl-C")
		}
	})
	field := regexp.MustCompile(`(?m)^  (webhook URL|webhook secret|sandbox URL|sandbox API key)\s+(\S+)`)
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if m := field.FindAllStringSubmatch(stdout.String(), -1); len(m) == 4 {
			banner = map[string]string{}
			for _, f := range m {
				banner[f[1]] = f[2]
			}
			return banner, stdout
		}
		select {
		case err := <-done:
			t.Fatalf("dev stopped: %v\nstdout:\n%s\nstderr:\n%s", err, stdout, stderr)
		case <-time.After(50 * time.Millisecond):
		}
	}
	t.Fatalf("no banner after 30s:\n%s\n%s", stdout, stderr)
	return nil, nil
}

func sandboxEntries(t *testing.T, url, key, journal string) []map[string]any {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url+"/ecritures?journal="+journal+"&limit=50", nil)
	req.Header.Set("X-API-Key", key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var page struct {
		Data []map[string]any `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&page); err != nil {
		t.Fatal(err)
	}
	return page.Data
}

// The two commands a new user starts with: dev runs everything, trigger sends an event.
func TestDevAndTrigger(t *testing.T) {
	env := map[string]string{}
	if redistest.Real() {
		r := redistest.New(t)
		env["REDIS_URL"], env["WORKER_QUEUE"], env["INGEST_QUEUE"], env["REDIS_KEY_PREFIX"] = r.URL, r.Queue, r.Queue, r.Prefix
	}
	banner, stdout := startDev(t, env)
	if !redistest.Real() && !strings.Contains(stdout.String(), "NOTHING IS DURABLE") {
		t.Errorf("embedded Redis not announced loudly:\n%s", stdout)
	}
	for _, want := range []string{"stripe listen --forward-to " + banner["webhook URL"], "journal=VTE&limit=5", "dashboard        off"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("banner lacks %q:\n%s", want, stdout)
		}
	}

	out := &bytes.Buffer{}
	err := run(context.Background(), []string{"trigger", "charge.succeeded", "-url", banner["webhook URL"],
		"-amount", "12000", "-charge", "ch_trigger1", "-email", "jeanne@example.com", "-at", "2026-03-14T10:00:00+01:00"},
		envMap(map[string]string{"STRIPE_WEBHOOK_SECRET": banner["webhook secret"]}), out, out)
	if err != nil || !strings.Contains(out.String(), "200 OK") {
		t.Fatalf("trigger: %v\n%s", err, out)
	}
	// A second delivery of the same charge under another event: still one entry.
	out.Reset()
	if err := run(context.Background(), []string{"trigger", "charge.captured", "-url", banner["webhook URL"], "-secret", banner["webhook secret"],
		"-amount", "12000", "-charge", "ch_trigger1", "-at", "2026-03-14T10:00:00+01:00"}, envMap(nil), out, out); err != nil {
		t.Fatalf("trigger captured: %v\n%s", err, out)
	}

	var entries []map[string]any
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if entries = sandboxEntries(t, banner["sandbox URL"], banner["sandbox API key"], "VTE"); len(entries) > 0 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond) // let the captured event be processed too
	entries = sandboxEntries(t, banner["sandbox URL"], banner["sandbox API key"], "VTE")
	if len(entries) != 1 {
		t.Fatalf("%d VTE entries, want 1: %v", len(entries), entries)
	}
	if entries[0]["date"] != "2026-03-14" || entries[0]["piece_ref"] != "ch_trigger1" {
		t.Errorf("entry %v", entries[0])
	}

	// A wrong secret is refused by ingest and reported with a non-zero exit.
	out.Reset()
	err = run(context.Background(), []string{"trigger", "charge.succeeded", "-url", banner["webhook URL"], "-secret", "whsec_wrong"}, envMap(nil), out, out)
	var ec exitCode
	if !errors.As(err, &ec) || !strings.Contains(out.String(), "400") {
		t.Errorf("wrong secret: %v %s, want exit 1 and the 400", err, out)
	}
}

func TestUsage(t *testing.T) {
	for _, args := range [][]string{nil, {"nope"}, {"failed"}, {"trigger"}} {
		if err := run(context.Background(), args, envMap(nil), &bytes.Buffer{}, &bytes.Buffer{}); !errors.Is(err, errUsage) {
			t.Errorf("%v: %v, want errUsage", args, err)
		}
	}
	out := &bytes.Buffer{}
	if err := run(context.Background(), []string{"help"}, envMap(nil), out, out); err != nil || !strings.Contains(out.String(), "syncctl dev") {
		t.Errorf("help: %v %s", err, out)
	}
}

func TestFailedListAndRetry(t *testing.T) {
	r := redistest.New(t)
	env := envMap(map[string]string{"REDIS_URL": r.URL, "REDIS_KEY_PREFIX": r.Prefix, "WORKER_QUEUE": r.Queue})
	store := worker.NewFailureStore(r.Client, r.Prefix)
	ctx := context.Background()
	for _, id := range []string{"evt_failed_a", "evt_failed_b"} {
		if err := store.Add(ctx, worker.Failure{EventID: id, Queue: r.Queue, Code: "compte_inconnu", Error: "comptentra: 422 compte_inconnu", FailedAt: time.Now(), Payload: json.RawMessage(`{"id":"` + id + `","type":"charge.succeeded","data":{"object":{}}}`)}); err != nil {
			t.Fatal(err)
		}
	}
	out := &bytes.Buffer{}
	if err := run(ctx, []string{"failed", "list"}, env, out, out); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"evt_failed_a", "evt_failed_b", "compte_inconnu", "2 failed event(s)"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("list lacks %q:\n%s", want, out)
		}
	}
	out.Reset()
	if err := run(ctx, []string{"failed", "retry", "evt_failed_a"}, env, out, out); err != nil {
		t.Fatalf("retry: %v\n%s", err, out)
	}
	opt, _ := asynq.ParseRedisURI(r.URL)
	insp := asynq.NewInspector(opt)
	defer insp.Close()
	info, err := insp.GetTaskInfo(r.Queue, "evt_failed_a")
	if err != nil || info.State != asynq.TaskStatePending || info.Retried != 0 {
		t.Fatalf("re-enqueued task: %+v %v, want pending with a fresh budget", info, err)
	}
	if _, err := store.Get(ctx, "evt_failed_a"); !errors.Is(err, worker.ErrUnknownFailure) {
		t.Errorf("failure a still recorded: %v", err)
	}
	out.Reset()
	if err := run(ctx, []string{"failed", "retry", "--all"}, env, out, out); err != nil {
		t.Fatalf("retry --all: %v\n%s", err, out)
	}
	if list, _ := store.List(ctx); len(list) != 0 {
		t.Errorf("failures left after retry --all: %v", list)
	}
	out.Reset()
	if err := run(ctx, []string{"failed", "retry", "evt_unknown"}, env, out, out); err == nil || !strings.Contains(out.String(), "no failure recorded") {
		t.Errorf("unknown id: %v %s", err, out)
	}
}

func TestDevServesTheDashboardOnlyWithCredentials(t *testing.T) {
	env := map[string]string{"DASHBOARD_USER": "admin", "DASHBOARD_PASSWORD": "s3cret"}
	if redistest.Real() {
		r := redistest.New(t)
		env["REDIS_URL"], env["WORKER_QUEUE"], env["INGEST_QUEUE"], env["REDIS_KEY_PREFIX"] = r.URL, r.Queue, r.Queue, r.Prefix
	}
	_, stdout := startDev(t, env)
	m := regexp.MustCompile(`dashboard\s+(http://\S+/monitoring/)`).FindStringSubmatch(stdout.String())
	if m == nil {
		t.Fatalf("no dashboard URL in the banner:\n%s", stdout)
	}
	resp, err := http.Get(m[1])
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("dashboard without credentials: %d, want 401", resp.StatusCode)
	}
	req, _ := http.NewRequest(http.MethodGet, m[1], nil)
	req.SetBasicAuth("admin", "s3cret")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("dashboard with credentials: %d, want 200", resp.StatusCode)
	}
}
