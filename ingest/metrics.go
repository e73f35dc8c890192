package ingest

import (
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/servolution/stripe-comptentra-sync/eventtask"
)

// MetricsPath is where the Server answers the Prometheus scrape when Config.Metrics is set.
const MetricsPath = "/metrics"

// Outcomes of a webhook delivery (label outcome).
const (
	OutcomeAccepted      = "accepted"       // a booked event, stored in the queue
	OutcomeDuplicate     = "duplicate"      // a booked event already in the queue (Stripe redelivery)
	OutcomeIgnored       = "ignored"        // a verified event of a type the product does not book
	OutcomeRejected      = "rejected"       // 4xx: bad signature, bad event, body problem (label reason)
	OutcomeEnqueueFailed = "enqueue_failed" // 503: Redis down, slow or failing
)

// rejectReasons are the values of the reason label of a rejected delivery: the error
// codes of the 4xx answers.
var rejectReasons = []string{
	CodeSignatureMissing, CodeSignatureMalformed, CodeSignatureInvalid, CodeSignatureExpired,
	CodeEventInvalid, CodeBodyTooLarge, CodeBodyUnreadable,
}

// Values of the type label that are not event types.
const (
	TypeUnknown = "unknown" // every rejected request: unverified, or verified but not a valid event
	TypeOther   = "other"   // verified event of a type not in eventtask.HandledTypes
)

// Metrics are ingest's Prometheus metrics. Every label value comes from a fixed set
// (the outcomes, the error codes, eventtask.HandledTypes, "other", "unknown"): nothing
// read from a request ends up in a label unless it matches one of those.
type Metrics struct {
	reg             *prometheus.Registry
	webhooks        *prometheus.CounterVec
	duration        *prometheus.HistogramVec
	enqueueFailures prometheus.Counter
}

// NewMetrics registers the ingest metrics on reg (a fresh registry when nil).
func NewMetrics(reg *prometheus.Registry) *Metrics {
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	m := &Metrics{
		reg: reg,
		webhooks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "stripe_sync_webhooks_total",
			Help: "Stripe webhook deliveries by event type (a booked type, \"other\" for a verified event not booked, \"unknown\" when rejected), outcome (accepted, duplicate, ignored, rejected, enqueue_failed) and, for rejected ones, reason (the error code).",
		}, []string{"type", "outcome", "reason"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "stripe_sync_webhook_duration_seconds",
			Help:    "Time to handle one Stripe webhook delivery (read, verify, enqueue), by outcome.",
			Buckets: prometheus.DefBuckets,
		}, []string{"outcome"}),
		enqueueFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "stripe_sync_enqueue_failures_total",
			Help: "Booked events that could not be stored in Redis (answered 503; Stripe retries them).",
		}),
	}
	reg.MustRegister(m.webhooks, m.duration, m.enqueueFailures)
	// Every series that can occur starts at 0, so that the first delivery of a kind is
	// an increase (rate, increase) and not the appearance of a series.
	for _, t := range eventtask.HandledTypes {
		for _, o := range []string{OutcomeAccepted, OutcomeDuplicate, OutcomeEnqueueFailed} {
			m.webhooks.WithLabelValues(t, o, "")
		}
	}
	m.webhooks.WithLabelValues(TypeOther, OutcomeIgnored, "")
	for _, code := range rejectReasons {
		m.webhooks.WithLabelValues(TypeUnknown, OutcomeRejected, code)
	}
	for _, o := range []string{OutcomeAccepted, OutcomeDuplicate, OutcomeIgnored, OutcomeRejected, OutcomeEnqueueFailed} {
		m.duration.WithLabelValues(o)
	}
	return m
}

// Registry is where the metrics live (to serve or to gather in tests).
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the metrics of the registry in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// webhookResult is what one delivery did, as labelled in the metrics.
type webhookResult struct {
	typ     string // a handled event type, TypeOther or TypeUnknown
	outcome string // one of the Outcome… constants; "" records nothing
	reason  string // the error code of a rejection, "" otherwise
}

// rejected is the result of a 4xx answer with error code code.
func rejected(code string) webhookResult {
	return webhookResult{typ: TypeUnknown, outcome: OutcomeRejected, reason: code}
}

// verified is the result of a verified event of type t with outcome.
func verified(t, outcome string) webhookResult {
	return webhookResult{typ: typeLabel(t), outcome: outcome}
}

// typeLabel maps an event type to its bounded label value.
func typeLabel(t string) string {
	if eventtask.Handled(t) {
		return t
	}
	return TypeOther
}

func (m *Metrics) webhook(r webhookResult, d time.Duration) {
	if r.outcome == "" {
		return
	}
	m.webhooks.WithLabelValues(r.typ, r.outcome, r.reason).Inc()
	m.duration.WithLabelValues(r.outcome).Observe(d.Seconds())
	if r.outcome == OutcomeEnqueueFailed {
		m.enqueueFailures.Inc()
	}
}
