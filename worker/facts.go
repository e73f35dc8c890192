package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"
	"github.com/stripe/stripe-go/v76"

	"github.com/servolution/stripe-comptentra-sync/ledger"
	"github.com/servolution/stripe-comptentra-sync/stripeapi"
)

// StripeAPI is the part of the Stripe API the worker reads what webhooks do not carry:
// fees and settlement (balance transactions), refunds when previous_attributes is
// missing, invoices for Stripe's own tax amounts, and a charge a dispute refers to.
// *stripeapi.Client has it; nil means no STRIPE_API_KEY is configured.
type StripeAPI interface {
	BalanceTransaction(ctx context.Context, id string) (*stripe.BalanceTransaction, error)
	Refunds(ctx context.Context, chargeID string) ([]*stripe.Refund, error)
	Invoice(ctx context.Context, id string) (*stripe.Invoice, error)
	Charge(ctx context.Context, id string) (*stripe.Charge, error)
}

// RateSource gives the ECB reference rate (units of currency per euro) published on or
// before day. *ecb.Source has it.
type RateSource interface {
	Rate(ctx context.Context, currency, day string) (rate, rateDay string, err error)
}

// Rate sources of foreign-currency sales (booking-rules.md, E).
const (
	RateSourceStripe = "stripe"
	RateSourceECB    = "ecb"
)

// ErrPermanent marks failures that no retry can fix (a malformed payload, a missing
// setting): the task goes straight to the archive and the failure record.
var ErrPermanent = errors.New("permanent failure")

func permanent(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrPermanent}, args...)...)
}

// ErrWaitingForCharge means a dispute arrived before the charge it refers to: retried
// until the charge's own event has been processed.
var ErrWaitingForCharge = errors.New("worker: the disputed charge is not known yet")

// chargeFacts builds the ledger facts of a charge. It resolves the VAT rate (Stripe's
// invoice taxes, then metadata vat_rate, then the default), the piece reference and,
// for a foreign currency, the amount in the book currency.
func (h *handler) chargeFacts(ctx context.Context, ch *stripe.Charge) (ledger.Charge, error) {
	c := ledger.Charge{
		ID:       ch.ID,
		Created:  ch.Created,
		Currency: strings.ToLower(string(ch.Currency)),
		Amount:   ch.AmountCaptured,
		Email:    ch.ReceiptEmail,
	}
	if c.Amount == 0 && ch.Captured {
		c.Amount = ch.Amount // payloads older than amount_captured
	}
	if ch.Customer != nil {
		c.CustomerID = ch.Customer.ID
	}
	if ch.BillingDetails != nil {
		if c.Email == "" {
			c.Email = ch.BillingDetails.Email
		}
		c.Name = ch.BillingDetails.Name
	}

	// The VAT rate, piece reference and book amount of a charge are settled the first
	// time it is seen and reused for every later event: all its entries must agree, and
	// the invoice, the settled amount or the ECB rate need not be read again.
	if prev, found, err := h.chargeRecord(ctx, c.ID); err != nil {
		return c, err
	} else if found && prev.Amount == c.Amount && prev.Currency == c.Currency {
		c.VATRate, c.VATSource, c.InvoiceNumber, c.BookAmount = prev.VATRate, prev.VATSource, prev.InvoiceNumber, prev.BookAmount
		return c, nil
	}
	c.VATRate, c.VATSource = h.rules.DefaultVATRate, "default"
	if ch.Invoice != nil && ch.Invoice.ID != "" && h.stripe != nil {
		inv, err := h.stripe.Invoice(ctx, ch.Invoice.ID)
		if err != nil {
			return c, fmt.Errorf("worker: read invoice %s of %s: %w", ch.Invoice.ID, ch.ID, err)
		}
		c.InvoiceNumber = inv.Number
		if rate, ok := stripeapi.InvoiceVAT(inv); ok {
			c.VATRate, c.VATSource = rate, "invoice"
		}
	}
	if c.VATSource == "default" {
		if s, ok := ch.Metadata["vat_rate"]; ok {
			rate, err := ledger.ParseRate(s)
			if err != nil {
				return c, permanent("charge %s: metadata vat_rate %q: %v", ch.ID, s, err)
			}
			c.VATRate, c.VATSource = rate, "metadata"
		}
	}

	if !strings.EqualFold(c.Currency, h.rules.BookCurrency) && ch.Captured {
		amount, err := h.bookAmount(ctx, ch, c)
		if err != nil {
			return c, err
		}
		c.BookAmount = amount
	}
	return c, nil
}

// bookAmount is the TTC of a foreign-currency charge in the book currency.
func (h *handler) bookAmount(ctx context.Context, ch *stripe.Charge, c ledger.Charge) (int64, error) {
	switch h.rateSource {
	case RateSourceECB:
		if h.ecb == nil {
			return 0, permanent("charge %s in %s: FX_RATE_SOURCE=ecb but no ECB source is configured", ch.ID, c.Currency)
		}
		day := ledger.ParisDate(ch.Created).String()
		rate, _, err := h.ecb.Rate(ctx, strings.ToUpper(c.Currency), day)
		if err != nil {
			return 0, fmt.Errorf("worker: ECB rate of %s on %s: %w", c.Currency, day, err)
		}
		return ledger.ConvertECB(c.Amount, c.Currency, rate)
	default:
		bt, err := h.balanceTransaction(ctx, ch)
		if err != nil {
			return 0, err
		}
		if !strings.EqualFold(bt.Currency, h.rules.BookCurrency) {
			return 0, permanent("charge %s settled in %s, not in the book currency %s", ch.ID, bt.Currency, h.rules.BookCurrency)
		}
		return bt.Amount, nil
	}
}

// balanceTransaction reads the charge's balance transaction from the Stripe API.
func (h *handler) balanceTransaction(ctx context.Context, ch *stripe.Charge) (ledger.BalanceTransaction, error) {
	if ch.BalanceTransaction == nil || ch.BalanceTransaction.ID == "" {
		return ledger.BalanceTransaction{}, permanent("charge %s has no balance transaction", ch.ID)
	}
	if h.stripe == nil {
		return ledger.BalanceTransaction{}, permanent("charge %s in %s: the settled amount needs STRIPE_API_KEY (or FX_RATE_SOURCE=ecb)", ch.ID, ch.Currency)
	}
	bt, err := h.stripe.BalanceTransaction(ctx, ch.BalanceTransaction.ID)
	if err != nil {
		return ledger.BalanceTransaction{}, fmt.Errorf("worker: read balance transaction %s of %s: %w", ch.BalanceTransaction.ID, ch.ID, err)
	}
	return balanceTransactionFacts(bt), nil
}

func balanceTransactionFacts(bt *stripe.BalanceTransaction) ledger.BalanceTransaction {
	out := ledger.BalanceTransaction{
		ID:       bt.ID,
		Created:  bt.Created,
		Currency: strings.ToLower(string(bt.Currency)),
		Amount:   bt.Amount,
		Fee:      bt.Fee,
		Net:      bt.Net,
	}
	if bt.ExchangeRate != 0 {
		// The shortest decimal that round-trips is the decimal Stripe sent in the JSON.
		out.ExchangeRate = strconv.FormatFloat(bt.ExchangeRate, 'f', -1, 64)
	}
	return out
}

// The charge record keeps the ledger facts of every charge seen, so that a dispute,
// which carries only the charge id, is booked with the sale's tiers, rate and piece.
func (h *handler) chargeRecordKey(id string) string { return h.prefix + "charge:" + id }

func (h *handler) saveCharge(ctx context.Context, c ledger.Charge) error {
	b, err := json.Marshal(c)
	if err != nil {
		return err
	}
	if err := h.redis.Set(ctx, h.chargeRecordKey(c.ID), b, 0).Err(); err != nil {
		return fmt.Errorf("worker: save charge %s: %w", c.ID, err)
	}
	return nil
}

// chargeRecord returns the facts recorded for a charge, if any.
func (h *handler) chargeRecord(ctx context.Context, id string) (ledger.Charge, bool, error) {
	var c ledger.Charge
	b, err := h.redis.Get(ctx, h.chargeRecordKey(id)).Bytes()
	if errors.Is(err, redis.Nil) {
		return c, false, nil
	}
	if err != nil {
		return c, false, fmt.Errorf("worker: read charge record %s: %w", id, err)
	}
	if err := json.Unmarshal(b, &c); err != nil {
		return c, false, fmt.Errorf("worker: charge record %s: %w", id, err)
	}
	return c, true, nil
}

// loadCharge returns the facts of a charge seen before, else reads it from Stripe.
func (h *handler) loadCharge(ctx context.Context, id string) (ledger.Charge, error) {
	if c, found, err := h.chargeRecord(ctx, id); err != nil || found {
		return c, err
	}
	if h.stripe == nil {
		return ledger.Charge{}, fmt.Errorf("%w: %s", ErrWaitingForCharge, id)
	}
	ch, err := h.stripe.Charge(ctx, id)
	if err != nil {
		return ledger.Charge{}, fmt.Errorf("worker: read charge %s: %w", id, err)
	}
	c, err := h.chargeFacts(ctx, ch)
	if err != nil {
		return c, err
	}
	return c, h.saveCharge(ctx, c)
}
