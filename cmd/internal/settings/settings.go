// Package settings reads the programs' configuration from environment variables
// (12-factor) and validates it at start-up, with errors that name the variable and
// never echo a secret. Only the programs under cmd/ import it: the library packages
// take plain Go values.
package settings

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/servolution/stripe-comptentra-sync/comptentra"
	"github.com/servolution/stripe-comptentra-sync/eventtask"
	"github.com/servolution/stripe-comptentra-sync/ledger"
	"github.com/servolution/stripe-comptentra-sync/worker"
)

// Getenv is os.Getenv or a test's map lookup.
type Getenv func(string) string

// Defaults of the settings shared by several programs.
const (
	DefaultRedisURL    = "redis://127.0.0.1:6379/0"
	DefaultWorkerAddr  = ":8081"
	DefaultECBRatesURL = "https://www.ecb.europa.eu/stats/eurofxref/eurofxref-hist-90d.xml"
)

// Logger builds the slog logger of LOG_LEVEL (debug|info|warn|error, default info) and
// LOG_FORMAT (json|text, default json), reporting both settings' problems at once.
func Logger(getenv Getenv, w io.Writer) (*slog.Logger, error) {
	var errs []error
	level := slog.LevelInfo
	switch v := strings.ToLower(strings.TrimSpace(getenv("LOG_LEVEL"))); v {
	case "", "info":
	case "debug":
		level = slog.LevelDebug
	case "warn", "warning":
		level = slog.LevelWarn
	case "error":
		level = slog.LevelError
	default:
		errs = append(errs, fmt.Errorf("LOG_LEVEL=%q: want debug, info, warn or error", v))
	}
	opts := &slog.HandlerOptions{Level: level}
	var h slog.Handler
	switch v := strings.ToLower(strings.TrimSpace(getenv("LOG_FORMAT"))); v {
	case "", "json":
		h = slog.NewJSONHandler(w, opts)
	case "text":
		h = slog.NewTextHandler(w, opts)
	default:
		errs = append(errs, fmt.Errorf("LOG_FORMAT=%q: want json or text", v))
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return slog.New(h), nil
}

// Redis reads REDIS_URL (default redis://127.0.0.1:6379/0) into the options of asynq
// and of go-redis. The error never contains the URL's password.
func Redis(getenv Getenv) (string, asynq.RedisConnOpt, *redis.Options, error) {
	raw := or(getenv("REDIS_URL"), DefaultRedisURL)
	opt, err := asynq.ParseRedisURI(raw)
	if err != nil {
		return "", nil, nil, fmt.Errorf("REDIS_URL=%s: %v", Redact(raw), redactErr(err, raw))
	}
	ropt, err := redis.ParseURL(raw)
	if err != nil {
		return "", nil, nil, fmt.Errorf("REDIS_URL=%s: %v", Redact(raw), redactErr(err, raw))
	}
	return raw, opt, ropt, nil
}

// Redact hides the password of a URL.
func Redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparseable URL)"
	}
	return u.Redacted()
}

func redactErr(err error, raw string) string {
	s := err.Error()
	if u, perr := url.Parse(raw); perr == nil && u.User != nil {
		if p, ok := u.User.Password(); ok && p != "" {
			s = strings.ReplaceAll(s, p, "xxxxx")
		}
	}
	return s
}

// Worker are the settings of cmd/worker (and of the worker inside syncctl dev).
type Worker struct {
	Addr          string // WORKER_ADDR: health, readiness and metrics
	ComptentraURL string
	ComptentraKey string
	StripeAPIKey  string
	StripeAPIURL  string
	// StripeRateLimit is the most Stripe API requests per second this process sends.
	StripeRateLimit float64
	ECBRatesURL     string
	Config          worker.Config // without Stripe, ECB, Logger, Metrics: the program wires those
}

// ReadWorker reads and validates the worker's settings.
func ReadWorker(getenv Getenv) (Worker, error) {
	var errs []error
	w := Worker{
		Addr:          or(getenv("WORKER_ADDR"), DefaultWorkerAddr),
		ComptentraURL: or(getenv("COMPTENTRA_URL"), comptentra.DefaultBaseURL),
		ComptentraKey: getenv("COMPTENTRA_API_KEY"),
		StripeAPIKey:  getenv("STRIPE_API_KEY"),
		StripeAPIURL:  getenv("STRIPE_API_URL"),
		ECBRatesURL:   or(getenv("ECB_RATES_URL"), DefaultECBRatesURL),
	}
	if w.ComptentraKey == "" {
		errs = append(errs, errors.New("COMPTENTRA_API_KEY is required (a key with read and write scope)"))
	}
	if u, err := url.Parse(w.ComptentraURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, fmt.Errorf("COMPTENTRA_URL=%q: want an absolute http(s) URL such as %s", Redact(w.ComptentraURL), comptentra.DefaultBaseURL))
	}
	if w.StripeAPIURL != "" {
		if u, err := url.Parse(w.StripeAPIURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, fmt.Errorf("STRIPE_API_URL=%q: want an absolute http(s) URL without /v1, such as https://api.stripe.com", Redact(w.StripeAPIURL)))
		}
	}
	w.StripeRateLimit = 20
	if v := getenv("STRIPE_API_RATE_LIMIT"); v != "" {
		f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil || f <= 0 || f > 1000 {
			errs = append(errs, fmt.Errorf("STRIPE_API_RATE_LIMIT=%q: want requests per second, above 0 and at most 1000", v))
		} else {
			w.StripeRateLimit = f
		}
	}
	if w.StripeAPIKey != "" && !strings.HasPrefix(w.StripeAPIKey, "sk_") && !strings.HasPrefix(w.StripeAPIKey, "rk_") {
		errs = append(errs, errors.New("STRIPE_API_KEY: want a secret (sk_…) or, better, a restricted read-only key (rk_…)"))
	}

	c := worker.Config{
		Queue:      or(getenv("WORKER_QUEUE"), eventtask.DefaultQueue),
		KeyPrefix:  or(getenv("REDIS_KEY_PREFIX"), worker.DefaultKeyPrefix),
		RateSource: strings.ToLower(or(getenv("FX_RATE_SOURCE"), worker.RateSourceStripe)),
	}
	var err error
	if c.Concurrency, err = intVar(getenv, "WORKER_CONCURRENCY", 10, 1, 1000); err != nil {
		errs = append(errs, err)
	}
	if c.TaskTimeout, err = durationVar(getenv, "WORKER_TASK_TIMEOUT", 60*time.Second); err != nil {
		errs = append(errs, err)
	}
	if c.ShutdownTimeout, err = durationVar(getenv, "WORKER_SHUTDOWN_TIMEOUT", 90*time.Second); err != nil {
		errs = append(errs, err)
	}
	if c.RetryBase, err = durationVar(getenv, "WORKER_RETRY_BASE", 2*time.Second); err != nil {
		errs = append(errs, err)
	}
	if c.RetryMax, err = durationVar(getenv, "WORKER_RETRY_MAX", time.Hour); err != nil {
		errs = append(errs, err)
	}
	if c.AlwaysLookUp, err = boolVar(getenv, "WORKER_ALWAYS_LOOKUP", false); err != nil {
		errs = append(errs, err)
	}
	if c.Rules, err = Rules(getenv); err != nil {
		errs = append(errs, err)
	}
	if c.RateSource != worker.RateSourceStripe && c.RateSource != worker.RateSourceECB {
		errs = append(errs, fmt.Errorf("FX_RATE_SOURCE=%q: want stripe or ecb", c.RateSource))
	}
	if c.TaskTimeout >= c.ShutdownTimeout {
		errs = append(errs, fmt.Errorf("WORKER_TASK_TIMEOUT (%s) must be below WORKER_SHUTDOWN_TIMEOUT (%s)", c.TaskTimeout, c.ShutdownTimeout))
	}
	w.Config = c
	return w, errors.Join(errs...)
}

// accountVars maps each account setting to its field in ledger.Accounts.
func accountVars(a *ledger.Accounts) []struct {
	name  string
	field *string
} {
	return []struct {
		name  string
		field *string
	}{
		{"ACCOUNT_CUSTOMERS", &a.Customers},
		{"ACCOUNT_DISPUTED_CUSTOMERS", &a.DisputedCustomers},
		{"ACCOUNT_SALES", &a.Sales},
		{"ACCOUNT_SALES_REFUNDS", &a.SalesRefunds},
		{"ACCOUNT_VAT", &a.VAT},
		{"ACCOUNT_FEES", &a.Fees},
		{"ACCOUNT_STRIPE_BALANCE", &a.StripeBalance},
		{"ACCOUNT_TRANSIT", &a.Transit},
		{"ACCOUNT_BANK", &a.Bank},
		{"ACCOUNT_EXCHANGE_LOSS", &a.ExchangeLoss},
		{"ACCOUNT_EXCHANGE_GAIN", &a.ExchangeGain},
		{"ACCOUNT_BAD_DEBT", &a.BadDebt},
	}
}

// Rules reads the chart of accounts, journals and policies; every unset variable
// keeps the default of booking-rules.md.
func Rules(getenv Getenv) (ledger.Rules, error) {
	r := ledger.DefaultRules()
	salesSet := getenv("ACCOUNT_SALES") != ""
	refundsSet := getenv("ACCOUNT_SALES_REFUNDS") != ""
	for _, v := range accountVars(&r.Accounts) {
		if s := strings.TrimSpace(getenv(v.name)); s != "" {
			*v.field = s
		}
	}
	if salesSet && !refundsSet {
		r.Accounts.SalesRefunds = r.Accounts.Sales // refunds reverse the sale on its own account
	}
	for _, v := range []struct {
		name  string
		field *string
	}{{"JOURNAL_SALES", &r.Journals.Sales}, {"JOURNAL_STRIPE", &r.Journals.Stripe}, {"JOURNAL_BANK", &r.Journals.Bank}} {
		if s := strings.TrimSpace(getenv(v.name)); s != "" {
			*v.field = s
		}
	}
	var errs []error
	if s := getenv("ACCOUNT_VAT_BY_RATE"); s != "" {
		m, err := pairs(s, "ACCOUNT_VAT_BY_RATE", "5.5=445713,20=445712")
		if err != nil {
			errs = append(errs, err)
		}
		r.Accounts.VATByRate = map[int]string{}
		for k, v := range m {
			rate, err := ledger.ParseRate(k)
			if err != nil {
				errs = append(errs, fmt.Errorf("ACCOUNT_VAT_BY_RATE: rate %q: %v", k, err))
				continue
			}
			r.Accounts.VATByRate[rate] = v
		}
	}
	if s := getenv("ACCOUNT_STRIPE_BALANCE_BY_CURRENCY"); s != "" {
		m, err := pairs(s, "ACCOUNT_STRIPE_BALANCE_BY_CURRENCY", "USD=517200,GBP=517300")
		if err != nil {
			errs = append(errs, err)
		}
		r.Accounts.StripeBalanceByCurrency = map[string]string{}
		for k, v := range m {
			r.Accounts.StripeBalanceByCurrency[strings.ToUpper(k)] = v
		}
	}
	if s := getenv("VAT_DEFAULT_RATE"); s != "" {
		rate, err := ledger.ParseRate(s)
		if err != nil {
			errs = append(errs, fmt.Errorf("VAT_DEFAULT_RATE=%q: %v", s, err))
		}
		r.DefaultVATRate = rate
	}
	switch v := strings.ToLower(or(getenv("PAYOUT_ACCOUNT"), "bank")); v {
	case "bank":
		r.PayoutsToTransit = false
	case "transit":
		r.PayoutsToTransit = true
	default:
		errs = append(errs, fmt.Errorf("PAYOUT_ACCOUNT=%q: want bank (D ACCOUNT_BANK) or transit (D ACCOUNT_TRANSIT)", v))
	}
	switch v := ledger.LostDisputePolicy(strings.ToLower(or(getenv("LOST_DISPUTE_POLICY"), string(ledger.CreditNote)))); v {
	case ledger.CreditNote, ledger.WriteOff:
		r.LostDisputes = v
	default:
		errs = append(errs, fmt.Errorf("LOST_DISPUTE_POLICY=%q: want credit_note or write_off", v))
	}
	if err := errors.Join(errs...); err != nil {
		return r, err
	}
	if err := r.Validate(); err != nil {
		return r, withVariableNames(err)
	}
	return r, nil
}

// withVariableNames rewrites ledger's field errors to name the environment variable
// the user sets ("accounts.customers" → ACCOUNT_CUSTOMERS).
func withVariableNames(err error) error {
	var list []error
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		list = j.Unwrap()
	} else {
		list = []error{err}
	}
	out := make([]error, 0, len(list))
	for _, e := range list {
		var fe *ledger.FieldError
		if !errors.As(e, &fe) {
			out = append(out, e)
			continue
		}
		out = append(out, fmt.Errorf("%s=%q: %s: %w", VariableOf(fe.Field), fe.Value, fe.Problem, ledger.ErrBadRules))
	}
	return errors.Join(out...)
}

// VariableOf names the environment variable of a ledger.Rules field.
func VariableOf(field string) string {
	if i := strings.IndexByte(field, '['); i >= 0 {
		field = field[:i]
	}
	switch {
	case strings.HasPrefix(field, "accounts."):
		return "ACCOUNT_" + strings.ToUpper(strings.TrimPrefix(field, "accounts."))
	case strings.HasPrefix(field, "journals."):
		return "JOURNAL_" + strings.ToUpper(strings.TrimPrefix(field, "journals."))
	case field == "default_vat_rate":
		return "VAT_DEFAULT_RATE"
	case field == "lost_disputes":
		return "LOST_DISPUTE_POLICY"
	default:
		return strings.ToUpper(field)
	}
}

func pairs(s, name, example string) (map[string]string, error) {
	m := map[string]string{}
	for _, p := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(p), "=")
		if !ok || strings.TrimSpace(k) == "" || strings.TrimSpace(v) == "" {
			return m, fmt.Errorf("%s=%q: want comma-separated key=account pairs, e.g. %s", name, s, example)
		}
		m[strings.TrimSpace(k)] = strings.TrimSpace(v)
	}
	return m, nil
}

func or(v, def string) string {
	if strings.TrimSpace(v) == "" {
		return def
	}
	return strings.TrimSpace(v)
}

func intVar(getenv Getenv, name string, def, lo, hi int) (int, error) {
	s := getenv(name)
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil || n < lo || n > hi {
		return def, fmt.Errorf("%s=%q: want a whole number from %d to %d", name, s, lo, hi)
	}
	return n, nil
}

func durationVar(getenv Getenv, name string, def time.Duration) (time.Duration, error) {
	s := getenv(name)
	if s == "" {
		return def, nil
	}
	d, err := time.ParseDuration(strings.TrimSpace(s))
	if err != nil || d <= 0 {
		return def, fmt.Errorf("%s=%q: want a positive Go duration such as 30s or 2m", name, s)
	}
	return d, nil
}

func boolVar(getenv Getenv, name string, def bool) (bool, error) {
	s := getenv(name)
	if s == "" {
		return def, nil
	}
	b, err := strconv.ParseBool(strings.TrimSpace(s))
	if err != nil {
		return def, fmt.Errorf("%s=%q: want true or false", name, s)
	}
	return b, nil
}
