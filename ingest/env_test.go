package ingest_test

import (
	"strings"
	"testing"

	"github.com/servolution/stripe-comptentra-sync/eventtask"
	"github.com/servolution/stripe-comptentra-sync/ingest"
)

func envOf(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestConfigFromEnv(t *testing.T) {
	const pw = "s3cr3t-redis-pw"
	cases := []struct {
		name      string
		env       map[string]string
		wantErr   []string // substrings of the error; nil for success
		forbidden []string // must not appear in the error
		secrets   []string
		addr      string
		redisURL  string
		queue     string
	}{
		{name: "defaults", env: map[string]string{"STRIPE_WEBHOOK_SECRET": "whsec_a"},
			secrets: []string{"whsec_a"}, addr: ":8080", redisURL: "redis://127.0.0.1:6379/0", queue: eventtask.DefaultQueue},
		{name: "everything set, rotation with spaces", env: map[string]string{
			"STRIPE_WEBHOOK_SECRET": "whsec_new, whsec_old", "INGEST_ADDR": "127.0.0.1:9000",
			"REDIS_URL": "redis://:" + pw + "@redis.internal:6380/2", "INGEST_QUEUE": "stripe-eu"},
			secrets: []string{"whsec_new", "whsec_old"}, addr: "127.0.0.1:9000", redisURL: "redis://:" + pw + "@redis.internal:6380/2", queue: "stripe-eu"},
		{name: "rediss accepted", env: map[string]string{"STRIPE_WEBHOOK_SECRET": "whsec_a", "REDIS_URL": "rediss://u:" + pw + "@h:6379/0"},
			secrets: []string{"whsec_a"}, addr: ":8080", redisURL: "rediss://u:" + pw + "@h:6379/0", queue: "stripe"},

		{name: "secret missing", env: map[string]string{}, wantErr: []string{"STRIPE_WEBHOOK_SECRET", "required"}},
		{name: "secret blank", env: map[string]string{"STRIPE_WEBHOOK_SECRET": "  "}, wantErr: []string{"STRIPE_WEBHOOK_SECRET"}},
		{name: "empty secret among several", env: map[string]string{"STRIPE_WEBHOOK_SECRET": "whsec_keep1,,whsec_keep2"},
			wantErr: []string{"STRIPE_WEBHOOK_SECRET", "#2 of 3 is empty"}, forbidden: []string{"whsec_keep1", "whsec_keep2"}},
		{name: "trailing comma", env: map[string]string{"STRIPE_WEBHOOK_SECRET": "whsec_keep1,"},
			wantErr: []string{"STRIPE_WEBHOOK_SECRET", "#2 of 2"}, forbidden: []string{"whsec_keep1"}},
		{name: "REDIS_URL bad port", env: map[string]string{"STRIPE_WEBHOOK_SECRET": "whsec_a", "REDIS_URL": "redis://:" + pw + "@host:notaport/0"},
			wantErr: []string{"REDIS_URL", "invalid port"}, forbidden: []string{pw, "whsec_a"}},
		{name: "REDIS_URL bad escape in password", env: map[string]string{"STRIPE_WEBHOOK_SECRET": "whsec_a", "REDIS_URL": "redis://:" + pw + "%zz@host:6379/0"},
			wantErr: []string{"REDIS_URL"}, forbidden: []string{pw, "%zz"}},
		{name: "REDIS_URL wrong scheme", env: map[string]string{"STRIPE_WEBHOOK_SECRET": "whsec_a", "REDIS_URL": "http://:" + pw + "@host:6379/0"},
			wantErr: []string{"REDIS_URL"}, forbidden: []string{pw}},
		{name: "REDIS_URL bad db", env: map[string]string{"STRIPE_WEBHOOK_SECRET": "whsec_a", "REDIS_URL": "redis://:" + pw + "@host:6379/db" + pw},
			wantErr: []string{"REDIS_URL"}, forbidden: []string{pw}},
		{name: "INGEST_ADDR without port", env: map[string]string{"STRIPE_WEBHOOK_SECRET": "whsec_a", "INGEST_ADDR": "localhost"},
			wantErr: []string{"INGEST_ADDR"}},
		{name: "INGEST_QUEUE blank", env: map[string]string{"STRIPE_WEBHOOK_SECRET": "whsec_a", "INGEST_QUEUE": "   "},
			wantErr: []string{"INGEST_QUEUE"}},
		{name: "all problems at once", env: map[string]string{"REDIS_URL": "redis://:" + pw + "@h:x/0", "INGEST_ADDR": "nope"},
			wantErr: []string{"STRIPE_WEBHOOK_SECRET", "REDIS_URL", "INGEST_ADDR"}, forbidden: []string{pw}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg, addr, redisURL, err := ingest.ConfigFromEnv(envOf(tc.env))
			if tc.wantErr != nil {
				if err == nil {
					t.Fatal("no error")
				}
				for _, w := range tc.wantErr {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q does not mention %q", err, w)
					}
				}
				for _, f := range tc.forbidden {
					if strings.Contains(err.Error(), f) {
						t.Errorf("error %q shows %q", err, f)
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("ConfigFromEnv: %v", err)
			}
			if strings.Join(cfg.Secrets, "|") != strings.Join(tc.secrets, "|") || addr != tc.addr || redisURL != tc.redisURL || cfg.Enqueue.Queue != tc.queue {
				t.Errorf("got secrets=%q addr=%q url=%q queue=%q", cfg.Secrets, addr, redisURL, cfg.Enqueue.Queue)
			}
		})
	}
}
