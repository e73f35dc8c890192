package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestChaosSmall runs the chaos suite small: 60 events, 2 workers SIGKILLed twice,
// ingest and Redis restarted once, sandbox faults, 2 poison events. A SIGKILLed
// worker's task is recovered by asynq only once its lease has expired (about a
// minute), which is most of this test's ~70 s.
func TestChaosSmall(t *testing.T) {
	if _, err := exec.LookPath("redis-server"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("redis-server is not installed (apt-get install redis-server); the chaos test needs a Redis it can restart")
		}
		t.Skip("redis-server is not installed (apt-get install redis-server); the chaos test needs a Redis it can restart")
	}
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("the go command is needed to build the programs")
	}
	if testing.Short() {
		t.Skip("the chaos run takes about 70 s")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	var out bytes.Buffer
	err := run(ctx, []string{"chaos", "--events", "60", "--workers", "2", "--seed", "20261204", "--dup", "0.3",
		"--poison", "2", "--deliver-over", "4s", "--kill-every", "1s", "--max-kills", "2",
		"--duration-limit", "3m", "--no-idempotency"}, func(string) string { return "" }, &out, &out)
	t.Log(out.String())
	if err != nil {
		t.Fatalf("chaos: %v", err)
	}
	s := out.String()
	if !strings.Contains(s, ", duplicates 0, lost 0, failed 2\n") {
		t.Errorf("summary line: want duplicates 0, lost 0, failed 2")
	}
	for _, want := range []string{"worker kills 2,", "ingest restarts 1,", "redis restarts 1,", "2 failed event(s)", "OK: "} {
		if !strings.Contains(s, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	if n := strings.Count(s, "\nevents "); n != 1 {
		t.Errorf("%d summary lines, want 1", n)
	}
}
