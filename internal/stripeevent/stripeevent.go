// Package stripeevent builds realistic Stripe webhook events in the shapes of API
// version 2023-10-16 (the version stripe-go v76 pins): charges, refunds, payouts and
// disputes. syncctl trigger, the end-to-end tests, the reconciliation property test and
// the chaos suite all send events built here, so they exercise the same payloads.
package stripeevent

import (
	"crypto/rand"
	"encoding/json"
	"strings"
	"time"
)

// APIVersion is the API version the events claim.
const APIVersion = "2023-10-16"

// Event is a Stripe event envelope.
type Event struct {
	ID       string
	Type     string
	Created  time.Time
	Object   map[string]any
	Previous map[string]any // data.previous_attributes, nil when absent
}

// JSON is the event as Stripe sends it.
func (e Event) JSON() []byte {
	data := map[string]any{"object": e.Object}
	if e.Previous != nil {
		data["previous_attributes"] = e.Previous
	}
	b, err := json.Marshal(map[string]any{
		"id":               e.ID,
		"object":           "event",
		"api_version":      APIVersion,
		"created":          e.Created.Unix(),
		"data":             data,
		"livemode":         false,
		"pending_webhooks": 1,
		"request":          map[string]any{"id": nil, "idempotency_key": nil},
		"type":             e.Type,
	})
	if err != nil {
		panic(err) // only maps of JSON values above
	}
	return b
}

// NewID returns a Stripe-looking id with prefix ("evt", "ch", "txn", …).
func NewID(prefix string) string {
	const alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return prefix + "_" + string(b)
}

// Charge describes a charge. Zero fields get sensible values from Object.
type Charge struct {
	ID                 string
	Amount             int64  // minor units of Currency
	AmountCaptured     int64  // defaults to Amount when Captured
	AmountRefunded     int64  // cumulative
	Currency           string // default "eur"
	Captured           bool
	Created            time.Time
	Customer           string // cus_…, "" for a guest
	Email              string // receipt_email
	Name               string // billing_details.name
	VATRate            string // metadata vat_rate ("20", "5.5", "0"); "" to leave it out
	BalanceTransaction string // txn_…; "" → none (an uncaptured authorisation)
	Invoice            string // in_…; "" → none
}

// Object is the charge as a Stripe JSON object.
func (c Charge) Object() map[string]any {
	currency := strings.ToLower(c.Currency)
	if currency == "" {
		currency = "eur"
	}
	captured := c.AmountCaptured
	if captured == 0 && c.Captured {
		captured = c.Amount
	}
	metadata := map[string]any{}
	if c.VATRate != "" {
		metadata["vat_rate"] = c.VATRate
	}
	return map[string]any{
		"id":                     c.ID,
		"object":                 "charge",
		"amount":                 c.Amount,
		"amount_captured":        captured,
		"amount_refunded":        c.AmountRefunded,
		"application_fee_amount": nil,
		"balance_transaction":    nullable(c.BalanceTransaction),
		"billing_details": map[string]any{
			"address": nil, "email": nil, "name": nullable(c.Name), "phone": nil,
		},
		"captured":       c.Captured,
		"created":        c.Created.Unix(),
		"currency":       currency,
		"customer":       nullable(c.Customer),
		"description":    "stripe-comptentra-sync test charge",
		"disputed":       false,
		"invoice":        nullable(c.Invoice),
		"livemode":       false,
		"metadata":       metadata,
		"paid":           true,
		"payment_intent": nil,
		"receipt_email":  nullable(c.Email),
		"refunded":       c.AmountRefunded > 0 && c.AmountRefunded == captured,
		"status":         "succeeded",
		"payment_method": "pm_card_visa",
		"outcome":        map[string]any{"type": "authorized", "network_status": "approved_by_network"},
	}
}

// Succeeded is charge.succeeded.
func (c Charge) Succeeded(created time.Time) Event {
	return Event{ID: NewID("evt"), Type: "charge.succeeded", Created: created, Object: c.Object()}
}

// CapturedEvent is charge.captured (c must be captured).
func (c Charge) CapturedEvent(created time.Time) Event {
	return Event{ID: NewID("evt"), Type: "charge.captured", Created: created, Object: c.Object(),
		Previous: map[string]any{"amount_captured": 0, "captured": false, "balance_transaction": nil}}
}

// Refunded is charge.refunded for a refund taking the cumulative refunded amount from
// before to c.AmountRefunded.
func (c Charge) Refunded(before int64, created time.Time) Event {
	return Event{ID: NewID("evt"), Type: "charge.refunded", Created: created, Object: c.Object(),
		Previous: map[string]any{"amount_refunded": before, "refunded": false}}
}

// Payout describes a payout.
type Payout struct {
	ID          string
	Amount      int64
	Currency    string // default "eur"
	Created     time.Time
	ArrivalDate time.Time
	Status      string // "paid", "failed"
}

// Object is the payout as a Stripe JSON object.
func (p Payout) Object() map[string]any {
	currency := strings.ToLower(p.Currency)
	if currency == "" {
		currency = "eur"
	}
	return map[string]any{
		"id": p.ID, "object": "payout", "amount": p.Amount, "arrival_date": p.ArrivalDate.Unix(),
		"automatic": true, "balance_transaction": "txn_" + strings.TrimPrefix(p.ID, "po_"),
		"created": p.Created.Unix(), "currency": currency, "destination": "ba_test", "livemode": false,
		"metadata": map[string]any{}, "method": "standard", "source_type": "card",
		"status": p.Status, "type": "bank_account", "failure_code": nil,
	}
}

// Event is payout.<status>.
func (p Payout) Event(created time.Time) Event {
	return Event{ID: NewID("evt"), Type: "payout." + p.Status, Created: created, Object: p.Object()}
}

// DisputeTransaction is one balance transaction of a dispute.
type DisputeTransaction struct {
	ID      string
	Amount  int64 // negative for the withdrawal, positive for the reinstatement
	Fee     int64 // positive fee charged, negative fee returned
	Created time.Time
}

// Dispute describes a dispute on a charge.
type Dispute struct {
	ID           string // du_… or dp_…
	Charge       string
	Amount       int64
	Currency     string
	Status       string // warning_needs_response, needs_response, under_review, won, lost
	Created      time.Time
	Transactions []DisputeTransaction
}

// Object is the dispute as a Stripe JSON object.
func (d Dispute) Object() map[string]any {
	currency := strings.ToLower(d.Currency)
	if currency == "" {
		currency = "eur"
	}
	bts := make([]map[string]any, 0, len(d.Transactions))
	for _, t := range d.Transactions {
		category, desc := "dispute", "Chargeback withdrawal for "+d.Charge
		if t.Amount > 0 {
			category, desc = "dispute_reversal", "Chargeback reversal for "+d.Charge
		}
		feeDetails := []map[string]any{}
		if t.Fee != 0 {
			feeDetails = append(feeDetails, map[string]any{"amount": t.Fee, "currency": currency, "description": "Dispute fee", "type": "stripe_fee"})
		}
		bts = append(bts, map[string]any{
			"id": t.ID, "object": "balance_transaction", "amount": t.Amount, "available_on": t.Created.Unix(),
			"created": t.Created.Unix(), "currency": currency, "description": desc, "exchange_rate": nil,
			"fee": t.Fee, "fee_details": feeDetails, "net": t.Amount - t.Fee, "reporting_category": category,
			"source": d.ID, "status": "available", "type": "adjustment",
		})
	}
	return map[string]any{
		"id": d.ID, "object": "dispute", "amount": d.Amount, "balance_transactions": bts, "charge": d.Charge,
		"created": d.Created.Unix(), "currency": currency, "is_charge_refundable": false, "livemode": false,
		"metadata": map[string]any{}, "payment_intent": nil, "reason": "fraudulent", "status": d.Status,
	}
}

// Event is a charge.dispute.* event of type typ ("created", "funds_withdrawn", …).
func (d Dispute) Event(typ string, created time.Time) Event {
	return Event{ID: NewID("evt"), Type: "charge.dispute." + typ, Created: created, Object: d.Object()}
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}
