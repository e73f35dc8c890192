package worker

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/servolution/stripe-comptentra-sync/comptentra/comptentratest"
)

// A worker stopped (SIGTERM) while tasks are in flight lets them finish within the
// shutdown timeout; what it had not started is processed by the next worker. Nothing
// is lost and nothing is booked twice.
func TestShutdownMidTaskLosesAndDoublesNothing(t *testing.T) {
	h := newHarness(t, comptentratest.Options{FiscalYears: openYears()})
	h.sandbox.SetFaults(comptentratest.Faults{LatencyMS: 150})
	h.cfg.Concurrency = 3
	const n = 12
	for i := 0; i < n; i++ {
		h.deliver(charge(fmt.Sprintf("ch_stop%02d", i), int64(1000+i)).Succeeded(march10), 5)
	}

	first := h.worker()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { first.Run(ctx); close(done) }()
	// Stop as soon as some tasks are being processed.
	deadline := time.Now().Add(10 * time.Second)
	for {
		info, err := h.insp.GetQueueInfo(h.r.Queue)
		if err == nil && info.Active > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no task became active")
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	<-done
	booked := len(h.entries("VTE"))
	if booked == 0 || booked == n {
		t.Logf("first worker booked %d of %d before stopping (the test is most telling in between)", booked, n)
	}
	info, _ := h.insp.GetQueueInfo(h.r.Queue)
	if info.Active != 0 {
		t.Errorf("%d tasks still active after a graceful stop", info.Active)
	}

	h.sandbox.ClearFaults()
	h.start()
	h.waitIdle(30 * time.Second)
	seen := map[string]int{}
	for _, e := range h.entries("VTE") {
		seen[e.PieceRef]++
	}
	if len(seen) != n {
		t.Errorf("%d charges booked, want %d", len(seen), n)
	}
	for piece, c := range seen {
		if c != 1 {
			t.Errorf("%s booked %d times", piece, c)
		}
	}
}
