package reconcile

import (
	"context"
	"fmt"
	"slices"
	"strings"

	stripe "github.com/stripe/stripe-go/v76"

	"github.com/servolution/stripe-comptentra-sync/comptentra"
	"github.com/servolution/stripe-comptentra-sync/ledger"
)

func categoryOfKind(kind string) string {
	switch kind {
	case kSettlement:
		return CatChargesGross
	case kRefund:
		return CatRefunds
	case kWithdrawn:
		return CatDisputeWithdrawals
	case kReinstated:
		return CatDisputeReinstatements
	case kPayout:
		return CatPayouts
	default:
		return CatPayoutReversals
	}
}

// feeCategory is where a kind's fee goes (and its net, for settlements).
func feeCategory(kind string) string {
	if kind == kSettlement {
		return CatChargesFees
	}
	return CatDisputeFees
}

func numeros(es []comptentra.Entry) []string {
	if len(es) == 0 {
		return nil
	}
	out := make([]string, 0, len(es))
	for _, e := range es {
		n := e.Numero
		if n == "" {
			n = e.ID
		}
		out = append(out, n)
	}
	return out
}

func btIDs(bts []*stripe.BalanceTransaction) []string {
	out := make([]string, 0, len(bts))
	for _, bt := range bts {
		out = append(out, bt.ID)
	}
	return out
}

func (c *comparer) build(rep *Report) {
	cats := map[string]*CategoryTotal{}
	for _, n := range categoryOrder {
		cats[n] = &CategoryTotal{Name: n, Label: categoryLabels[n]}
	}
	add := func(cat string, stripeAmt, books int64, count, entries int) {
		t := cats[cat]
		t.Stripe += stripeAmt
		t.Books += books
		t.Count += count
		t.InBook += entries
	}
	cur := c.rules.BookCurrency
	amt := func(x int64) string { return ledger.FormatAmount(x, cur) }

	for _, g := range c.groups {
		sm := c.stripeMeasures(g)
		var bm measures
		for _, e := range g.entries {
			m := c.bookMeasures(g.kind, e)
			bm.main += m.main
			bm.fee += m.fee
			bm.net += m.net
		}
		n, ne := len(g.bts), len(g.entries)
		add(categoryOfKind(g.kind), sm.main, bm.main, n, ne)
		if sm.hasFee {
			add(feeCategory(g.kind), sm.fee, bm.fee, n, ne)
		}
		if g.kind == kSettlement {
			add(CatChargesNet, sm.net, bm.net, n, ne)
		}
		row := Row{
			Category: categoryOfKind(g.kind), StripeIDs: btIDs(g.bts), SourceID: g.source,
			StripeDate: ledger.ParisDate(g.created).String(), BusinessKey: g.key,
			Entries: numeros(g.entries), Stripe: sm.main, Books: bm.main, Status: StatusOK, Detail: g.detail,
		}
		if ne > 0 {
			row.EntryDate = g.entries[0].Date
		}
		diff := Difference{StripeID: strings.Join(row.StripeIDs, ","), SourceID: g.source, BusinessKey: g.key, Stripe: sm.main, Books: bm.main}
		switch {
		case g.none && ne == 0:
		case ne == 0:
			diff.Kind = MissingInBooks
			diff.Detail = c.missingDetail(g)
		case ne > 1:
			diff.Kind = PresentTwice
			diff.Detail = fmt.Sprintf("%d entries carry this key: %s", ne, strings.Join(row.Entries, ", "))
		default:
			var parts []string
			first := true
			cmp := func(what string, s, b int64) {
				if s == b {
					return
				}
				if first {
					diff.Stripe, diff.Books, first = s, b, false
				}
				parts = append(parts, fmt.Sprintf("%s: Stripe %s, books %s", what, amt(s), amt(b)))
			}
			cmp(mainName(g.kind), sm.main, bm.main)
			if sm.hasFee {
				cmp("fee", sm.fee, bm.fee)
				cmp("net", sm.net, bm.net)
			}
			if len(parts) > 0 {
				diff.Kind = AmountDiffers
				diff.Detail = strings.Join(parts, "; ")
				if g.detail != "" {
					diff.Detail += " (" + g.detail + ")"
				}
			}
		}
		if diff.Kind != "" {
			row.Status = diff.Kind
			row.Detail = diff.Detail
			rep.Differences = append(rep.Differences, diff)
		}
		rep.Rows = append(rep.Rows, row)
	}

	// Entries of the period no Stripe transaction explains.
	var extra []string
	for k := range c.byKey {
		if !c.claimed[k] {
			extra = append(extra, k)
		}
	}
	slices.SortFunc(extra, func(a, b string) int {
		if da, db := c.byKey[a][0].Date, c.byKey[b][0].Date; da != db {
			return strings.Compare(da, db)
		}
		return strings.Compare(a, b)
	})
	for _, k := range extra {
		kind := entryKind(k)
		es := c.byKey[k]
		var bm measures
		for _, e := range es {
			m := c.bookMeasures(kind, e)
			bm.main += m.main
			bm.fee += m.fee
			bm.net += m.net
		}
		add(categoryOfKind(kind), 0, bm.main, 0, len(es))
		if kind == kSettlement || kind == kWithdrawn || kind == kReinstated {
			add(feeCategory(kind), 0, bm.fee, 0, len(es))
		}
		if kind == kSettlement {
			add(CatChargesNet, 0, bm.net, 0, len(es))
		}
		src, _, _ := strings.Cut(k, ":")
		d := Difference{Kind: NotInStripe, SourceID: src, BusinessKey: k, Books: bm.main,
			Detail: fmt.Sprintf("entry %s of %s (%s) has no Stripe balance transaction in the period", strings.Join(numeros(es), ", "), es[0].Date, amt(bm.main))}
		rep.Differences = append(rep.Differences, d)
		rep.Rows = append(rep.Rows, Row{Category: categoryOfKind(kind), SourceID: src, BusinessKey: k,
			Entries: numeros(es), EntryDate: es[0].Date, Books: bm.main, Status: NotInStripe, Detail: d.Detail})
	}
	rep.Rows = append(rep.Rows, c.outside...)

	for _, bt := range c.other {
		detail := fmt.Sprintf("type %s", bt.Type)
		if bt.ReportingCategory != "" && string(bt.ReportingCategory) != string(bt.Type) {
			detail += ", category " + string(bt.ReportingCategory)
		}
		amount := bt.Net
		if !strings.EqualFold(string(bt.Currency), cur) {
			detail += fmt.Sprintf(", net %s: not in the book currency, not reconciled", ledger.FormatAmount(bt.Net, string(bt.Currency)))
			amount = 0
		}
		add(CatOther, amount, 0, 1, 0)
		rep.Rows = append(rep.Rows, Row{Category: CatOther, StripeIDs: []string{bt.ID}, SourceID: sourceID(bt),
			StripeDate: ledger.ParisDate(bt.Created).String(), Stripe: amount, Status: StatusNotBooked, Detail: detail})
	}

	for _, n := range categoryOrder {
		rep.Categories = append(rep.Categories, *cats[n])
	}
	if rep.Differences == nil {
		rep.Differences = []Difference{}
	}
	rep.Agree = len(rep.Differences) == 0
}

func mainName(kind string) string {
	switch kind {
	case kSettlement:
		return "gross"
	case kWithdrawn, kReinstated:
		return "disputed amount"
	}
	return "amount"
}

func (c *comparer) missingDetail(g *group) string {
	amt := ledger.FormatAmount(c.stripeMeasures(g).main, c.rules.BookCurrency)
	journal := c.rules.Journals.Stripe
	if g.kind == kPayout || g.kind == kReversal {
		journal = c.rules.Journals.Bank
	}
	if g.kind == kRefund {
		if g.charge == "" {
			return fmt.Sprintf("no refund cash leg of %s for %s in journal %s (none names %s, none of that amount is left unmatched)", amt, g.source, journal, g.source)
		}
		return fmt.Sprintf("no refund cash leg of %s for %s of charge %s in journal %s", amt, g.source, g.charge, journal)
	}
	return fmt.Sprintf("no entry [%s] in journal %s for %s of %s", g.key, journal, strings.Join(btIDs(g.bts), ","), amt)
}

// balance is the Stripe balance at the ends of the period: GET /v1/balance gives only
// the balance now, so the end balance is known only for a period ending today, and the
// start balance is then derived from it and the net of the period's transactions.
func (c *comparer) balance(ctx context.Context) Balance {
	if ledger.DateOf(now()) != c.to {
		return Balance{Note: "not available from the API (Stripe gives only the current balance; the period does not end today)"}
	}
	b, err := c.src.Balance(ctx)
	if err != nil {
		return Balance{Note: "not available: GET /v1/balance failed: " + err.Error()}
	}
	var end int64
	for _, list := range [][]*stripe.Amount{b.Available, b.Pending} {
		for _, a := range list {
			if a != nil && strings.EqualFold(string(a.Currency), c.rules.BookCurrency) {
				end += a.Amount
			}
		}
	}
	start := end - c.netSum
	return Balance{Start: &start, End: &end, Available: true,
		Note: "end: GET /v1/balance now (available + pending); start: end minus the net of the period's transactions"}
}
