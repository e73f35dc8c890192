package comptentra

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Defaults of a Client.
const (
	// DefaultTimeout bounds every call (request, response headers and body).
	DefaultTimeout = 15 * time.Second
	// DefaultUserAgent is sent unless WithUserAgent says otherwise.
	DefaultUserAgent = "stripe-comptentra-sync-comptentra-client/1"
	// MaxResponseBytes bounds how much of a response body the client reads.
	MaxResponseBytes = 4 << 20
	// MaxIdempotencyKeyLen is the contract's limit on Idempotency-Key.
	MaxIdempotencyKeyLen = 255
	// MaxListLimit is the largest page size GET /ecritures accepts.
	MaxListLimit = 200
)

// secret holds the API key behind a pointer so that even reflective printing of a
// Client embedded by value in another struct (fmt's %+v on unexported fields) only
// ever shows an address, never the key.
type secret struct{ v string }

func (*secret) String() string   { return "[REDACTED]" }
func (*secret) GoString() string { return "[REDACTED]" }

// Client is a typed client of the Comptentra REST API. It is safe for concurrent
// use. Build it with NewClient. Printing it (String, GoString, %+v of a struct
// holding a Client by value, slog, JSON) never shows the API key.
type Client struct {
	base      *url.URL // scheme://host/path, path without trailing slash
	key       *secret
	hc        *http.Client
	timeout   time.Duration
	userAgent string
}

// Option configures a Client.
type Option func(*Client)

// WithHTTPClient uses hc for requests (its Transport, Jar and Timeout). The client
// works on a shallow copy whose CheckRedirect refuses redirects: the API never
// redirects, and following one could carry the X-API-Key header to another host.
// A nil hc is ignored.
func WithHTTPClient(hc *http.Client) Option {
	return func(c *Client) {
		if hc != nil {
			c.hc = hc
		}
	}
}

// WithTimeout sets the per-call timeout (default DefaultTimeout). It covers the
// request, the response headers and the whole body. d <= 0 keeps the default:
// every call has a timeout.
func WithTimeout(d time.Duration) Option {
	return func(c *Client) {
		if d > 0 {
			c.timeout = d
		}
	}
}

// WithUserAgent sets the User-Agent header. An empty string keeps the default.
func WithUserAgent(ua string) Option {
	return func(c *Client) {
		if ua != "" {
			c.userAgent = ua
		}
	}
}

// NewClient returns a client of the API rooted at baseURL (for example
// DefaultBaseURL, or a sandbox's URL), authenticating with apiKey. baseURL must be
// an absolute http or https URL without query or fragment; apiKey must be non-empty
// and a valid header value. Errors never contain the key (nor the base URL, in case
// the two were swapped).
func NewClient(baseURL, apiKey string, opts ...Option) (*Client, error) {
	if apiKey == "" {
		return nil, errors.New("comptentra: empty API key")
	}
	if !validHeaderValue(apiKey) {
		return nil, errors.New("comptentra: API key contains characters not allowed in an HTTP header")
	}
	u, err := url.Parse(baseURL)
	if err != nil {
		// url.Parse's error quotes its input: do not wrap it.
		return nil, errors.New("comptentra: base URL does not parse")
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, errors.New("comptentra: base URL must be an absolute http or https URL")
	}
	if u.Host == "" {
		return nil, errors.New("comptentra: base URL has no host")
	}
	if u.User != nil {
		return nil, errors.New("comptentra: base URL must not carry credentials")
	}
	if u.RawQuery != "" || u.ForceQuery || u.Fragment != "" {
		return nil, errors.New("comptentra: base URL must not have a query or fragment")
	}
	base := &url.URL{Scheme: u.Scheme, Host: u.Host}
	base.Path = strings.TrimRight(u.Path, "/")
	base.RawPath = strings.TrimRight(u.RawPath, "/")

	c := &Client{
		base:      base,
		key:       &secret{v: apiKey},
		hc:        http.DefaultClient,
		timeout:   DefaultTimeout,
		userAgent: DefaultUserAgent,
	}
	for _, o := range opts {
		if o != nil {
			o(c)
		}
	}
	hc := *c.hc // shallow copy: never mutate the caller's client
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	c.hc = &hc
	return c, nil
}

// String describes the client without its API key.
func (c *Client) String() string {
	if c == nil || c.base == nil {
		return "comptentra.Client{}"
	}
	return "comptentra.Client{" + c.base.String() + "}"
}

// GoString is String: the API key never shows, even with %#v.
func (c *Client) GoString() string { return c.String() }

// BaseURL returns the API root the client talks to.
func (c *Client) BaseURL() string { return c.base.String() }

// Created tells how POST /ecritures answered.
type Created struct {
	// Replayed is true when Comptentra answered from its idempotency store
	// (Idempotent-Replayed: true): the entry already existed and nothing was created.
	Replayed bool
	// RequestID is the X-Request-Id of the response.
	RequestID string
}

// CreateEntry posts one journal entry (POST /ecritures). When idempotencyKey is
// non-empty it is sent as Idempotency-Key, so that retrying the same call after a
// lost response returns the original entry with Created.Replayed set.
func (c *Client) CreateEntry(ctx context.Context, e NewEntry, idempotencyKey string) (Entry, Created, error) {
	if idempotencyKey != "" {
		if len(idempotencyKey) > MaxIdempotencyKeyLen {
			return Entry{}, Created{}, fmt.Errorf("comptentra: idempotency key longer than %d bytes", MaxIdempotencyKeyLen)
		}
		if !validHeaderValue(idempotencyKey) {
			return Entry{}, Created{}, errors.New("comptentra: idempotency key contains characters not allowed in an HTTP header")
		}
	}
	body, err := json.Marshal(e)
	if err != nil {
		return Entry{}, Created{}, fmt.Errorf("comptentra: encoding entry: %w", err)
	}
	var out Entry
	resp, err := c.do(ctx, http.MethodPost, "/ecritures", "", nil, body, idempotencyKey, &out)
	if err != nil {
		return Entry{}, Created{}, err
	}
	replayed, _ := strconv.ParseBool(strings.TrimSpace(resp.Header.Get(HeaderIdempotentReplayed)))
	return out, Created{Replayed: replayed, RequestID: c.redact(resp.Header.Get(HeaderRequestID))}, nil
}

// ListEntries fetches one page of GET /ecritures (newest first). Follow
// EntryPage.NextCursor with p.Cursor, or use Entries.
func (c *Client) ListEntries(ctx context.Context, p ListEntriesParams) (EntryPage, error) {
	if p.Limit < 0 || p.Limit > MaxListLimit {
		return EntryPage{}, fmt.Errorf("comptentra: list limit %d out of range 1..%d (0 for the server default)", p.Limit, MaxListLimit)
	}
	q := url.Values{}
	setIf(q, "journal", p.Journal)
	setIf(q, "piece_ref", p.PieceRef)
	setIf(q, "date_from", p.DateFrom)
	setIf(q, "date_to", p.DateTo)
	if p.Limit > 0 {
		q.Set("limit", strconv.Itoa(p.Limit))
	}
	setIf(q, "cursor", p.Cursor)
	var page EntryPage
	if _, err := c.do(ctx, http.MethodGet, "/ecritures", "", q, nil, "", &page); err != nil {
		return EntryPage{}, err
	}
	if page.Data == nil {
		page.Data = []Entry{}
	}
	return page, nil
}

// Entries iterates over every entry matching p, page after page, following
// next_cursor from p.Cursor on. On an error it yields (Entry{}, err) once and stops.
// Breaking out of the loop stops fetching.
func (c *Client) Entries(ctx context.Context, p ListEntriesParams) iter.Seq2[Entry, error] {
	return func(yield func(Entry, error) bool) {
		seen := map[string]bool{}
		for {
			page, err := c.ListEntries(ctx, p)
			if err != nil {
				yield(Entry{}, err)
				return
			}
			for _, e := range page.Data {
				if !yield(e, nil) {
					return
				}
			}
			if page.NextCursor == nil || *page.NextCursor == "" {
				return
			}
			next := *page.NextCursor
			if next == p.Cursor || seen[next] {
				yield(Entry{}, errors.New("comptentra: GET /ecritures: server returned an already visited next_cursor"))
				return
			}
			seen[next] = true
			p.Cursor = next
		}
	}
}

// GetEntry fetches one entry (GET /ecritures/{id}). An unknown id is an *APIError
// matching ErrNotFound.
func (c *Client) GetEntry(ctx context.Context, id string) (Entry, error) {
	if id == "" || id == "." || id == ".." {
		return Entry{}, errors.New("comptentra: invalid entry id")
	}
	var out Entry
	if _, err := c.do(ctx, http.MethodGet, "/ecritures/", url.PathEscape(id), nil, nil, "", &out); err != nil {
		return Entry{}, err
	}
	return out, nil
}

type dataList[T any] struct {
	Data []T `json:"data"`
}

// FiscalYears lists the exercices (GET /exercices).
func (c *Client) FiscalYears(ctx context.Context) ([]FiscalYear, error) {
	var out dataList[FiscalYear]
	if _, err := c.do(ctx, http.MethodGet, "/exercices", "", nil, nil, "", &out); err != nil {
		return nil, err
	}
	return nonNil(out.Data), nil
}

// Accounts lists the chart of accounts (GET /comptes).
func (c *Client) Accounts(ctx context.Context) ([]Account, error) {
	var out dataList[Account]
	if _, err := c.do(ctx, http.MethodGet, "/comptes", "", nil, nil, "", &out); err != nil {
		return nil, err
	}
	return nonNil(out.Data), nil
}

// FindTiers looks customers up by email and/or ref (GET /tiers); empty arguments
// are left out of the query. No match is an empty slice, not an error.
func (c *Client) FindTiers(ctx context.Context, email, ref string) ([]Tiers, error) {
	q := url.Values{}
	setIf(q, "email", email)
	setIf(q, "ref", ref)
	var out dataList[Tiers]
	if _, err := c.do(ctx, http.MethodGet, "/tiers", "", q, nil, "", &out); err != nil {
		return nil, err
	}
	return nonNil(out.Data), nil
}

// do performs one call. path is the unescaped route ("/ecritures"), escapedSuffix an
// already escaped path segment appended to it. On a 2xx it decodes the body into out
// and returns the response (body closed). Errors name method and route only: never
// the query (which may hold a customer's email) nor, of course, the key.
func (c *Client) do(ctx context.Context, method, path, escapedSuffix string, q url.Values, body []byte, idemKey string, out any) (*http.Response, error) {
	op := method + " " + path + escapedSuffix
	if ctx == nil {
		return nil, &TransportError{Op: op, Err: errors.New("nil context")}
	}
	if err := ctx.Err(); err != nil {
		return nil, callerDone(op, ctx)
	}
	callCtx, cancel := context.WithTimeoutCause(ctx, c.timeout, errCallTimeout)
	defer cancel()

	u := *c.base
	u.RawPath = c.base.EscapedPath() + escapePath(path) + escapedSuffix
	u.Path, _ = url.PathUnescape(u.RawPath)
	if len(q) > 0 {
		u.RawQuery = q.Encode()
	}

	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(callCtx, method, u.String(), rd)
	if err != nil {
		return nil, &TransportError{Op: op, Err: errors.New("building request failed")}
	}
	req.Header.Set(HeaderAPIKey, c.key.v)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", c.userAgent)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if idemKey != "" {
		req.Header.Set(HeaderIdempotencyKey, idemKey)
	}

	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, c.transportErr(op, ctx, callCtx, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, MaxResponseBytes+1))
	if err != nil {
		return nil, c.transportErr(op+": reading response", ctx, callCtx, err)
	}
	tooBig := len(data) > MaxResponseBytes
	if tooBig {
		data = data[:MaxResponseBytes]
	}

	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, newAPIError(resp, data, c.key.v)
	}
	if tooBig {
		return nil, &TransportError{Op: op, Err: fmt.Errorf("response body exceeds %d bytes", MaxResponseBytes)}
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return nil, &DecodeError{Op: op, StatusCode: resp.StatusCode, RequestID: c.redact(resp.Header.Get(HeaderRequestID)), Err: err}
		}
	}
	return resp, nil
}

// redact removes the API key from anything the server sent back.
func (c *Client) redact(s string) string { return redactKey(s, c.key.v) }

func escapePath(p string) string {
	return (&url.URL{Path: p}).EscapedPath()
}

func setIf(q url.Values, k, v string) {
	if v != "" {
		q.Set(k, v)
	}
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// validHeaderValue reports whether v can be sent as an HTTP header value
// (visible ASCII, space and tab, no CR/LF/NUL or other controls).
func validHeaderValue(v string) bool {
	for i := 0; i < len(v); i++ {
		b := v[i]
		if (b < 0x20 && b != '\t') || b == 0x7f {
			return false
		}
	}
	return true
}
