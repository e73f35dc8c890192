// Package ingest is the thin Stripe webhook receiver: it verifies the Stripe-Signature
// of a delivery on the raw bytes, acknowledges event types the product does not book,
// and stores every booked event in Redis as an asynq task (eventtask) before
// answering 2xx. It never answers 2xx for a booked event that is not stored.
package ingest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hibiken/asynq"
	"github.com/labstack/echo/v4"
	"github.com/stripe/stripe-go/v76"
	"github.com/stripe/stripe-go/v76/webhook"

	"github.com/servolution/stripe-comptentra-sync/eventtask"
)

// Routes and header names.
const (
	WebhookPath     = "/stripe-webhook"
	HealthPath      = "/healthz"
	ReadyPath       = "/readyz"
	SignatureHeader = "Stripe-Signature"
)

// Defaults of Config.
const (
	DefaultTolerance      = 300 * time.Second
	DefaultMaxBodyBytes   = 1 << 20
	DefaultEnqueueTimeout = 5 * time.Second
	DefaultReadyTimeout   = 2 * time.Second
	DefaultMaxInFlight    = 256
)

// retryAfterSeconds is the Retry-After of a 503.
const retryAfterSeconds = 10

// maxEventIDLen bounds an event id (Stripe ids are at most 255 characters).
const maxEventIDLen = 255

// Error codes of the JSON error body {"error": {"code": …, "message": …}}.
const (
	CodeSignatureMissing   = "signature_missing"   // no Stripe-Signature header
	CodeSignatureMalformed = "signature_malformed" // header without t= or v1=, or unparseable
	CodeSignatureInvalid   = "signature_invalid"   // no v1 signature matches any secret
	CodeSignatureExpired   = "signature_expired"   // timestamp older than the tolerance
	CodeEventInvalid       = "event_invalid"       // signed body is not an event (bad JSON, no id, no type)
	CodeBodyTooLarge       = "body_too_large"      // body over MaxBodyBytes
	CodeBodyUnreadable     = "body_unreadable"     // the body could not be read
	CodeEnqueueFailed      = "enqueue_failed"      // Redis down, slow or failing: retry later
	CodeOverloaded         = "overloaded"          // too many deliveries in flight: retry later
	CodeNotReady           = "not_ready"           // readiness check failed
	CodeNotFound           = "not_found"
	CodeMethodNotAllowed   = "method_not_allowed"
	CodeInternal           = "internal_error"
)

// Config configures a Server. Zero durations and sizes take the defaults.
type Config struct {
	Secrets        []string          // webhook signing secrets (several during rotation); any one may match
	Tolerance      time.Duration     // maximum age of a signature timestamp, default 300s
	MaxBodyBytes   int64             // default 1 MiB
	Enqueue        eventtask.Options // queue name etc.
	EnqueueTimeout time.Duration     // bound on the Redis enqueue, default 5s
	ReadyTimeout   time.Duration     // bound on the readiness ping, default 2s
	// MaxInFlight bounds the deliveries processed at once, default 256; past it ingest
	// answers 503 at once (Stripe retries) instead of piling up memory and goroutines.
	MaxInFlight int
	Logger      *slog.Logger // default slog.Default()
	// Metrics records the deliveries; when set, the Server also answers GET /metrics
	// with its registry. nil: a private registry, not served.
	Metrics *Metrics
}

// Server is the webhook receiver. Its Handler is safe for concurrent use.
type Server struct {
	cfg    Config
	client *asynq.Client
	ping   func(context.Context) error
	log    *slog.Logger
	e      *echo.Echo

	versionsMu   sync.Mutex
	versionsSeen map[string]bool // api_versions already warned about
	notReady     atomic.Bool     // last readiness result, to log transitions only
	inFlight     chan struct{}   // one token per delivery being processed
}

// New builds a Server. client enqueues the events; ping is the readiness check of
// Redis. It fails on a config without secrets, an empty secret, or negative limits.
func New(cfg Config, client *asynq.Client, ping func(context.Context) error) (*Server, error) {
	if client == nil {
		return nil, errors.New("ingest: nil asynq client")
	}
	if ping == nil {
		return nil, errors.New("ingest: nil readiness ping")
	}
	if len(cfg.Secrets) == 0 {
		return nil, errors.New("ingest: no webhook signing secret configured")
	}
	cfg.Secrets = append([]string(nil), cfg.Secrets...)
	for i, s := range cfg.Secrets {
		if s == "" {
			return nil, fmt.Errorf("ingest: webhook signing secret #%d is empty", i+1)
		}
		if strings.TrimSpace(s) != s {
			return nil, fmt.Errorf("ingest: webhook signing secret #%d has leading or trailing whitespace", i+1)
		}
	}
	switch {
	case cfg.Tolerance < 0:
		return nil, errors.New("ingest: negative Tolerance")
	case cfg.MaxBodyBytes < 0:
		return nil, errors.New("ingest: negative MaxBodyBytes")
	case cfg.EnqueueTimeout < 0:
		return nil, errors.New("ingest: negative EnqueueTimeout")
	case cfg.ReadyTimeout < 0:
		return nil, errors.New("ingest: negative ReadyTimeout")
	case cfg.MaxInFlight < 0:
		return nil, errors.New("ingest: negative MaxInFlight")
	}
	if cfg.MaxInFlight == 0 {
		cfg.MaxInFlight = DefaultMaxInFlight
	}
	if cfg.Enqueue.Queue != "" && strings.TrimSpace(cfg.Enqueue.Queue) == "" {
		return nil, errors.New("ingest: blank queue name")
	}
	if cfg.Enqueue.Queue == "" {
		cfg.Enqueue.Queue = eventtask.DefaultQueue
	}
	if cfg.Tolerance == 0 {
		cfg.Tolerance = DefaultTolerance
	}
	if cfg.MaxBodyBytes == 0 {
		cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if cfg.EnqueueTimeout == 0 {
		cfg.EnqueueTimeout = DefaultEnqueueTimeout
	}
	if cfg.ReadyTimeout == 0 {
		cfg.ReadyTimeout = DefaultReadyTimeout
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	serveMetrics := cfg.Metrics != nil
	if cfg.Metrics == nil {
		cfg.Metrics = NewMetrics(nil)
	}

	s := &Server{
		cfg:          cfg,
		client:       client,
		ping:         ping,
		log:          cfg.Logger,
		versionsSeen: map[string]bool{},
		inFlight:     make(chan struct{}, cfg.MaxInFlight),
	}

	e := echo.New()
	e.HideBanner = true
	e.HidePort = true
	e.Logger.SetOutput(io.Discard) // everything is logged through slog
	e.HTTPErrorHandler = s.handleError
	e.Use(s.recoverMiddleware, s.requestLogMiddleware)
	e.POST(WebhookPath, s.handleWebhook)
	e.GET(HealthPath, s.handleHealth)
	e.HEAD(HealthPath, s.handleHealth)
	e.GET(ReadyPath, s.handleReady)
	e.HEAD(ReadyPath, s.handleReady)
	if serveMetrics {
		e.GET(MetricsPath, echo.WrapHandler(cfg.Metrics.Handler()))
	}
	s.e = e
	return s, nil
}

// Handler returns the HTTP handler (the echo instance).
func (s *Server) Handler() http.Handler { return s.e }

// errorBody is the JSON body of every error response.
type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

func writeError(c echo.Context, status int, code, message string) error {
	if c.Request().Method == http.MethodHead {
		return c.NoContent(status)
	}
	return c.JSON(status, errorBody{errorDetail{Code: code, Message: message}})
}

// envelope is the part of a Stripe event ingest needs. The full event travels
// to the worker as the raw bytes.
type envelope struct {
	ID         string `json:"id"`
	Type       string `json:"type"`
	APIVersion string `json:"api_version"`
	Livemode   bool   `json:"livemode"`
}

func (s *Server) handleWebhook(c echo.Context) error {
	// Every return below sets res; a panic records nothing (recoverMiddleware logs it).
	var res webhookResult
	received := time.Now()
	defer func() { s.cfg.Metrics.webhook(res, time.Since(received)) }()

	r := c.Request()
	log := s.log.With("remote_ip", c.RealIP())

	select {
	case s.inFlight <- struct{}{}:
		defer func() { <-s.inFlight }()
	default:
		res = webhookResult{typ: TypeUnknown, outcome: OutcomeEnqueueFailed}
		log.Warn("too many deliveries in flight: answering 503", "max_in_flight", s.cfg.MaxInFlight)
		c.Response().Header().Set("Retry-After", "1")
		return writeError(c, http.StatusServiceUnavailable, CodeOverloaded, "too many deliveries in flight; retry later")
	}

	// Cap the body before reading it.
	if r.ContentLength > s.cfg.MaxBodyBytes {
		log.Warn("webhook rejected: body too large", "content_length", r.ContentLength, "max_bytes", s.cfg.MaxBodyBytes)
		res = rejected(CodeBodyTooLarge)
		return s.tooLarge(c)
	}
	body, err := io.ReadAll(http.MaxBytesReader(c.Response().Writer, r.Body, s.cfg.MaxBodyBytes))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			log.Warn("webhook rejected: body too large", "max_bytes", s.cfg.MaxBodyBytes)
			res = rejected(CodeBodyTooLarge)
			return s.tooLarge(c)
		}
		log.Warn("webhook rejected: body unreadable", "err", err)
		res = rejected(CodeBodyUnreadable)
		return writeError(c, http.StatusBadRequest, CodeBodyUnreadable, "the request body could not be read")
	}

	if code, msg := s.verify(body, r.Header.Get(SignatureHeader)); code != "" {
		// Neither the header nor the body is logged: only the outcome.
		log.Warn("webhook rejected: bad signature", "code", code, "body_bytes", len(body))
		res = rejected(code)
		return writeError(c, http.StatusBadRequest, code, msg)
	}

	var ev envelope
	if err := json.Unmarshal(body, &ev); err != nil {
		log.Warn("webhook rejected: signed body is not valid event JSON", "err", err, "body_bytes", len(body))
		res = rejected(CodeEventInvalid)
		return writeError(c, http.StatusBadRequest, CodeEventInvalid, "the body is not a valid JSON event")
	}
	log = log.With("event_id", ev.ID, "event_type", ev.Type)
	switch {
	case strings.TrimSpace(ev.ID) == "":
		log.Warn("webhook rejected: event without id")
		res = rejected(CodeEventInvalid)
		return writeError(c, http.StatusBadRequest, CodeEventInvalid, "the event has no id")
	case len(ev.ID) > maxEventIDLen:
		log.Warn("webhook rejected: event id too long", "id_bytes", len(ev.ID))
		res = rejected(CodeEventInvalid)
		return writeError(c, http.StatusBadRequest, CodeEventInvalid, "the event id is too long")
	case strings.TrimSpace(ev.Type) == "":
		log.Warn("webhook rejected: event without type")
		res = rejected(CodeEventInvalid)
		return writeError(c, http.StatusBadRequest, CodeEventInvalid, "the event has no type")
	}
	log = log.With("api_version", ev.APIVersion, "livemode", ev.Livemode)
	s.noteAPIVersion(log, ev.APIVersion)

	if !eventtask.Handled(ev.Type) {
		log.Debug("stripe event ignored: type not handled")
		res = verified(ev.Type, OutcomeIgnored)
		return c.JSON(http.StatusOK, map[string]bool{"ignored": true})
	}

	task, err := eventtask.NewStripeEventTask(ev.ID, body, s.cfg.Enqueue)
	if err != nil { // cannot happen: the id was checked above
		log.Error("stripe event not enqueued: cannot build task", "err", err)
		res = rejected(CodeEventInvalid)
		return writeError(c, http.StatusBadRequest, CodeEventInvalid, "the event cannot be queued")
	}
	start := time.Now()
	err = s.enqueue(r.Context(), task)
	elapsed := time.Since(start)
	switch {
	case err == nil:
		log.Info("stripe event enqueued", "queue", s.cfg.Enqueue.Queue, "enqueue_ms", elapsed.Milliseconds())
		res = verified(ev.Type, OutcomeAccepted)
		return c.JSON(http.StatusOK, map[string]bool{"received": true})
	case errors.Is(err, asynq.ErrTaskIDConflict):
		log.Info("stripe event duplicate delivery: already queued", "queue", s.cfg.Enqueue.Queue, "duplicate", true)
		res = verified(ev.Type, OutcomeDuplicate)
		return c.JSON(http.StatusOK, map[string]bool{"received": true, "duplicate": true})
	default:
		log.Error("stripe event not enqueued: Redis unavailable", "queue", s.cfg.Enqueue.Queue,
			"err", err, "timeout", errors.Is(err, context.DeadlineExceeded), "enqueue_ms", elapsed.Milliseconds())
		res = verified(ev.Type, OutcomeEnqueueFailed)
		c.Response().Header().Set("Retry-After", strconv.Itoa(retryAfterSeconds))
		return writeError(c, http.StatusServiceUnavailable, CodeEnqueueFailed,
			"the event could not be stored; retry later")
	}
}

// enqueue stores the task, bounded by EnqueueTimeout whatever the Redis client's own
// timeouts are. A client that goes away does not cancel a started enqueue: its outcome
// stays consistent with what a redelivery will find. When the bound fires first, the
// answer is an error (503) even if the enqueue later succeeds: Stripe then redelivers
// and gets a duplicate 200, never a lost event.
func (s *Server) enqueue(parent context.Context, task *asynq.Task) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(parent), s.cfg.EnqueueTimeout)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := s.client.EnqueueContext(ctx, task)
		done <- err
	}()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return fmt.Errorf("enqueue: %w", ctx.Err())
	}
}

func (s *Server) tooLarge(c echo.Context) error {
	return writeError(c, http.StatusRequestEntityTooLarge, CodeBodyTooLarge,
		fmt.Sprintf("the body exceeds %d bytes", s.cfg.MaxBodyBytes))
}

// verify checks the Stripe-Signature header against every secret. It returns the
// error code and message, or "" when one secret matches one v1 signature. Neither
// the header nor a secret ever appears in the result.
func (s *Server) verify(body []byte, header string) (code, message string) {
	if header == "" {
		return CodeSignatureMissing, "the Stripe-Signature header is missing"
	}
	if !wellFormed(header) {
		return CodeSignatureMalformed, "the Stripe-Signature header is malformed (want t=<unix>,v1=<hex>)"
	}
	var last error
	for _, secret := range s.cfg.Secrets {
		// stripe-go checks every v1 signature of the header against one secret.
		err := webhook.ValidatePayloadWithTolerance(body, header, secret, s.cfg.Tolerance)
		if err == nil {
			return "", ""
		}
		last = err
		if errors.Is(err, webhook.ErrTooOld) || errors.Is(err, webhook.ErrInvalidHeader) || errors.Is(err, webhook.ErrNotSigned) {
			break // independent of the secret
		}
	}
	switch {
	case errors.Is(last, webhook.ErrTooOld):
		return CodeSignatureExpired, fmt.Sprintf("the signature timestamp is older than %s", s.cfg.Tolerance)
	case errors.Is(last, webhook.ErrInvalidHeader):
		return CodeSignatureMalformed, "the Stripe-Signature header is malformed (want t=<unix>,v1=<hex>)"
	case errors.Is(last, webhook.ErrNotSigned):
		return CodeSignatureMissing, "the Stripe-Signature header is missing"
	default:
		return CodeSignatureInvalid, "no signature matches the configured signing secret"
	}
}

// wellFormed reports whether the header has a numeric t= and at least one hex v1=,
// so that a header without a timestamp is not reported as expired.
func wellFormed(header string) bool {
	var hasT, hasV1 bool
	for _, pair := range strings.Split(header, ",") {
		k, v, ok := strings.Cut(pair, "=")
		if !ok {
			return false
		}
		switch k {
		case "t":
			if _, err := strconv.ParseInt(v, 10, 64); err != nil {
				return false
			}
			hasT = true
		case "v1":
			if v != "" && isHex(v) {
				hasV1 = true
			}
		}
	}
	return hasT && hasV1
}

func isHex(s string) bool {
	if len(s)%2 != 0 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

// maxVersionsTracked bounds the set of api_versions warned about.
const maxVersionsTracked = 64

// noteAPIVersion warns once per api_version that differs from stripe-go's pinned
// version: such events are accepted (the webhook endpoint's version decides the shape).
func (s *Server) noteAPIVersion(log *slog.Logger, v string) {
	if v == stripe.APIVersion {
		return
	}
	s.versionsMu.Lock()
	first := !s.versionsSeen[v] && len(s.versionsSeen) < maxVersionsTracked
	if first {
		s.versionsSeen[v] = true
	}
	s.versionsMu.Unlock()
	if first {
		log.Warn("stripe event api_version differs from stripe-go's pinned version; accepted (logged once per version)",
			"pinned_api_version", stripe.APIVersion)
	}
}

func (s *Server) handleHealth(c echo.Context) error {
	if c.Request().Method == http.MethodHead {
		return c.NoContent(http.StatusOK)
	}
	return c.JSON(http.StatusOK, map[string]string{"status": "ok"})
}

func (s *Server) handleReady(c echo.Context) error {
	ctx, cancel := context.WithTimeout(c.Request().Context(), s.cfg.ReadyTimeout)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- s.ping(ctx) }()
	var err error
	select {
	case err = <-done:
	case <-ctx.Done():
		err = ctx.Err()
	}
	if err != nil {
		if !s.notReady.Swap(true) {
			s.log.Warn("not ready: Redis ping failed", "err", err)
		}
		c.Response().Header().Set("Retry-After", strconv.Itoa(retryAfterSeconds))
		return writeError(c, http.StatusServiceUnavailable, CodeNotReady, "Redis does not answer")
	}
	if s.notReady.Swap(false) {
		s.log.Info("ready again: Redis answers")
	}
	if c.Request().Method == http.MethodHead {
		return c.NoContent(http.StatusOK)
	}
	return c.JSON(http.StatusOK, map[string]string{"status": "ready"})
}

// handleError answers every error as JSON. It matches *echo.HTTPError with errors.As
// (echo's default handler only sees an unwrapped one) and never shows an internal
// error's text to the client.
func (s *Server) handleError(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	status, code, msg := http.StatusInternalServerError, CodeInternal, "internal server error"
	var he *echo.HTTPError
	if errors.As(err, &he) {
		status = he.Code
		code = codeForStatus(status)
		msg = http.StatusText(status)
		if m, ok := he.Message.(string); ok && m != "" {
			msg = m
		}
	}
	if status >= 500 {
		s.log.Error("request failed", "method", c.Request().Method, "path", c.Request().URL.Path, "status", status, "err", err)
	}
	if err := writeError(c, status, code, msg); err != nil {
		s.log.Debug("writing error response failed", "err", err)
	}
}

func codeForStatus(status int) string {
	switch status {
	case http.StatusNotFound:
		return CodeNotFound
	case http.StatusMethodNotAllowed:
		return CodeMethodNotAllowed
	case http.StatusRequestEntityTooLarge:
		return CodeBodyTooLarge
	case http.StatusInternalServerError:
		return CodeInternal
	}
	t := strings.ToLower(http.StatusText(status))
	if t == "" {
		return "http_" + strconv.Itoa(status)
	}
	var b strings.Builder
	for _, r := range t {
		switch {
		case 'a' <= r && r <= 'z', '0' <= r && r <= '9':
			b.WriteRune(r)
		case r == ' ' || r == '-':
			b.WriteByte('_')
		}
	}
	return b.String()
}

// recoverMiddleware turns a panic into a logged 500 JSON error.
func (s *Server) recoverMiddleware(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) (err error) {
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				s.log.Error("panic serving request", "method", c.Request().Method, "path", c.Request().URL.Path,
					"panic", fmt.Sprint(p), "stack", string(debug.Stack()))
				err = fmt.Errorf("panic: %v", p)
			}
		}()
		return next(c)
	}
}

// requestLogMiddleware logs each request at debug level. It never logs headers or bodies.
func (s *Server) requestLogMiddleware(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		err := next(c)
		if err != nil {
			c.Error(err)
		}
		if s.log.Enabled(c.Request().Context(), slog.LevelDebug) {
			s.log.Debug("http request", "method", c.Request().Method, "path", c.Request().URL.Path,
				"status", c.Response().Status, "bytes", c.Response().Size, "duration_ms", time.Since(start).Milliseconds(),
				"remote_ip", c.RealIP())
		}
		return nil
	}
}

// SignPayload returns a Stripe-Signature header value for payload signed with secret
// at time t, as Stripe would send it. For tools and tests.
func SignPayload(payload []byte, secret string, t time.Time) string {
	return webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{
		Payload:   payload,
		Secret:    secret,
		Timestamp: t,
	}).Header
}
