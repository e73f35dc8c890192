package worker

import (
	"net/http"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics are the worker's Prometheus metrics.
type Metrics struct {
	reg           *prometheus.Registry
	entries       *prometheus.CounterVec
	postDuration  *prometheus.HistogramVec
	failures      *prometheus.CounterVec
	comptentraDur *prometheus.HistogramVec
	stripeCalls   *prometheus.CounterVec
}

// NewMetrics registers the worker metrics on reg (a fresh registry when nil).
func NewMetrics(reg *prometheus.Registry) *Metrics {
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	m := &Metrics{
		reg: reg,
		entries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "stripe_sync_entries_total",
			Help: "Entries handled by journal and outcome (posted, replayed, found, recorded).",
		}, []string{"journal", "outcome"}),
		postDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "stripe_sync_entry_post_seconds",
			Help:    "Time to book one entry (record check, lock, Comptentra calls).",
			Buckets: prometheus.DefBuckets,
		}, []string{"journal"}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "stripe_sync_task_failures_total",
			Help: "Failed task attempts: result=retry (will be retried) or archived (needs an operator).",
		}, []string{"result"}),
		comptentraDur: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "stripe_sync_comptentra_request_seconds",
			Help:    "Comptentra API calls by method and HTTP status code.",
			Buckets: prometheus.DefBuckets,
		}, []string{"method", "code"}),
		stripeCalls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "stripe_sync_stripe_api_requests_total",
			Help: "Stripe API calls by method and HTTP status code.",
		}, []string{"method", "code"}),
	}
	reg.MustRegister(m.entries, m.postDuration, m.failures, m.comptentraDur, m.stripeCalls)
	return m
}

// Registry is where the metrics live (to serve or to gather in tests).
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the metrics in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// ComptentraTransport instruments the HTTP calls to Comptentra.
func (m *Metrics) ComptentraTransport(next http.RoundTripper) http.RoundTripper {
	if next == nil {
		next = http.DefaultTransport
	}
	return promhttp.InstrumentRoundTripperDuration(m.comptentraDur, next)
}

// StripeTransport counts the HTTP calls to the Stripe API.
func (m *Metrics) StripeTransport(next http.RoundTripper) http.RoundTripper {
	if next == nil {
		next = http.DefaultTransport
	}
	return promhttp.InstrumentRoundTripperCounter(m.stripeCalls, next)
}

// WatchQueue exports the size of the queue by state and the age of its oldest pending
// task, read from asynq every scrape.
func (m *Metrics) WatchQueue(insp *asynq.Inspector, queue string) {
	m.reg.MustRegister(&queueCollector{insp: insp, queue: queue})
}

func (m *Metrics) entry(journal string, o Outcome, d time.Duration) {
	m.entries.WithLabelValues(journal, string(o)).Inc()
	m.postDuration.WithLabelValues(journal).Observe(d.Seconds())
}

func (m *Metrics) failure(archived bool) {
	r := "retry"
	if archived {
		r = "archived"
	}
	m.failures.WithLabelValues(r).Inc()
}

var (
	queueSizeDesc = prometheus.NewDesc("stripe_sync_queue_tasks", "Tasks in the queue by state.", []string{"queue", "state"}, nil)
	queueAgeDesc  = prometheus.NewDesc("stripe_sync_queue_oldest_pending_seconds", "Age of the oldest pending task.", []string{"queue"}, nil)
)

type queueCollector struct {
	insp  *asynq.Inspector
	queue string
}

func (c *queueCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- queueSizeDesc
	ch <- queueAgeDesc
}

func (c *queueCollector) Collect(ch chan<- prometheus.Metric) {
	info, err := c.insp.GetQueueInfo(c.queue)
	if err != nil {
		return // the queue does not exist yet, or Redis is away: nothing to report
	}
	for state, n := range map[string]int{
		"pending": info.Pending, "active": info.Active, "scheduled": info.Scheduled,
		"retry": info.Retry, "archived": info.Archived, "completed": info.Completed,
	} {
		ch <- prometheus.MustNewConstMetric(queueSizeDesc, prometheus.GaugeValue, float64(n), c.queue, state)
	}
	ch <- prometheus.MustNewConstMetric(queueAgeDesc, prometheus.GaugeValue, info.Latency.Seconds(), c.queue)
}
