package comptentra

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// APIError is a non-2xx answer of Comptentra. Non-JSON bodies (a proxy's HTML
// 502, say) still give an APIError, with Code "http_<status>".
type APIError struct {
	StatusCode int
	Code       string // contract code (CodeCompteInconnu…) or "http_<status>"
	Message    string
	Details    []FieldDetail
	RequestID  string        // X-Request-Id
	RetryAfter time.Duration // from Retry-After (seconds or HTTP-date); 0 when absent
}

// Error reads like `comptentra: 422 compte_inconnu: Compte inconnu [lignes[1].compte: …] (request req_1)`.
func (e *APIError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "comptentra: %d %s", e.StatusCode, e.Code)
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(e.Message)
	}
	if len(e.Details) > 0 {
		b.WriteString(" [")
		for i, d := range e.Details {
			if i > 0 {
				b.WriteString("; ")
			}
			b.WriteString(d.Field)
			b.WriteString(": ")
			b.WriteString(d.Issue)
		}
		b.WriteString("]")
	}
	if e.RetryAfter > 0 {
		fmt.Fprintf(&b, " (retry after %s)", e.RetryAfter)
	}
	if e.RequestID != "" {
		fmt.Fprintf(&b, " (request %s)", e.RequestID)
	}
	return b.String()
}

// Temporary reports whether the same request may succeed later: 408, 429, every
// 5xx, and 409 idempotency_in_progress. Other statuses (4xx, 3xx) are final.
func (e *APIError) Temporary() bool {
	switch {
	case e.StatusCode == http.StatusTooManyRequests, e.StatusCode == http.StatusRequestTimeout:
		return true
	case e.StatusCode >= 500 && e.StatusCode <= 599:
		return true
	case e.Code == CodeIdempotencyInProgress:
		return true
	}
	return false
}

// Is lets errors.Is match the code sentinels (ErrNotFound, ErrExerciceClos…).
func (e *APIError) Is(target error) bool {
	if s, ok := target.(codeSentinel); ok {
		return e.Code == s.code
	}
	return false
}

// codeSentinel is the type of the Err… values matching an APIError by Code.
type codeSentinel struct{ code string }

func (s codeSentinel) Error() string { return "comptentra: " + s.code }

// Sentinels for the codes callers branch on: errors.Is(err, ErrNotFound) is true
// when err is (or wraps) an *APIError with that Code.
var (
	ErrNotFound              error = codeSentinel{CodeNotFound}
	ErrUnauthorized          error = codeSentinel{CodeUnauthorized}
	ErrForbiddenScope        error = codeSentinel{CodeForbiddenScope}
	ErrRateLimited           error = codeSentinel{CodeRateLimited}
	ErrExerciceClos          error = codeSentinel{CodeExerciceClos}
	ErrHorsExercice          error = codeSentinel{CodeHorsExercice}
	ErrCompteInconnu         error = codeSentinel{CodeCompteInconnu}
	ErrIdempotencyConflict   error = codeSentinel{CodeIdempotencyConflict}
	ErrIdempotencyInProgress error = codeSentinel{CodeIdempotencyInProgress}
)

// TransportError is a call that got no usable HTTP answer: connection refused or
// reset, per-call timeout, truncated body, caller cancellation… Op is
// "METHOD /route" (never the query string nor the key).
type TransportError struct {
	Op  string
	Err error
	// temporary: connection trouble and the per-call timeout are; the caller's
	// cancellation, TLS certificate failures and misuse are not.
	temporary bool
}

func (e *TransportError) Error() string { return "comptentra: " + e.Op + ": " + e.Err.Error() }
func (e *TransportError) Unwrap() error { return e.Err }

// Temporary reports whether retrying may help.
func (e *TransportError) Temporary() bool { return e.temporary }

// Timeout reports whether the per-call timeout expired.
func (e *TransportError) Timeout() bool { return errors.Is(e.Err, errCallTimeout) }

// DecodeError is a 2xx answer whose body is not the expected JSON.
type DecodeError struct {
	Op         string
	StatusCode int
	RequestID  string
	Err        error
}

func (e *DecodeError) Error() string {
	s := fmt.Sprintf("comptentra: %s: decoding %d response: %v", e.Op, e.StatusCode, e.Err)
	if e.RequestID != "" {
		s += " (request " + e.RequestID + ")"
	}
	return s
}
func (e *DecodeError) Unwrap() error { return e.Err }

// ErrCallTimeout is wrapped by the error of a call that hit the client's per-call
// timeout (WithTimeout). Such errors also match context.DeadlineExceeded and are
// temporary, unlike the expiry or cancellation of the caller's own context.
var ErrCallTimeout = errCallTimeout

var errCallTimeout error = callTimeoutError{}

type callTimeoutError struct{}

func (callTimeoutError) Error() string        { return "per-call timeout exceeded" }
func (callTimeoutError) Is(target error) bool { return target == context.DeadlineExceeded }
func (callTimeoutError) Timeout() bool        { return true }
func (callTimeoutError) Temporary() bool      { return true }

// callerDone is the error when the caller's context ended: never temporary.
func callerDone(op string, ctx context.Context) error {
	err := ctx.Err()
	if cause := context.Cause(ctx); cause != nil && cause != err {
		err = fmt.Errorf("%w: %w", err, cause)
	}
	return &TransportError{Op: op, Err: err}
}

// transportErr classifies an error of http.Client.Do or of reading the body.
func (c *Client) transportErr(op string, ctx, callCtx context.Context, err error) error {
	if ctx.Err() != nil {
		return callerDone(op, ctx)
	}
	if callCtx.Err() != nil && errors.Is(context.Cause(callCtx), errCallTimeout) {
		return &TransportError{Op: op, Err: fmt.Errorf("%w (%s)", errCallTimeout, c.timeout), temporary: true}
	}
	// *url.Error quotes the full URL, query included (a customer's email for
	// /tiers): keep only its cause. The key is never in the URL anyway.
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return &TransportError{Op: op, Err: err, temporary: !permanentTransport(err)}
}

// permanentTransport recognises transport failures retrying cannot fix.
func permanentTransport(err error) bool {
	var (
		unknownCA x509.UnknownAuthorityError
		invalid   x509.CertificateInvalidError
		hostname  x509.HostnameError
		verify    *tls.CertificateVerificationError
		recordHdr tls.RecordHeaderError
	)
	return errors.As(err, &unknownCA) || errors.As(err, &invalid) || errors.As(err, &hostname) ||
		errors.As(err, &verify) || errors.As(err, &recordHdr)
}

// IsTemporary reports whether err is worth retrying: an *APIError whose Temporary
// is true (429, 5xx, idempotency_in_progress, HTML 502…), a connection error, the
// client's per-call timeout, a truncated response (io.ErrUnexpectedEOF). It is
// false for nil, for final API answers, and when the caller's own context was
// cancelled or expired.
func IsTemporary(err error) bool {
	if err == nil {
		return false
	}
	var ae *APIError
	if errors.As(err, &ae) {
		return ae.Temporary()
	}
	var te *TransportError
	if errors.As(err, &te) {
		return te.temporary
	}
	var de *DecodeError
	if errors.As(err, &de) {
		return false
	}
	// Errors not produced by this package.
	if errors.Is(err, errCallTimeout) {
		return true
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) {
		return true
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return !permanentTransport(err)
	}
	return false
}

// RetryAfter returns the Retry-After of the *APIError in err's chain, or 0.
func RetryAfter(err error) time.Duration {
	var ae *APIError
	if errors.As(err, &ae) {
		return ae.RetryAfter
	}
	return 0
}

// newAPIError builds the error of a non-2xx response from its (size-limited) body.
// Anything the server echoes is scrubbed of the API key.
func newAPIError(resp *http.Response, body []byte, key string) *APIError {
	e := &APIError{
		StatusCode: resp.StatusCode,
		RequestID:  resp.Header.Get(HeaderRequestID),
		RetryAfter: parseRetryAfter(resp.Header.Get(HeaderRetryAfter), time.Now()),
	}
	var eb ErrorBody
	if json.Unmarshal(body, &eb) == nil && eb.Error.Code != "" {
		e.Code = eb.Error.Code
		e.Message = eb.Error.Message
		e.Details = eb.Error.Details
	} else {
		e.Code = "http_" + strconv.Itoa(resp.StatusCode)
		e.Message = http.StatusText(resp.StatusCode)
		if ct := resp.Header.Get("Content-Type"); ct != "" {
			e.Message += " (" + ct + " body)"
		}
	}
	redact := func(s string) string { return redactKey(s, key) }
	e.Code = redact(e.Code)
	e.Message = redact(e.Message)
	e.RequestID = redact(e.RequestID)
	for i := range e.Details {
		e.Details[i].Field = redact(e.Details[i].Field)
		e.Details[i].Issue = redact(e.Details[i].Issue)
	}
	return e
}

// parseRetryAfter reads delay-seconds or an HTTP-date; 0 when absent, invalid or past.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n <= 0 {
			return 0
		}
		if n > int64(24*time.Hour/time.Second) {
			n = int64(24 * time.Hour / time.Second)
		}
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now); d > 0 {
			return d
		}
	}
	return 0
}

func redactKey(s, key string) string {
	if key == "" {
		return s
	}
	return strings.ReplaceAll(s, key, "[REDACTED]")
}
