package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/servolution/stripe-comptentra-sync/eventtask"
)

// Failure is an event that ended in the archive, with what is needed to send it
// through the pipeline again once the cause is fixed.
type Failure struct {
	EventID  string          `json:"event_id"`
	Queue    string          `json:"queue"`
	Code     string          `json:"code,omitempty"` // Comptentra's error code, when it refused
	Error    string          `json:"error"`
	Retried  int             `json:"retried"`
	FailedAt time.Time       `json:"failed_at"`
	Payload  json.RawMessage `json:"payload"`
}

// ErrUnknownFailure is returned for an event id that has no failure record.
var ErrUnknownFailure = errors.New("worker: no failure recorded for this event")

// FailureStore keeps archived events in a Redis hash with no cap and no TTL: asynq
// silently deletes archived tasks past 10 000 per queue or 90 days, and an accepted
// Stripe event must never vanish that way.
type FailureStore struct {
	redis redis.UniversalClient
	key   string
}

// NewFailureStore returns the store under prefix (the worker's KeyPrefix).
func NewFailureStore(rdb redis.UniversalClient, prefix string) *FailureStore {
	if prefix == "" {
		prefix = DefaultKeyPrefix
	}
	return &FailureStore{redis: rdb, key: prefix + "failures"}
}

// Add records f, replacing an earlier record of the same event.
func (s *FailureStore) Add(ctx context.Context, f Failure) error {
	b, err := json.Marshal(f)
	if err != nil {
		return err
	}
	return s.redis.HSet(ctx, s.key, f.EventID, b).Err()
}

// Remove forgets the failure of eventID (it has since been booked).
func (s *FailureStore) Remove(ctx context.Context, eventID string) error {
	return s.redis.HDel(ctx, s.key, eventID).Err()
}

// Get returns the failure of eventID, or ErrUnknownFailure.
func (s *FailureStore) Get(ctx context.Context, eventID string) (Failure, error) {
	b, err := s.redis.HGet(ctx, s.key, eventID).Bytes()
	if errors.Is(err, redis.Nil) {
		return Failure{}, fmt.Errorf("%w: %s", ErrUnknownFailure, eventID)
	}
	if err != nil {
		return Failure{}, err
	}
	var f Failure
	return f, json.Unmarshal(b, &f)
}

// List returns every recorded failure, oldest first.
func (s *FailureStore) List(ctx context.Context) ([]Failure, error) {
	m, err := s.redis.HGetAll(ctx, s.key).Result()
	if err != nil {
		return nil, err
	}
	out := make([]Failure, 0, len(m))
	for id, v := range m {
		var f Failure
		if err := json.Unmarshal([]byte(v), &f); err != nil {
			return nil, fmt.Errorf("worker: failure record %s: %w", id, err)
		}
		out = append(out, f)
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].FailedAt.Equal(out[j].FailedAt) {
			return out[i].FailedAt.Before(out[j].FailedAt)
		}
		return out[i].EventID < out[j].EventID
	})
	return out, nil
}

// Retry sends a failed event through the pipeline again with a fresh retry budget:
// it deletes the archived task (whose id would block the enqueue), enqueues the
// original payload under the same task id, and forgets the failure. The record is
// removed only once the task is stored.
func (s *FailureStore) Retry(ctx context.Context, insp *asynq.Inspector, client *asynq.Client, eventID string, opts eventtask.Options) error {
	f, err := s.Get(ctx, eventID)
	if err != nil {
		return err
	}
	if opts.Queue == "" {
		opts.Queue = f.Queue
	}
	if err := insp.DeleteTask(opts.Queue, eventID); err != nil && !errors.Is(err, asynq.ErrTaskNotFound) && !errors.Is(err, asynq.ErrQueueNotFound) {
		return fmt.Errorf("worker: delete archived task %s: %w", eventID, err)
	}
	task, err := eventtask.NewStripeEventTask(eventID, f.Payload, opts)
	if err != nil {
		return err
	}
	if _, err := client.EnqueueContext(ctx, task); err != nil {
		return fmt.Errorf("worker: re-enqueue %s: %w", eventID, err)
	}
	return s.Remove(ctx, eventID)
}
