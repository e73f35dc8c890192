package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/servolution/stripe-comptentra-sync/ingest"
	"github.com/servolution/stripe-comptentra-sync/internal/stripeevent"
)

// runTrigger builds one realistic Stripe event, signs it like Stripe does and posts it
// to ingest: `stripe trigger` without a Stripe account or a network.
func runTrigger(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	fs := flag.NewFlagSet("trigger", flag.ContinueOnError)
	fs.SetOutput(stdout)
	url := fs.String("url", envOr(getenv, "SYNCCTL_WEBHOOK_URL", "http://127.0.0.1:8080/stripe-webhook"), "ingest webhook URL (env SYNCCTL_WEBHOOK_URL)")
	secret := fs.String("secret", "", "webhook signing secret (default: env STRIPE_WEBHOOK_SECRET, first of the list)")
	amount := fs.Int64("amount", 12000, "amount in minor units (12000 = 120.00 EUR)")
	currency := fs.String("currency", "eur", "ISO currency")
	email := fs.String("email", "client@example.com", "customer e-mail (receipt_email)")
	customer := fs.String("customer", "", "Stripe customer id (default: a new cus_…)")
	vat := fs.String("vat", "", `charge metadata vat_rate, e.g. "20", "5.5", "0" (default: none → the configured default rate)`)
	chargeID := fs.String("charge", "", "charge id (default: a new ch_…); reuse one to refund or dispute it")
	refunded := fs.Int64("refunded", 0, "charge.refunded: cumulative amount refunded after this refund (default: the whole amount)")
	before := fs.Int64("before", 0, "charge.refunded: cumulative amount refunded before this refund")
	fee := fs.Int64("fee", 1500, "dispute fee in minor units")
	disputeID := fs.String("dispute", "", "dispute id (default: a new du_…)")
	payoutID := fs.String("payout", "", "payout id (default: a new po_…)")
	at := fs.String("at", "", "event time, RFC 3339 (default: now)")
	show := fs.Bool("print", false, "print the event JSON before sending it")
	fs.Usage = func() {
		fmt.Fprintln(stdout, "usage: syncctl trigger <event-type> [flags]\n\nevent types: charge.succeeded charge.captured charge.refunded payout.paid payout.failed\n  charge.dispute.created charge.dispute.funds_withdrawn charge.dispute.funds_reinstated charge.dispute.closed (lost)\n  any other type is sent as-is with an empty object (ingest acknowledges it as ignored)\n\nflags:")
		fs.PrintDefaults()
	}
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		fs.Usage()
		return errUsage
	}
	typ := args[0]
	if err := fs.Parse(args[1:]); err != nil {
		return flagError(err)
	}
	if *secret == "" {
		*secret, _, _ = strings.Cut(getenv("STRIPE_WEBHOOK_SECRET"), ",")
	}
	if *secret == "" {
		return fmt.Errorf("no webhook secret: pass -secret or set STRIPE_WEBHOOK_SECRET (syncctl dev prints it)")
	}
	now := time.Now()
	if *at != "" {
		t, err := time.Parse(time.RFC3339, *at)
		if err != nil {
			return fmt.Errorf("-at %q: want RFC 3339, e.g. 2026-03-14T10:00:00+01:00", *at)
		}
		now = t
	}
	if *chargeID == "" {
		*chargeID = stripeevent.NewID("ch")
	}
	if *customer == "" {
		*customer = stripeevent.NewID("cus")
	}
	ch := stripeevent.Charge{
		ID: *chargeID, Amount: *amount, Currency: *currency, Captured: true, Created: now,
		Customer: *customer, Email: *email, VATRate: *vat, BalanceTransaction: stripeevent.NewID("txn"),
	}
	var evt stripeevent.Event
	switch typ {
	case "charge.succeeded":
		evt = ch.Succeeded(now)
	case "charge.captured":
		evt = ch.CapturedEvent(now)
	case "charge.refunded":
		ch.AmountRefunded = *refunded
		if ch.AmountRefunded == 0 {
			ch.AmountRefunded = ch.Amount
		}
		evt = ch.Refunded(*before, now)
	case "payout.paid", "payout.failed":
		if *payoutID == "" {
			*payoutID = stripeevent.NewID("po")
		}
		p := stripeevent.Payout{ID: *payoutID, Amount: *amount, Currency: *currency, Created: now, ArrivalDate: now, Status: strings.TrimPrefix(typ, "payout.")}
		evt = p.Event(now)
	case "charge.dispute.created", "charge.dispute.funds_withdrawn", "charge.dispute.funds_reinstated", "charge.dispute.closed":
		if *disputeID == "" {
			*disputeID = stripeevent.NewID("du")
		}
		d := stripeevent.Dispute{ID: *disputeID, Charge: *chargeID, Amount: *amount, Currency: *currency, Status: "needs_response", Created: now,
			Transactions: []stripeevent.DisputeTransaction{{ID: stripeevent.NewID("txn"), Amount: -*amount, Fee: *fee, Created: now}}}
		switch typ {
		case "charge.dispute.funds_reinstated":
			d.Status = "won"
			d.Transactions = append(d.Transactions, stripeevent.DisputeTransaction{ID: stripeevent.NewID("txn"), Amount: *amount, Created: now})
		case "charge.dispute.closed":
			d.Status = "lost"
		}
		evt = d.Event(strings.TrimPrefix(typ, "charge.dispute."), now)
	default:
		evt = stripeevent.Event{ID: stripeevent.NewID("evt"), Type: typ, Created: now, Object: map[string]any{"id": stripeevent.NewID("obj")}}
	}
	body := evt.JSON()
	if *show {
		fmt.Fprintf(stdout, "%s\n", body)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, *url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Stripe-Signature", ingest.SignPayload(body, *secret, time.Now()))
	resp, err := (&http.Client{Timeout: 15 * time.Second}).Do(req)
	if err != nil {
		return fmt.Errorf("post %s to %s: %w", typ, *url, err)
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	fmt.Fprintf(stdout, "%s %s (charge %s) → %s %s\n", evt.ID, typ, *chargeID, resp.Status, bytes.TrimSpace(answer))
	if resp.StatusCode/100 != 2 {
		return exitCode(1)
	}
	return nil
}

func envOr(getenv func(string) string, name, def string) string {
	if v := getenv(name); v != "" {
		return v
	}
	return def
}
