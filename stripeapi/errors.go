package stripeapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"syscall"

	stripe "github.com/stripe/stripe-go/v76"
)

// ErrNotFound matches (errors.Is) an error for a missing Stripe object:
// HTTP 404 or error code resource_missing. The error also unwraps to the
// *stripe.Error Stripe returned.
var ErrNotFound = errors.New("stripeapi: resource not found")

// Error is the error type returned by Client methods. It says which call
// failed and unwraps to the cause (a *stripe.Error for API errors, a
// *url.Error or context error for transport failures) and, for missing
// objects, to ErrNotFound. Its message never contains the API key.
type Error struct {
	Op       string // e.g. "get balance transaction txn_123"
	msg      string // the cause's message, redacted
	err      error
	notFound bool
}

func (e *Error) Error() string { return "stripeapi: " + e.Op + ": " + e.msg }

// Unwrap returns the cause, and ErrNotFound for a missing object.
func (e *Error) Unwrap() []error {
	if e.notFound {
		return []error{ErrNotFound, e.err}
	}
	return []error{e.err}
}

// keyRE matches Stripe keys, whole or masked the way Stripe echoes them in
// "Invalid API Key provided: sk_test_********1234".
var keyRE = regexp.MustCompile(`\b(sk|rk|pk)_(test|live)_[0-9A-Za-z*]+`)

// redact removes key material (ours, whole or in part, and any Stripe-looking
// key) from s.
func (c *Client) redact(s string) string {
	if c.key != "" {
		s = strings.ReplaceAll(s, c.key, "[REDACTED]")
	}
	return keyRE.ReplaceAllString(s, "${1}_${2}_[REDACTED]")
}

// wrap turns err from stripe-go into an *Error. A *stripe.Error is redacted
// in place (message and raw response body), so that neither the returned
// error nor anything it unwraps to can print the key.
func (c *Client) wrap(err error, format string, args ...any) error {
	e := &Error{Op: fmt.Sprintf(format, args...), err: err}
	var se *stripe.Error
	if errors.As(err, &se) {
		se.Msg = c.redact(se.Msg)
		if se.LastResponse != nil {
			se.LastResponse.RawJSON = []byte(c.redact(string(se.LastResponse.RawJSON)))
		}
		e.notFound = se.HTTPStatusCode == 404 || se.Code == stripe.ErrorCodeResourceMissing
	}
	e.msg = c.redact(err.Error())
	return e
}

// statusRE finds the HTTP status in the error stripe-go makes for an error
// response whose body is not JSON (a proxy's HTML 502 page, for instance).
var statusRE = regexp.MustCompile(`Couldn't deserialize JSON \(response status: (\d{3})\b`)

// IsTemporary reports whether err is worth retrying later: Stripe answered
// 429 (rate limit, lock timeout) or 5xx, the connection failed, or a timeout
// (including the context's deadline) expired. 4xx answers (invalid request,
// authentication, not found, card errors), a cancelled context and
// argument errors are permanent: retrying would give the same answer.
//
// stripe-go has already retried what it considers safe (Config.MaxNetworkRetries)
// before the error reaches the caller; IsTemporary is for the caller's own,
// slower retry (the task queue's backoff).
func IsTemporary(err error) bool {
	if err == nil {
		return false
	}
	var se *stripe.Error
	if errors.As(err, &se) {
		return se.HTTPStatusCode == 429 || se.HTTPStatusCode >= 500
	}
	if errors.Is(err, context.Canceled) {
		return false
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	if m := statusRE.FindStringSubmatch(err.Error()); m != nil {
		code, _ := strconv.Atoi(m[1])
		return code == 429 || code >= 500
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return true // timeouts, refused/reset connections, DNS failures
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		return true // transport failure on the way to Stripe
	}
	return errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.EPIPE)
}
