// Package redistest gives each test a Redis of its own to use: the real server named by
// TEST_REDIS_URL when that is set (CI sets it), otherwise an embedded miniredis.
//
// On a shared real Redis, isolation comes from names, not from flushing: every call
// returns a fresh asynq queue name and key prefix, and cleanup deletes only the keys
// under those names. Nothing else in that Redis is touched.
package redistest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
)

// EnvURL names the variable that points tests at a real Redis.
const EnvURL = "TEST_REDIS_URL"

// Redis is one test's slice of a Redis server.
type Redis struct {
	URL    string               // redis://… URL of the server
	Queue  string               // an asynq queue name no other test uses
	Prefix string               // a key prefix no other test uses, ending in ":"
	Client *redis.Client        // a client on URL, closed at cleanup
	Mini   *miniredis.Miniredis // the embedded server, nil on a real Redis
}

// Real reports whether tests run against a real Redis server.
func Real() bool { return os.Getenv(EnvURL) != "" }

// New returns an isolated Redis for t. With TEST_REDIS_URL set and the server not
// answering, the test fails: a missing service is never silently skipped.
func New(t testing.TB) *Redis {
	t.Helper()
	r := &Redis{Queue: "test-" + token(), Prefix: "test-" + token() + ":"}
	if u := os.Getenv(EnvURL); u != "" {
		r.URL = u
	} else {
		m := miniredis.RunT(t)
		r.Mini = m
		r.URL = "redis://" + m.Addr() + "/0"
	}
	opt, err := redis.ParseURL(r.URL)
	if err != nil {
		t.Fatalf("redistest: %s=%q: %v", EnvURL, r.URL, err)
	}
	r.Client = redis.NewClient(opt)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := r.Client.Ping(ctx).Err(); err != nil {
		t.Fatalf("redistest: Redis at %s does not answer: %v", r.URL, err)
	}
	t.Cleanup(func() {
		if r.Mini == nil {
			r.cleanup()
		}
		r.Client.Close()
	})
	return r
}

// cleanup deletes the keys of this test's queue and prefix, and nothing else.
func (r *Redis) cleanup() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, pattern := range []string{"asynq:{" + r.Queue + "}*", r.Prefix + "*"} {
		iter := r.Client.Scan(ctx, 0, pattern, 500).Iterator()
		var keys []string
		for iter.Next(ctx) {
			keys = append(keys, iter.Val())
		}
		if len(keys) > 0 {
			r.Client.Del(ctx, keys...)
		}
	}
	r.Client.SRem(ctx, "asynq:queues", r.Queue)
}

func token() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
