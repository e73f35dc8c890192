package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/servolution/stripe-comptentra-sync/comptentra"
	"github.com/servolution/stripe-comptentra-sync/internal/syncbuf"
)

func env(kv map[string]string) func(string) string { return func(k string) string { return kv[k] } }

// start runs the program and returns its base URL, its output and a stop function that
// returns run's error.
func start(t *testing.T, vars map[string]string) (string, *syncbuf.Buffer, func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	out := &syncbuf.Buffer{}
	errc := make(chan error, 1)
	go func() { errc <- run(ctx, env(vars), out) }()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		sc := bufio.NewScanner(strings.NewReader(out.String()))
		for sc.Scan() {
			var line struct {
				Msg     string `json:"msg"`
				BaseURL string `json:"base_url"`
			}
			if json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == "comptentra sandbox listening" {
				return line.BaseURL, out, func() error {
					cancel()
					select {
					case err := <-errc:
						return err
					case <-time.After(10 * time.Second):
						t.Fatal("run did not return after cancel")
						return nil
					}
				}
			}
		}
		select {
		case err := <-errc:
			cancel()
			t.Fatalf("run returned early: %v; output %s", err, out.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
	cancel()
	t.Fatalf("never listening; output %s", out.String())
	return "", nil, nil
}

func get(t *testing.T, url, key string) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	if key != "" {
		req.Header.Set(comptentra.HeaderAPIKey, key)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, b
}

func TestRunServesAndShutsDown(t *testing.T) {
	dataFile := filepath.Join(t.TempDir(), "ledger.json")
	base, out, stop := start(t, map[string]string{
		"SANDBOX_ADDR":         "127.0.0.1:0",
		"SANDBOX_API_KEY":      "ck_fixed",
		"SANDBOX_FISCAL_YEARS": "2025=clos,2026=ouvert",
		"SANDBOX_DATA_FILE":    dataFile,
	})
	if code, _ := get(t, base+"/comptes", ""); code != 401 {
		t.Errorf("no key: %d", code)
	}
	code, body := get(t, base+"/exercices", "ck_fixed")
	if code != 200 || !strings.Contains(string(body), `"ex_2026"`) {
		t.Errorf("exercices: %d %s", code, body)
	}
	if code, _ := get(t, strings.TrimSuffix(base, "/api/v1")+"/_sandbox/stats", ""); code != 200 {
		t.Errorf("stats: %d", code)
	}
	if err := stop(); err != nil {
		t.Fatalf("run: %v", err)
	}
	if strings.Contains(out.String(), "ck_fixed") {
		t.Error("a configured key was printed")
	}
	if !strings.Contains(out.String(), "shutting down") {
		t.Errorf("no shutdown log: %s", out.String())
	}
}

func TestRunPrintsGeneratedKey(t *testing.T) {
	base, out, stop := start(t, map[string]string{"SANDBOX_ADDR": "127.0.0.1:0"})
	defer func() {
		if err := stop(); err != nil {
			t.Error(err)
		}
	}()
	m := regexp.MustCompile(`generated API key .*: (ck_sandbox_[0-9a-f]+)`).FindStringSubmatch(out.String())
	if m == nil {
		t.Fatalf("no generated key printed: %s", out.String())
	}
	if code, _ := get(t, base+"/comptes", m[1]); code != 200 {
		t.Errorf("the printed key does not work: %d", code)
	}
}

func TestRunRejectsBadConfig(t *testing.T) {
	tests := []struct{ k, v string }{
		{"SANDBOX_ADDR", "nope"},
		{"SANDBOX_FISCAL_YEARS", "2026"},
		{"SANDBOX_CHART_FILE", "/does/not/exist.json"},
		{"SANDBOX_DATA_FILE", "/does/not/exist/d.json"},
		{"SANDBOX_DISABLE_IDEMPOTENCY", "perhaps"},
		{"SANDBOX_API_KEY", "two words"},
	}
	for _, tc := range tests {
		t.Run(tc.k, func(t *testing.T) {
			err := run(context.Background(), env(map[string]string{tc.k: tc.v}), io.Discard)
			if err == nil || !strings.Contains(err.Error(), tc.k) {
				t.Errorf("error %v does not name %s", err, tc.k)
			}
		})
	}
	t.Run("address in use", func(t *testing.T) {
		base, _, stop := start(t, map[string]string{"SANDBOX_ADDR": "127.0.0.1:0"})
		defer func() { _ = stop() }()
		addr := strings.TrimSuffix(strings.TrimPrefix(base, "http://"), "/api/v1")
		err := run(context.Background(), env(map[string]string{"SANDBOX_ADDR": addr}), io.Discard)
		if err == nil || !strings.Contains(err.Error(), "SANDBOX_ADDR") {
			t.Errorf("%v", err)
		}
	})
}
