// Package stripeapi is the service's read-only access to the Stripe API: the
// few endpoints the bookkeeping needs (balance transactions for fees and
// settlement, refunds of a charge, invoices for their number and VAT, events
// for backfill, the balance for reconciliation).
//
// It is a thin layer over github.com/stripe/stripe-go/v76 (client.API): the
// HTTP transport, request encoding, paging and the retry policy (429 with
// Stripe-Should-Retry, 409, 5xx on GET, connection errors, with exponential
// backoff) are stripe-go's. This package adds context plumbing, range
// parameters, error classification (IsTemporary, ErrNotFound) and makes sure
// the API key never shows up in an error message.
package stripeapi

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"net/http"
	"slices"
	"strings"
	"time"

	stripe "github.com/stripe/stripe-go/v76"
	"github.com/stripe/stripe-go/v76/client"
)

// DefaultMaxNetworkRetries is used when Config.MaxNetworkRetries is 0.
const DefaultMaxNetworkRetries = 3

// DefaultTimeout is the per-HTTP-request timeout used when Config.Timeout is
// 0 (stripe-go's own default client uses 80 s).
const DefaultTimeout = 80 * time.Second

// pageSize is the page size asked for when listing (Stripe's maximum).
const pageSize = 100

// maxEventTypes is Stripe's limit on types[] for GET /v1/events.
const maxEventTypes = 20

// Config configures a Client.
type Config struct {
	// APIKey is a secret or (better) restricted read-only key. Required.
	APIKey string
	// BaseURL is the API root without /v1 ("" → Stripe's https://api.stripe.com),
	// the same form as STRIPE_API_URL, e.g. "http://127.0.0.1:12111" for
	// stripe-mock. A trailing "/" or "/v1" is tolerated and removed.
	BaseURL string
	// MaxNetworkRetries is the number of retries stripe-go makes for requests
	// that failed in a way known to be safe to retry. 0 → DefaultMaxNetworkRetries
	// (3); a negative value disables retries.
	MaxNetworkRetries int64
	// HTTPClient is the client to use; nil → a new client with Timeout.
	HTTPClient *http.Client
	// Timeout is the timeout of each HTTP request (each retry has its own).
	// 0 → DefaultTimeout, or the HTTPClient's own timeout when one is given.
	Timeout time.Duration
}

// Client reads the Stripe API. It is safe for concurrent use.
type Client struct {
	api *client.API
	key string
}

// New returns a Client for cfg.
func New(cfg Config) (*Client, error) {
	key := strings.TrimSpace(cfg.APIKey)
	if key == "" {
		return nil, errors.New("stripeapi: missing API key")
	}
	if strings.ContainsAny(key, " \t\r\n") {
		return nil, errors.New("stripeapi: malformed API key (contains white space)")
	}

	retries := cfg.MaxNetworkRetries
	switch {
	case retries == 0:
		retries = DefaultMaxNetworkRetries
	case retries < 0:
		retries = 0
	}

	var hc *http.Client
	switch {
	case cfg.HTTPClient == nil:
		t := cfg.Timeout
		if t <= 0 {
			t = DefaultTimeout
		}
		hc = &http.Client{Timeout: t}
	case cfg.Timeout > 0:
		c := *cfg.HTTPClient // never mutate the caller's client
		c.Timeout = cfg.Timeout
		hc = &c
	default:
		hc = cfg.HTTPClient
	}

	bc := &stripe.BackendConfig{
		HTTPClient:        hc,
		MaxNetworkRetries: stripe.Int64(retries),
		// stripe-go's default logger writes to stderr; errors are returned
		// to the caller instead, who logs them (redacted) with its own logger.
		LeveledLogger: &stripe.LeveledLogger{Level: stripe.LevelNull},
	}
	if cfg.BaseURL != "" {
		u, err := normalizeBaseURL(cfg.BaseURL)
		if err != nil {
			return nil, err
		}
		bc.URL = stripe.String(u)
	}

	backends := &stripe.Backends{
		API: stripe.GetBackendWithConfig(stripe.APIBackend, bc),
		// Never used by this package; configured alike so that nothing
		// falls back to stripe-go's global, logging backends.
		Connect: stripe.GetBackendWithConfig(stripe.ConnectBackend, &stripe.BackendConfig{
			HTTPClient: hc, MaxNetworkRetries: stripe.Int64(retries),
			LeveledLogger: &stripe.LeveledLogger{Level: stripe.LevelNull},
		}),
		Uploads: stripe.GetBackendWithConfig(stripe.UploadsBackend, &stripe.BackendConfig{
			HTTPClient: hc, MaxNetworkRetries: stripe.Int64(retries),
			LeveledLogger: &stripe.LeveledLogger{Level: stripe.LevelNull},
		}),
	}
	return &Client{api: client.New(key, backends), key: key}, nil
}

func normalizeBaseURL(s string) (string, error) {
	s = strings.TrimSpace(s)
	if !strings.HasPrefix(s, "http://") && !strings.HasPrefix(s, "https://") {
		return "", fmt.Errorf("stripeapi: base URL %q: want http:// or https://", s)
	}
	s = strings.TrimRight(s, "/")
	s = strings.TrimSuffix(s, "/v1")
	return strings.TrimRight(s, "/"), nil
}

// BalanceTransaction retrieves GET /v1/balance_transactions/{id}.
func (c *Client) BalanceTransaction(ctx context.Context, id string) (*stripe.BalanceTransaction, error) {
	if err := checkID("balance transaction", id); err != nil {
		return nil, err
	}
	p := &stripe.BalanceTransactionParams{}
	p.Context = ctx
	bt, err := c.api.BalanceTransactions.Get(id, p)
	if err != nil {
		return nil, c.wrap(err, "get balance transaction %s", id)
	}
	return bt, nil
}

// Charge reads one charge (GET /v1/charges/{id}): a dispute carries only its id.
func (c *Client) Charge(ctx context.Context, id string) (*stripe.Charge, error) {
	if err := checkID("charge", id); err != nil {
		return nil, err
	}
	p := &stripe.ChargeParams{}
	p.Context = ctx
	ch, err := c.api.Charges.Get(id, p)
	if err != nil {
		return nil, c.wrap(err, "get charge %s", id)
	}
	return ch, nil
}

// Refunds lists all refunds of a charge (GET /v1/refunds?charge=…, every
// page) in creation order, oldest first. Stripe lists newest first; refunds of
// one charge are few, so they are collected and reversed.
func (c *Client) Refunds(ctx context.Context, chargeID string) ([]*stripe.Refund, error) {
	if err := checkID("charge", chargeID); err != nil {
		return nil, err
	}
	p := &stripe.RefundListParams{Charge: stripe.String(chargeID)}
	p.Context = ctx
	p.Limit = stripe.Int64(pageSize)
	var out []*stripe.Refund
	it := c.api.Refunds.List(p)
	for it.Next() {
		out = append(out, it.Refund())
	}
	if err := it.Err(); err != nil {
		return nil, c.wrap(err, "list refunds of charge %s", chargeID)
	}
	slices.Reverse(out)
	// Newest-first reversed is oldest-first; the stable sort only matters if
	// a server ever returned them out of order, and keeps ties as listed.
	slices.SortStableFunc(out, func(a, b *stripe.Refund) int {
		switch {
		case a.Created < b.Created:
			return -1
		case a.Created > b.Created:
			return 1
		}
		return 0
	})
	return out, nil
}

// Invoice retrieves GET /v1/invoices/{id} with total_tax_amounts.tax_rate
// expanded, so that InvoiceVAT can read each tax rate's percentage.
func (c *Client) Invoice(ctx context.Context, id string) (*stripe.Invoice, error) {
	if err := checkID("invoice", id); err != nil {
		return nil, err
	}
	p := &stripe.InvoiceParams{}
	p.Context = ctx
	p.AddExpand("total_tax_amounts.tax_rate")
	inv, err := c.api.Invoices.Get(id, p)
	if err != nil {
		return nil, c.wrap(err, "get invoice %s", id)
	}
	return inv, nil
}

// Balance retrieves GET /v1/balance.
func (c *Client) Balance(ctx context.Context) (*stripe.Balance, error) {
	p := &stripe.BalanceParams{}
	p.Context = ctx
	b, err := c.api.Balance.Get(p)
	if err != nil {
		return nil, c.wrap(err, "get balance")
	}
	return b, nil
}

// EventsParams selects events for Client.Events. Zero times leave that end of
// the range open; both ends are inclusive (created[gte], created[lte]) at
// whole-second precision, as Stripe's created is a Unix time in seconds.
type EventsParams struct {
	Since, Until time.Time
	// Types filters on event types (types[]; at most 20, Stripe's limit).
	// Empty → all types.
	Types []string
}

// Events lists events (GET /v1/events), every page, in Stripe's order:
// newest first. Stripe keeps events for 30 days. Errors are yielded once, as
// the last element. The first request is made when iteration starts.
func (c *Client) Events(ctx context.Context, p EventsParams) iter.Seq2[*stripe.Event, error] {
	return func(yield func(*stripe.Event, error) bool) {
		lp := &stripe.EventListParams{}
		lp.Context = ctx
		lp.Limit = stripe.Int64(pageSize)
		cr, err := createdRange(p.Since, p.Until)
		if err != nil {
			yield(nil, fmt.Errorf("stripeapi: list events: %w", err))
			return
		}
		lp.CreatedRange = cr
		if len(p.Types) > maxEventTypes {
			yield(nil, fmt.Errorf("stripeapi: list events: %d types, Stripe accepts at most %d", len(p.Types), maxEventTypes))
			return
		}
		for _, t := range p.Types {
			if strings.TrimSpace(t) == "" {
				yield(nil, errors.New("stripeapi: list events: empty event type"))
				return
			}
			lp.Types = append(lp.Types, stripe.String(t))
		}
		it := c.api.Events.List(lp)
		for it.Next() {
			if err := ctx.Err(); err != nil {
				yield(nil, c.wrap(err, "list events"))
				return
			}
			if !yield(it.Event(), nil) {
				return
			}
		}
		if err := it.Err(); err != nil {
			yield(nil, c.wrap(err, "list events"))
		}
	}
}

// BTParams selects balance transactions for Client.BalanceTransactions.
type BTParams struct {
	// Since and Until bound created (inclusive, whole seconds); zero → open.
	Since, Until time.Time
	// Payout keeps the transactions paid out in that payout (po_…; automatic
	// payouts only, as Stripe documents).
	Payout string
	// Type keeps one type (charge, refund, payout, adjustment, stripe_fee…).
	Type string
	// Currency keeps one currency (lower-case ISO code).
	Currency string
}

// BalanceTransactions lists balance transactions (GET /v1/balance_transactions),
// every page, in Stripe's order: newest first. Errors are yielded once, as
// the last element. The first request is made when iteration starts.
func (c *Client) BalanceTransactions(ctx context.Context, p BTParams) iter.Seq2[*stripe.BalanceTransaction, error] {
	return func(yield func(*stripe.BalanceTransaction, error) bool) {
		lp := &stripe.BalanceTransactionListParams{}
		lp.Context = ctx
		lp.Limit = stripe.Int64(pageSize)
		cr, err := createdRange(p.Since, p.Until)
		if err != nil {
			yield(nil, fmt.Errorf("stripeapi: list balance transactions: %w", err))
			return
		}
		lp.CreatedRange = cr
		if p.Payout != "" {
			lp.Payout = stripe.String(p.Payout)
		}
		if p.Type != "" {
			lp.Type = stripe.String(p.Type)
		}
		if p.Currency != "" {
			lp.Currency = stripe.String(strings.ToLower(p.Currency))
		}
		it := c.api.BalanceTransactions.List(lp)
		for it.Next() {
			if err := ctx.Err(); err != nil {
				yield(nil, c.wrap(err, "list balance transactions"))
				return
			}
			if !yield(it.BalanceTransaction(), nil) {
				return
			}
		}
		if err := it.Err(); err != nil {
			yield(nil, c.wrap(err, "list balance transactions"))
		}
	}
}

// createdRange builds created[gte]/created[lte]. stripe-go leaves zero
// fields out of the form, so an open end is simply not sent; a time at or
// before the Unix epoch is treated as open too (Stripe has nothing then).
func createdRange(since, until time.Time) (*stripe.RangeQueryParams, error) {
	var r stripe.RangeQueryParams
	if !since.IsZero() && since.Unix() > 0 {
		r.GreaterThanOrEqual = since.Unix()
	}
	if !until.IsZero() {
		if until.Unix() <= 0 {
			return nil, fmt.Errorf("until %s is before any Stripe object", until.UTC().Format(time.RFC3339))
		}
		r.LesserThanOrEqual = until.Unix()
	}
	if r.GreaterThanOrEqual != 0 && r.LesserThanOrEqual != 0 && r.GreaterThanOrEqual > r.LesserThanOrEqual {
		return nil, fmt.Errorf("empty created range: since %s is after until %s",
			since.UTC().Format(time.RFC3339), until.UTC().Format(time.RFC3339))
	}
	if r == (stripe.RangeQueryParams{}) {
		return nil, nil
	}
	return &r, nil
}

func checkID(what, id string) error {
	if id == "" {
		return fmt.Errorf("stripeapi: empty %s id", what)
	}
	if strings.ContainsAny(id, "/?#% \t\r\n") {
		return fmt.Errorf("stripeapi: malformed %s id %q", what, id)
	}
	return nil
}
