package worker

import (
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/servolution/stripe-comptentra-sync/comptentra"
	"github.com/servolution/stripe-comptentra-sync/comptentra/comptentratest"
	"github.com/servolution/stripe-comptentra-sync/internal/metricstest"
)

// metricSeries flattens family name of m's registry (see metricstest.Series).
func metricSeries(t *testing.T, m *Metrics, name string) map[string]float64 {
	t.Helper()
	return metricstest.Series(t, metricstest.Gather(t, m.Registry()), name)
}

func wantSeries(t *testing.T, m *Metrics, name string, want map[string]float64) {
	t.Helper()
	got := metricSeries(t, m, name)
	if !maps.Equal(got, want) {
		t.Errorf("%s = %v, want %v", name, got, want)
	}
}

func sumSeries(s map[string]float64) float64 {
	var n float64
	for _, v := range s {
		n += v
	}
	return n
}

// instrumentBooks replaces the harness' Comptentra client by one whose requests go
// through m.ComptentraTransport, as cmd/internal/stack wires it.
func instrumentBooks(t *testing.T, h *harness, m *Metrics) {
	t.Helper()
	books, err := comptentra.NewClient(h.sandbox.URL(), h.sandbox.APIKey(),
		comptentra.WithHTTPClient(&http.Client{Transport: m.ComptentraTransport(nil)}),
		comptentra.WithTimeout(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	h.books = books
}

const (
	mEntries    = "stripe_sync_entries_total"
	mPostSecs   = "stripe_sync_entry_post_seconds"
	mFailures   = "stripe_sync_task_failures_total"
	mComptentra = "stripe_sync_comptentra_request_seconds"
	mQueueTasks = "stripe_sync_queue_tasks"
	mQueueAge   = "stripe_sync_queue_oldest_pending_seconds"
)

// A sale counts one posted VTE entry and one Comptentra POST; its redeliveries count
// recorded entries and no Comptentra request.
func TestMetricsEntriesPostedThenRecorded(t *testing.T) {
	h := newHarness(t, comptentratest.Options{FiscalYears: openYears()})
	m := NewMetrics(nil)
	h.cfg.Metrics = m
	instrumentBooks(t, h, m)
	w := h.worker()

	wantSeries(t, m, mEntries, map[string]float64{})
	wantSeries(t, m, mComptentra, map[string]float64{})

	ch := charge("ch_metrics", 12000)
	sale := ch.Succeeded(march10)
	if err := h.handle(w, sale); err != nil {
		t.Fatal(err)
	}
	wantSeries(t, m, mEntries, map[string]float64{"journal=VTE,outcome=posted": 1})
	wantSeries(t, m, mPostSecs, map[string]float64{"journal=VTE": 1})
	wantSeries(t, m, mComptentra, map[string]float64{"code=201,method=post": 1})
	if got, want := sumSeries(metricSeries(t, m, mComptentra)), float64(h.sandbox.Stats().Requests); got != want {
		t.Errorf("%g Comptentra requests observed, the sandbox served %g", got, want)
	}

	// The same event again, then the same fact under another event: both find the
	// Redis record and send nothing to Comptentra.
	if err := h.handle(w, sale); err != nil {
		t.Fatal(err)
	}
	if err := h.handle(w, ch.CapturedEvent(march10)); err != nil {
		t.Fatal(err)
	}
	wantSeries(t, m, mEntries, map[string]float64{"journal=VTE,outcome=posted": 1, "journal=VTE,outcome=recorded": 2})
	wantSeries(t, m, mPostSecs, map[string]float64{"journal=VTE": 3})
	wantSeries(t, m, mComptentra, map[string]float64{"code=201,method=post": 1})
	if n := len(h.entries("VTE")); n != 1 {
		t.Fatalf("%d VTE entries, want 1", n)
	}
	// Handled directly, no task failed: the failure counter has no series.
	wantSeries(t, m, mFailures, map[string]float64{})
}

// A POST whose answer was lost (502 after commit) is found on the retry: outcome found,
// and the Comptentra histogram shows the 502 POST and the GET that found the entry.
func TestMetricsLostResponseCountsFound(t *testing.T) {
	h := newHarness(t, comptentratest.Options{FiscalYears: openYears()})
	if err := h.sandbox.SetFaults(comptentratest.Faults{CommitThenFailRate: 1}); err != nil {
		t.Fatal(err)
	}
	m := NewMetrics(nil)
	h.cfg.Metrics = m
	instrumentBooks(t, h, m)
	w := h.worker()
	evt := charge("ch_metrics_lost", 12000).Succeeded(march10)
	var apiErr *comptentra.APIError
	if err := h.handle(w, evt); !errors.As(err, &apiErr) || apiErr.StatusCode != 502 {
		t.Fatalf("first attempt: %v, want the 502 of commit_then_fail", err)
	}
	wantSeries(t, m, mEntries, map[string]float64{})
	if err := h.handle(w, evt); err != nil {
		t.Fatalf("retry: %v", err)
	}
	wantSeries(t, m, mEntries, map[string]float64{"journal=VTE,outcome=found": 1})
	wantSeries(t, m, mComptentra, map[string]float64{"code=502,method=post": 1, "code=200,method=get": 1})
	if got, want := sumSeries(metricSeries(t, m, mComptentra)), float64(h.sandbox.Stats().Requests); got != want {
		t.Errorf("%g Comptentra requests observed, the sandbox served %g", got, want)
	}
}

// A sales account missing from the chart fails at once: one archived failure, no retry,
// and the queue gauges read from asynq show the archived task.
func TestMetricsArchivedFailureAndQueueGauges(t *testing.T) {
	h := newHarness(t, comptentratest.Options{FiscalYears: openYears()})
	h.cfg.Rules.Accounts.Sales = "708500" // not in the sandbox chart
	h.cfg.Rules.Accounts.SalesRefunds = "708500"
	m := NewMetrics(nil)
	h.cfg.Metrics = m
	instrumentBooks(t, h, m)
	m.WatchQueue(h.insp, h.r.Queue)

	// The queue does not exist yet: the collector reports nothing rather than failing.
	wantSeries(t, m, mQueueTasks, map[string]float64{})
	wantSeries(t, m, mQueueAge, map[string]float64{})

	h.start()
	evt := charge("ch_metrics_badacct", 12000).Succeeded(march10)
	h.deliver(evt, 10)
	if info := h.waitIdle(20 * time.Second); info.Archived != 1 {
		t.Fatalf("archived %d, want 1\nlogs:\n%s", info.Archived, h.logs)
	}

	// asynq runs the error handler before it archives the task: idle means counted.
	wantSeries(t, m, mFailures, map[string]float64{"result=archived": 1})
	wantSeries(t, m, mEntries, map[string]float64{})
	q := "queue=" + h.r.Queue + ","
	wantSeries(t, m, mQueueTasks, map[string]float64{
		q + "state=pending": 0, q + "state=active": 0, q + "state=scheduled": 0,
		q + "state=retry": 0, q + "state=archived": 1, q + "state=completed": 0,
	})
	wantSeries(t, m, mQueueAge, map[string]float64{"queue=" + h.r.Queue: 0})

	// The rejected POST was observed with its 4xx code, and nothing was created.
	cs := metricSeries(t, m, mComptentra)
	var rejected float64
	for k, v := range cs {
		if strings.HasPrefix(k, "code=4") && strings.HasSuffix(k, ",method=post") {
			rejected += v
		}
		if strings.HasPrefix(k, "code=2") && strings.HasSuffix(k, ",method=post") {
			t.Errorf("a POST succeeded: %s", k)
		}
	}
	if rejected != 1 {
		t.Errorf("%s = %v, want one POST answered 4xx", mComptentra, cs)
	}
	if got, want := sumSeries(cs), float64(h.sandbox.Stats().Requests); got != want {
		t.Errorf("%g Comptentra requests observed, the sandbox served %g", got, want)
	}
}

// A temporary failure counts result=retry; when the retries are exhausted the last
// failure counts result=archived.
func TestMetricsRetryThenArchive(t *testing.T) {
	h := newHarness(t, comptentratest.Options{FiscalYears: openYears()})
	if err := h.sandbox.SetFaults(comptentratest.Faults{ErrorRate: 1, ErrorStatus: 503}); err != nil {
		t.Fatal(err)
	}
	m := NewMetrics(nil)
	h.cfg.Metrics = m
	instrumentBooks(t, h, m)
	m.WatchQueue(h.insp, h.r.Queue)
	h.start()
	h.deliver(charge("ch_metrics_503", 5000).Succeeded(march10), 1) // one retry allowed
	if info := h.waitIdle(30 * time.Second); info.Archived != 1 {
		t.Fatalf("archived %d, want 1\nlogs:\n%s", info.Archived, h.logs)
	}
	wantSeries(t, m, mFailures, map[string]float64{"result=retry": 1, "result=archived": 1})
	wantSeries(t, m, mEntries, map[string]float64{})
	if got := metricSeries(t, m, mQueueTasks)["queue="+h.r.Queue+",state=archived"]; got != 1 {
		t.Errorf("%s{state=archived} = %g, want 1", mQueueTasks, got)
	}
	cs := metricSeries(t, m, mComptentra)
	if cs["code=503,method=post"] < 1 {
		t.Errorf("%s = %v, want the 503 POSTs observed", mComptentra, cs)
	}
	if got, want := sumSeries(cs), float64(h.sandbox.Stats().Requests); got != want {
		t.Errorf("%g Comptentra requests observed, the sandbox served %g", got, want)
	}
}

// The metrics endpoint serves the worker families by name.
func TestMetricsHandlerServesWorkerFamilies(t *testing.T) {
	h := newHarness(t, comptentratest.Options{FiscalYears: openYears()})
	m := NewMetrics(nil)
	h.cfg.Metrics = m
	instrumentBooks(t, h, m)
	w := h.worker()
	if err := h.handle(w, charge("ch_metrics_http", 1000).Succeeded(march10)); err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	body := rec.Body.String()
	if rec.Code != http.StatusOK || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/plain") {
		t.Fatalf("GET /metrics = %d %q", rec.Code, rec.Header().Get("Content-Type"))
	}
	for _, want := range []string{
		fmt.Sprintf(`%s{journal="VTE",outcome="posted"} 1`, mEntries),
		fmt.Sprintf(`%s_count{journal="VTE"} 1`, mPostSecs),
		fmt.Sprintf(`%s_count{code="201",method="post"} 1`, mComptentra),
	} {
		if !strings.Contains(body, want+"\n") {
			t.Errorf("GET /metrics lacks %q:\n%s", want, body)
		}
	}
	if strings.Contains(body, h.sandbox.APIKey()) {
		t.Errorf("GET /metrics shows the Comptentra API key")
	}
}
