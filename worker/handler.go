package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"github.com/stripe/stripe-go/v76"

	"github.com/servolution/stripe-comptentra-sync/comptentra"
	"github.com/servolution/stripe-comptentra-sync/ledger"
)

// handler turns one Stripe event into its entries and posts them.
type handler struct {
	rules      ledger.Rules
	poster     *poster
	redis      redis.UniversalClient
	prefix     string
	stripe     StripeAPI
	ecb        RateSource
	rateSource string
	log        *slog.Logger
	timeout    time.Duration
	metrics    *Metrics
	failures   *FailureStore
}

// HandleStripeEventTask processes one eventtask.TypeStripeEvent task.
func (h *handler) HandleStripeEventTask(ctx context.Context, t *asynq.Task) error {
	ctx, cancel := context.WithTimeout(ctx, h.timeout)
	defer cancel()

	var evt stripe.Event
	if err := json.Unmarshal(t.Payload(), &evt); err != nil || evt.ID == "" || evt.Data == nil {
		if err == nil {
			err = errors.New("no id or no data")
		}
		id, _ := asynq.GetTaskID(ctx)
		h.log.Error("undecodable event payload", "event_id", id, "error", err)
		return h.fail(fmt.Errorf("%w: undecodable event: %v", ErrPermanent, err))
	}
	log := h.log.With("event_id", evt.ID, "event_type", string(evt.Type))
	token := evt.ID
	if r, ok := asynq.GetRetryCount(ctx); ok {
		token = fmt.Sprintf("%s#%d", evt.ID, r)
	}
	if strings.HasPrefix(string(evt.Type), "payout.") {
		// payout.paid and payout.failed read each other's traces: never interleave them.
		id, _ := evt.Data.Object["id"].(string)
		unlock, err := h.poster.lock(ctx, "payout-state:"+id, token)
		if err != nil {
			return h.fail(err)
		}
		defer unlock()
	}
	entries, err := h.plan(ctx, &evt)
	if err != nil {
		return h.fail(err)
	}
	if len(entries) == 0 {
		log.Info("event books nothing")
		return h.failures.Remove(ctx, evt.ID)
	}
	for _, e := range entries {
		if err := e.Validate(); err != nil {
			return h.fail(fmt.Errorf("%w: %v", ErrPermanent, err))
		}
		start := time.Now()
		id, outcome, err := h.poster.Post(ctx, e, token)
		if err != nil {
			log.Warn("posting entry failed", "business_key", e.Key, "error", err)
			return h.fail(h.explain(e, err))
		}
		h.metrics.entry(e.Journal, outcome, time.Since(start))
		log.Info("entry booked", "business_key", e.Key, "journal", e.Journal, "comptentra_entry_id", id, "outcome", string(outcome), "amount_cents", e.Total(), "date", e.Date.String())
	}
	// An event re-run from the archive (asynqmon, syncctl failed retry) is no longer a failure.
	if err := h.failures.Remove(ctx, evt.ID); err != nil {
		log.Warn("could not clear the failure record", "error", err)
	}
	return nil
}

// fail classifies err: permanent errors skip the remaining retries (asynq.SkipRetry),
// the rest are retried with backoff.
func (h *handler) fail(err error) error {
	if errors.Is(err, ErrPermanent) || isPermanentAPIError(err) {
		return fmt.Errorf("%w: %w", err, asynq.SkipRetry)
	}
	return err
}

func isPermanentAPIError(err error) bool {
	var apiErr *comptentra.APIError
	return errors.As(err, &apiErr) && !apiErr.Temporary()
}

// explain adds to a Comptentra rejection what an operator needs: for an unknown
// account, the setting that maps to it.
func (h *handler) explain(e ledger.Entry, err error) error {
	if !errors.Is(err, comptentra.ErrCompteInconnu) {
		return err
	}
	var roles []string
	accounts := map[string]bool{}
	for _, l := range e.Lines {
		accounts[l.Account] = true
	}
	for _, u := range h.rules.AccountUses() {
		if accounts[u.Account] {
			roles = append(roles, fmt.Sprintf("%s=%s (setting %s)", u.Role, u.Account, SettingOf(u.Role)))
		}
	}
	return fmt.Errorf("%w; accounts of entry %s: %s", err, e.Key, strings.Join(roles, ", "))
}

// plan computes the entries an event books. Each event is read as a snapshot of its
// object's state, and every fact that snapshot proves is planned; business keys make
// the facts already booked harmless, so the delivery order does not matter.
func (h *handler) plan(ctx context.Context, evt *stripe.Event) ([]ledger.Entry, error) {
	switch evt.Type {
	case "charge.succeeded", "charge.captured", "charge.refunded":
		var ch stripe.Charge
		if err := json.Unmarshal(evt.Data.Raw, &ch); err != nil {
			return nil, permanent("decode charge: %v", err)
		}
		return h.planCharge(ctx, evt, &ch)
	case "charge.refund.updated":
		return nil, nil // the refund itself is booked from charge.refunded
	case "charge.dispute.created", "charge.dispute.funds_withdrawn", "charge.dispute.funds_reinstated", "charge.dispute.closed":
		var d stripe.Dispute
		if err := json.Unmarshal(evt.Data.Raw, &d); err != nil {
			return nil, permanent("decode dispute: %v", err)
		}
		return h.planDispute(ctx, evt, &d)
	case "payout.paid", "payout.failed":
		var p stripe.Payout
		if err := json.Unmarshal(evt.Data.Raw, &p); err != nil {
			return nil, permanent("decode payout: %v", err)
		}
		return h.planPayout(ctx, evt, &p)
	default:
		// ingest acknowledges unhandled types without enqueueing them; one arriving here
		// (a backfill, an older ingest) books nothing rather than failing forever.
		h.log.Warn("event type not booked", "event_id", evt.ID, "event_type", string(evt.Type))
		return nil, nil
	}
}

func (h *handler) planCharge(ctx context.Context, evt *stripe.Event, ch *stripe.Charge) ([]ledger.Entry, error) {
	if !ch.Captured {
		h.log.Info("uncaptured authorisation books nothing", "event_id", evt.ID, "charge_id", ch.ID)
		return nil, nil
	}
	c, err := h.chargeFacts(ctx, ch)
	if err != nil {
		return nil, err
	}
	if err := h.saveCharge(ctx, c); err != nil {
		return nil, err
	}
	h.log.Debug("charge facts", "event_id", evt.ID, "charge_id", c.ID, "vat_rate_bp", c.VATRate, "vat_source", c.VATSource)

	sale, err := h.rules.Sale(c)
	if err != nil {
		return nil, permanent("sale of %s: %v", c.ID, err)
	}
	entries := []ledger.Entry{sale}

	if h.stripe != nil && ch.BalanceTransaction != nil && ch.BalanceTransaction.ID != "" {
		bt, err := h.balanceTransaction(ctx, ch)
		if err != nil {
			return nil, err
		}
		st, err := h.rules.Settlement(c, bt)
		if err != nil {
			return nil, permanent("settlement of %s: %v", c.ID, err)
		}
		entries = append(entries, st)
	}

	refunds, err := h.planRefunds(ctx, evt, ch, c)
	if err != nil {
		return nil, err
	}
	return append(entries, refunds...), nil
}

// planRefunds books the refund this event reports: the difference between the
// cumulative amount_refunded now and before (data.previous_attributes).
func (h *handler) planRefunds(ctx context.Context, evt *stripe.Event, ch *stripe.Charge, c ledger.Charge) ([]ledger.Entry, error) {
	if ch.AmountRefunded == 0 {
		return nil, nil
	}
	prev, hasPrev := evt.Data.PreviousAttributes["amount_refunded"]
	if hasPrev && evt.Type == "charge.refunded" {
		before, ok := prev.(float64) // JSON numbers decode to float64 in the map; amounts are < 2^53
		if !ok {
			return nil, permanent("previous_attributes.amount_refunded is %T", prev)
		}
		entries, err := h.rules.Refund(c, int64(before), ch.AmountRefunded, ledger.Refund{Created: evt.Created})
		if errors.Is(err, ledger.ErrNothingToBook) {
			return nil, nil // a refund that rounds to nothing in the book currency
		}
		if err != nil {
			return nil, permanent("refund of %s: %v", ch.ID, err)
		}
		return entries, nil
	}
	// No previous_attributes (an old payload, a backfill, or a charge event that is not
	// the refund's own): the refunds, in creation order, say what each step was.
	if h.stripe == nil {
		if evt.Type == "charge.refunded" {
			return nil, permanent("charge.refunded for %s without previous_attributes: the refunds can only be read with STRIPE_API_KEY", ch.ID)
		}
		return nil, nil // the charge.refunded events book them
	}
	list, err := h.stripe.Refunds(ctx, ch.ID)
	if err != nil {
		return nil, fmt.Errorf("worker: list refunds of %s: %w", ch.ID, err)
	}
	var entries []ledger.Entry
	var cumulative int64
	for _, r := range list {
		if r.Status != stripe.RefundStatusSucceeded && r.Status != stripe.RefundStatusPending {
			continue
		}
		es, err := h.rules.Refund(c, cumulative, cumulative+r.Amount, ledger.Refund{ID: r.ID, Created: r.Created})
		if errors.Is(err, ledger.ErrNothingToBook) {
			cumulative += r.Amount
			continue
		}
		if err != nil {
			return nil, permanent("refund %s of %s: %v", r.ID, ch.ID, err)
		}
		cumulative += r.Amount
		entries = append(entries, es...)
	}
	return entries, nil
}

func (h *handler) planDispute(ctx context.Context, evt *stripe.Event, d *stripe.Dispute) ([]ledger.Entry, error) {
	if d.Charge == nil || d.Charge.ID == "" {
		return nil, permanent("dispute %s has no charge", d.ID)
	}
	if len(d.BalanceTransactions) == 0 && d.Status != stripe.DisputeStatusLost {
		return nil, nil // an inquiry moves no money
	}
	c, err := h.loadCharge(ctx, d.Charge.ID)
	if err != nil {
		return nil, err
	}
	ld := ledger.Dispute{ID: d.ID, Charge: c, Status: string(d.Status), Amount: d.Amount, Currency: strings.ToLower(string(d.Currency))}
	if d.Status == stripe.DisputeStatusLost {
		ld.Closed = evt.Created // the lost dispute is booked on the day Stripe closed it
	}
	for _, bt := range d.BalanceTransactions {
		ld.BalanceTransactions = append(ld.BalanceTransactions, balanceTransactionFacts(bt))
	}
	var entries []ledger.Entry
	add := func(e ledger.Entry, err error) error {
		if errors.Is(err, ledger.ErrNoFundsMoved) || errors.Is(err, ledger.ErrNothingToBook) {
			return nil
		}
		if err != nil {
			return permanent("%v", err) // ledger's error names the dispute
		}
		entries = append(entries, e)
		return nil
	}
	for _, bt := range d.BalanceTransactions {
		var err error
		if bt.Amount < 0 {
			err = add(h.rules.DisputeWithdrawn(ld))
		} else if bt.Amount > 0 {
			err = add(h.rules.DisputeReinstated(ld))
		}
		if err != nil {
			return nil, err
		}
	}
	if d.Status == stripe.DisputeStatusLost {
		if err := add(h.rules.DisputeLost(ld)); err != nil {
			return nil, err
		}
	}
	return dedupeKeys(entries), nil
}

func (h *handler) planPayout(ctx context.Context, evt *stripe.Event, p *stripe.Payout) ([]ledger.Entry, error) {
	lp := ledger.Payout{ID: p.ID, Amount: p.Amount, Currency: strings.ToLower(string(p.Currency)), ArrivalDate: p.ArrivalDate, Created: p.Created}
	failedKey := h.prefix + "payout-failed:" + p.ID
	switch evt.Type {
	case "payout.paid":
		e, err := h.rules.Payout(lp)
		if err != nil {
			return nil, permanent("payout %s: %v", p.ID, err)
		}
		entries := []ledger.Entry{e}
		// A payout.failed processed earlier (events are not ordered) left a mark:
		// the reversal follows the payout now.
		failed, err := h.redis.Exists(ctx, failedKey).Result()
		if err != nil {
			return nil, fmt.Errorf("worker: read payout mark %s: %w", p.ID, err)
		}
		if failed > 0 {
			r, err := h.rules.PayoutReversal(lp)
			if err != nil {
				return nil, permanent("payout reversal %s: %v", p.ID, err)
			}
			entries = append(entries, r)
		}
		return entries, nil
	default: // payout.failed
		if err := h.redis.Set(ctx, failedKey, evt.ID, 0).Err(); err != nil {
			return nil, fmt.Errorf("worker: mark payout %s failed: %w", p.ID, err)
		}
		payoutKey := p.ID + ":payout"
		id, err := h.poster.posted(ctx, payoutKey)
		if err != nil {
			return nil, err
		}
		if id == "" {
			// Not paid (yet): a payout that fails before it is paid moves nothing; if its
			// payout.paid comes later, the mark above books the reversal with it.
			return nil, nil
		}
		r, err := h.rules.PayoutReversal(lp)
		if err != nil {
			return nil, permanent("payout reversal %s: %v", p.ID, err)
		}
		return []ledger.Entry{r}, nil
	}
}

func dedupeKeys(entries []ledger.Entry) []ledger.Entry {
	seen := map[string]bool{}
	out := entries[:0]
	for _, e := range entries {
		if !seen[e.Key] {
			seen[e.Key] = true
			out = append(out, e)
		}
	}
	return out
}
