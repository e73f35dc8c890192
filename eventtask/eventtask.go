// Package eventtask is the contract between ingest and the worker: the asynq task
// that carries one verified Stripe event, and the options it is enqueued with.
// ingest and worker never import each other; both import this package.
package eventtask

import (
	"errors"
	"time"

	"github.com/hibiken/asynq"
)

// TypeStripeEvent is the asynq task type of a verified Stripe event.
// Its payload is the raw event JSON exactly as Stripe sent it.
const TypeStripeEvent = "stripe:event"

// DefaultQueue is the asynq queue events go through.
const DefaultQueue = "stripe"

// Defaults of the enqueue options. MaxRetry 20 with the worker's exponential backoff
// (capped at one hour) spans about 16 hours before a task is archived; Retention keeps
// a completed task, and so its id, for Stripe's 3-day redelivery window, which makes
// ingest answer a redelivered event as a duplicate without touching the worker.
const (
	DefaultMaxRetry  = 20
	DefaultTimeout   = 2 * time.Minute
	DefaultRetention = 72 * time.Hour
)

// ErrNoEventID is returned for an event without an id: it cannot be deduplicated.
var ErrNoEventID = errors.New("eventtask: event has no id")

// Options are the enqueue options of a Stripe event task. Zero fields take the defaults.
type Options struct {
	Queue     string
	MaxRetry  int
	Timeout   time.Duration
	Retention time.Duration
}

func (o Options) withDefaults() Options {
	if o.Queue == "" {
		o.Queue = DefaultQueue
	}
	if o.MaxRetry <= 0 {
		o.MaxRetry = DefaultMaxRetry
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.Retention <= 0 {
		o.Retention = DefaultRetention
	}
	return o
}

// NewStripeEventTask builds the task for one Stripe event. The task id is the Stripe
// event id, so a second enqueue of the same event fails with an error that wraps
// asynq.ErrTaskIDConflict while the first is still known to the queue.
func NewStripeEventTask(eventID string, raw []byte, o Options) (*asynq.Task, error) {
	if eventID == "" {
		return nil, ErrNoEventID
	}
	o = o.withDefaults()
	return asynq.NewTask(TypeStripeEvent, raw,
		asynq.TaskID(eventID),
		asynq.Queue(o.Queue),
		asynq.MaxRetry(o.MaxRetry),
		asynq.Timeout(o.Timeout),
		asynq.Retention(o.Retention),
	), nil
}

// HandledTypes are the Stripe event types the product books. ingest enqueues these
// and acknowledges every other type without enqueueing it.
var HandledTypes = []string{
	"charge.succeeded",
	"charge.captured",
	"charge.refunded",
	"charge.refund.updated",
	"charge.dispute.created",
	"charge.dispute.funds_withdrawn",
	"charge.dispute.funds_reinstated",
	"charge.dispute.closed",
	"payout.paid",
	"payout.failed",
}

// Handled reports whether events of type t are booked.
func Handled(t string) bool {
	for _, h := range HandledTypes {
		if h == t {
			return true
		}
	}
	return false
}
