package ingest

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/servolution/stripe-comptentra-sync/eventtask"
)

// Environment variables read by ConfigFromEnv (LOG_LEVEL and LOG_FORMAT are read by
// the programs' shared settings; their names are kept here for reference).
const (
	EnvAddr          = "INGEST_ADDR"
	EnvRedisURL      = "REDIS_URL"
	EnvWebhookSecret = "STRIPE_WEBHOOK_SECRET"
	EnvQueue         = "INGEST_QUEUE"
	EnvLogLevel      = "LOG_LEVEL"
	EnvLogFormat     = "LOG_FORMAT"
)

// Defaults of the environment.
const (
	DefaultAddr     = ":8080"
	DefaultRedisURL = "redis://127.0.0.1:6379/0"
)

// ConfigFromEnv reads the ingest configuration through getenv: INGEST_ADDR (default
// ":8080"), REDIS_URL (default redis://127.0.0.1:6379/0; must parse with both
// asynq.ParseRedisURI and redis.ParseURL), STRIPE_WEBHOOK_SECRET (required; comma-
// separated secrets during rotation, none empty) and INGEST_QUEUE (default
// eventtask.DefaultQueue). Errors name the variable and never contain a secret or a
// password; all problems are reported at once. cfg.Logger is left nil (see LoggerFromEnv).
func ConfigFromEnv(getenv func(string) string) (cfg Config, addr string, redisURL string, err error) {
	var errs []error

	addr = strings.TrimSpace(getenv(EnvAddr))
	if addr == "" {
		addr = DefaultAddr
	}
	if _, port, perr := net.SplitHostPort(addr); perr != nil || port == "" {
		errs = append(errs, fmt.Errorf("%s=%q: want host:port or :port", EnvAddr, addr))
	}

	redisURL = strings.TrimSpace(getenv(EnvRedisURL))
	if redisURL == "" {
		redisURL = DefaultRedisURL
	}
	if rerr := CheckRedisURL(redisURL); rerr != nil {
		errs = append(errs, fmt.Errorf("%s: %w", EnvRedisURL, rerr))
	}

	raw := getenv(EnvWebhookSecret)
	if strings.TrimSpace(raw) == "" {
		errs = append(errs, fmt.Errorf("%s is required (the webhook signing secret, whsec_…; comma-separated during rotation)", EnvWebhookSecret))
	} else {
		parts := strings.Split(raw, ",")
		for i, p := range parts {
			p = strings.TrimSpace(p)
			if p == "" {
				errs = append(errs, fmt.Errorf("%s: secret #%d of %d is empty", EnvWebhookSecret, i+1, len(parts)))
				continue
			}
			cfg.Secrets = append(cfg.Secrets, p)
		}
	}

	cfg.Enqueue.Queue = eventtask.DefaultQueue
	if q, ok := lookup(getenv, EnvQueue); ok {
		if strings.TrimSpace(q) != q || q == "" {
			errs = append(errs, fmt.Errorf("%s=%q: want a non-blank queue name without surrounding spaces", EnvQueue, q))
		} else {
			cfg.Enqueue.Queue = q
		}
	}

	if len(errs) > 0 {
		return Config{}, "", "", errors.Join(errs...)
	}
	return cfg, addr, redisURL, nil
}

// lookup returns a variable and whether it is set to something other than "".
func lookup(getenv func(string) string, name string) (string, bool) {
	v := getenv(name)
	return v, v != ""
}

// CheckRedisURL reports whether u parses with both asynq.ParseRedisURI and
// redis.ParseURL. The error never contains the URL's password.
func CheckRedisURL(u string) error {
	pu, err := url.Parse(u)
	if err != nil {
		// url.Error and its causes quote the input, password included: name the
		// kind of problem only.
		hint := "malformed"
		if strings.Contains(err.Error(), "invalid port") {
			hint = "invalid port"
		}
		return fmt.Errorf("invalid URL, %s (want redis://[user:password@]host:port/db)", hint)
	}
	password, _ := pu.User.Password()
	if _, err := asynq.ParseRedisURI(u); err != nil {
		return fmt.Errorf("invalid Redis URL (want redis://[user:password@]host:port/db): %s", redact(err.Error(), password))
	}
	if _, err := redis.ParseURL(u); err != nil {
		return fmt.Errorf("invalid Redis URL (want redis://[user:password@]host:port/db): %s", redact(err.Error(), password))
	}
	return nil
}

// RedactURL returns u with its password masked, for logs.
func RedactURL(u string) string {
	pu, err := url.Parse(u)
	if err != nil {
		return "(unparseable)"
	}
	return pu.Redacted()
}

func redact(msg, secret string) string {
	if secret == "" {
		return msg
	}
	return strings.ReplaceAll(msg, secret, "xxxxx")
}
