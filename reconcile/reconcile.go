// Package reconcile compares what Stripe says moved on the Stripe balance during a
// period (its balance transactions) with what the Comptentra books hold for it (the
// entries the sync posted, recognised by the business key at the end of their libellé,
// see worker.KeyTag and docs/booking-rules.md).
//
// For each balance transaction of the period it derives the entry the booking rules
// produce for it and looks for that entry by its key:
//
//	charge, payment                 → ch_X:settlement      gross (411 credit ± exchange), fee (627 debit), net (517 debit)
//	refund, payment_refund          → ch_X:refund:N:cash   refund (517 credit)
//	adjustment (dispute category),  → du_X:withdrawn       disputed amount (416 debit), fee (627 debit), total (517 credit)
//	  dispute                       → du_X:reinstated      (positive amounts)      517 debit, 416 credit, fee back
//	payout                          → po_X:payout          amount (517 credit)
//	payout_failure, payout_cancel   → po_X:payout:reversal amount (517 debit)
//
// A refund's balance transaction names the refund (re_…), not its charge, and its
// cash leg's key needs the charge and the cumulative refunded amount. The refund's
// cash leg is found, in this order: (1) when the source is an expanded refund object,
// among the cash legs of its charge; (2) by the re_ id, which the sync writes in the
// cash leg's libellé whenever it knew it; (3) heuristically, among the refund cash legs
// of the period not already claimed, by equal amount, preferring the same Paris date,
// then the closest date. A match by (3) is said in the row's detail.
//
// Entries posted on a date outside the period are still found: an expected key missing
// from the period's entries is looked up by its piece_ref (po_…, du_…, ch_… when the
// charge has no invoice number). Payouts are booked at their arrival date, so a payout
// entry of the period may belong to a Stripe transaction just before (or, for a
// reversal, after) it: such entries are shown as outside_period, not as differences.
//
// Balance transactions of other types (stripe_fee, other adjustments, transfers, …) and
// in another currency than the books' are not booked by the sync: they are listed and
// totalled under "other", and do not make the report disagree.
package reconcile

import (
	"context"
	"fmt"
	"iter"
	"slices"
	"strings"
	"time"

	stripe "github.com/stripe/stripe-go/v76"

	"github.com/servolution/stripe-comptentra-sync/comptentra"
	"github.com/servolution/stripe-comptentra-sync/ledger"
	"github.com/servolution/stripe-comptentra-sync/stripeapi"
)

// Source is what the reconciliation reads from Stripe; *stripeapi.Client has it.
type Source interface {
	BalanceTransactions(ctx context.Context, p stripeapi.BTParams) iter.Seq2[*stripe.BalanceTransaction, error]
	Balance(ctx context.Context) (*stripe.Balance, error)
}

// Books is what the reconciliation reads from Comptentra; *comptentra.Client has it.
type Books interface {
	Entries(ctx context.Context, p comptentra.ListEntriesParams) iter.Seq2[comptentra.Entry, error]
}

// Difference kinds.
const (
	MissingInBooks = "missing_in_books"
	PresentTwice   = "present_twice"
	AmountDiffers  = "amount_differs"
	NotInStripe    = "not_in_stripe"
)

// Row statuses beyond the difference kinds.
const (
	StatusOK            = "ok"
	StatusNotBooked     = "not_booked"     // a Stripe transaction the sync does not book (other)
	StatusOutsidePeriod = "outside_period" // an entry of the period for a Stripe transaction outside it
)

// Category names, in report order.
const (
	CatChargesGross          = "charges_gross"
	CatChargesFees           = "charges_fees"
	CatChargesNet            = "charges_net"
	CatRefunds               = "refunds"
	CatDisputeWithdrawals    = "dispute_withdrawals"
	CatDisputeFees           = "dispute_fees"
	CatDisputeReinstatements = "dispute_reinstatements"
	CatPayouts               = "payouts"
	CatPayoutReversals       = "payout_reversals"
	CatOther                 = "other"
)

var categoryLabels = map[string]string{
	CatChargesGross:          "charges (gross)",
	CatChargesFees:           "charges: Stripe fees",
	CatChargesNet:            "charges (net)",
	CatRefunds:               "refunds",
	CatDisputeWithdrawals:    "dispute withdrawals",
	CatDisputeFees:           "dispute fees",
	CatDisputeReinstatements: "dispute reinstatements",
	CatPayouts:               "payouts",
	CatPayoutReversals:       "payout reversals",
	CatOther:                 "other (not booked by the sync)",
}

var categoryOrder = []string{CatChargesGross, CatChargesFees, CatChargesNet, CatRefunds,
	CatDisputeWithdrawals, CatDisputeFees, CatDisputeReinstatements, CatPayouts, CatPayoutReversals, CatOther}

// CategoryTotal is one line of the side-by-side totals. Amounts are positive for the
// usual direction of the movement (a refund of 50.00 is 5000). Books is the total of
// the entries matched to the period's Stripe transactions (each copy of an entry
// present twice counted) plus the entries of the period Stripe does not explain.
type CategoryTotal struct {
	Name   string `json:"name"`
	Label  string `json:"label"`
	Stripe int64  `json:"stripe"`
	Books  int64  `json:"books"`
	Count  int    `json:"count"`   // Stripe balance transactions
	InBook int    `json:"entries"` // Comptentra entries
}

// Difference is one disagreement between Stripe and the books.
type Difference struct {
	Kind        string `json:"kind"`
	StripeID    string `json:"stripe_id,omitempty"` // balance transaction id(s), comma-separated
	SourceID    string `json:"source_id,omitempty"` // ch_…, re_…, du_…, po_…
	BusinessKey string `json:"business_key,omitempty"`
	Stripe      int64  `json:"stripe"`
	Books       int64  `json:"books"`
	Detail      string `json:"detail"`
}

// Row pairs Stripe balance transactions with the entries that book them, for the CSV.
type Row struct {
	Category    string   `json:"category"`
	StripeIDs   []string `json:"stripe_ids,omitempty"`
	SourceID    string   `json:"source_id,omitempty"`
	StripeDate  string   `json:"stripe_date,omitempty"`
	BusinessKey string   `json:"business_key,omitempty"`
	Entries     []string `json:"entries,omitempty"` // Comptentra numeros
	EntryDate   string   `json:"entry_date,omitempty"`
	Stripe      int64    `json:"stripe"`
	Books       int64    `json:"books"`
	Status      string   `json:"status"`
	Detail      string   `json:"detail,omitempty"`
}

// Balance is the Stripe balance (available + pending, in the book currency) at the
// ends of the period, when the API can tell.
type Balance struct {
	Start     *int64 `json:"start,omitempty"`
	End       *int64 `json:"end,omitempty"`
	Available bool   `json:"available"`
	Note      string `json:"note"`
}

// Report is the result of Compare.
type Report struct {
	From           string          `json:"from"`
	To             string          `json:"to"`
	Currency       string          `json:"currency"`
	Categories     []CategoryTotal `json:"categories"`
	Differences    []Difference    `json:"differences"`
	Rows           []Row           `json:"rows"`
	Balance        Balance         `json:"balance"`
	UnkeyedEntries int             `json:"unkeyed_entries"` // entries of the journals without a sync key: not compared
	Agree          bool            `json:"agree"`
}

// now is the clock deciding whether the period ends today; tests replace it.
var now = time.Now

// Entry kinds.
const (
	kSettlement = "settlement"
	kRefund     = "refund"
	kWithdrawn  = "withdrawn"
	kReinstated = "reinstated"
	kPayout     = "payout"
	kReversal   = "reversal"
)

// group is the Stripe side of one expected entry.
type group struct {
	kind     string
	key      string // "" for a refund whose cash leg is not known
	source   string // ch_, re_, du_, po_
	charge   string // a refund's charge, when known
	bts      []*stripe.BalanceTransaction
	amount   int64 // Σ amount, fee, net as Stripe gives them (signed)
	fee, net int64
	created  int64
	entries  []comptentra.Entry
	detail   string
	none     bool // nothing is expected in the books (a payout failed before it was paid)
}

// Compare reconciles the balance transactions Stripe created in [from 00:00, to 24:00)
// Europe/Paris with the entries of the books' Stripe and bank journals.
func Compare(ctx context.Context, src Source, books Books, rules ledger.Rules, from, to ledger.Date) (Report, error) {
	if to.Before(from) {
		return Report{}, fmt.Errorf("reconcile: period %s..%s ends before it starts", from, to)
	}
	if err := rules.Validate(); err != nil {
		return Report{}, err
	}
	c := &comparer{src: src, books: books, rules: rules, from: from, to: to,
		since: startOf(from), until: startOf(next(to)).Add(-time.Second),
		byKey: map[string][]comptentra.Entry{}}
	c.balanceAccount = rules.Accounts.StripeBalance
	if a := rules.Accounts.StripeBalanceByCurrency[strings.ToUpper(rules.BookCurrency)]; a != "" {
		c.balanceAccount = a
	}
	rep := Report{From: from.String(), To: to.String(), Currency: strings.ToUpper(rules.BookCurrency)}
	if err := c.readStripe(ctx); err != nil {
		return Report{}, err
	}
	if err := c.readBooks(ctx); err != nil {
		return Report{}, err
	}
	if err := c.match(ctx); err != nil {
		return Report{}, err
	}
	if err := c.explainUnmatched(ctx); err != nil {
		return Report{}, err
	}
	c.build(&rep)
	rep.UnkeyedEntries = c.unkeyed
	rep.Balance = c.balance(ctx)
	return rep, nil
}

type comparer struct {
	src            Source
	books          Books
	rules          ledger.Rules
	from, to       ledger.Date
	since, until   time.Time
	balanceAccount string

	groups  []*group
	other   []*stripe.BalanceTransaction
	netSum  int64 // Σ net of every book-currency transaction of the period
	byKey   map[string][]comptentra.Entry
	claimed map[string]bool // keys matched to a group
	unkeyed int
	outside []Row
}

func startOf(d ledger.Date) time.Time {
	return time.Date(d.Year, d.Month, d.Day, 0, 0, 0, 0, ledger.Paris)
}

func next(d ledger.Date) ledger.Date {
	return ledger.DateOf(startOf(d).AddDate(0, 0, 1).Add(12 * time.Hour))
}

func (c *comparer) readStripe(ctx context.Context) error {
	idx := map[string]*group{}
	for bt, err := range c.src.BalanceTransactions(ctx, stripeapi.BTParams{Since: c.since, Until: c.until}) {
		if err != nil {
			return fmt.Errorf("reconcile: Stripe balance transactions: %w", err)
		}
		if !strings.EqualFold(string(bt.Currency), c.rules.BookCurrency) {
			c.other = append(c.other, bt)
			continue
		}
		c.netSum += bt.Net
		kind := kindOf(bt)
		src := sourceID(bt)
		if kind == "" || src == "" {
			c.other = append(c.other, bt)
			continue
		}
		var key string
		switch kind {
		case kSettlement:
			key = src + ":settlement"
		case kWithdrawn, kReinstated:
			key = src + ":" + kind
		case kPayout:
			key = src + ":payout"
		case kReversal:
			key = src + ":payout:reversal"
		}
		g := idx[key]
		if g == nil || kind == kRefund {
			g = &group{kind: kind, key: key, source: src, created: bt.Created}
			if kind == kRefund && bt.Source.Refund != nil && bt.Source.Refund.Charge != nil {
				g.charge = bt.Source.Refund.Charge.ID
			}
			if key != "" {
				idx[key] = g
			}
			c.groups = append(c.groups, g)
		}
		g.bts = append(g.bts, bt)
		g.amount += bt.Amount
		g.fee += bt.Fee
		g.net += bt.Net
		g.created = min(g.created, bt.Created)
	}
	// Stripe lists newest first; the report reads oldest first.
	slices.SortStableFunc(c.groups, func(a, b *group) int {
		if a.created != b.created {
			return cmpInt(a.created, b.created)
		}
		return strings.Compare(a.bts[0].ID, b.bts[0].ID)
	})
	slices.SortStableFunc(c.other, func(a, b *stripe.BalanceTransaction) int {
		if a.Created != b.Created {
			return cmpInt(a.Created, b.Created)
		}
		return strings.Compare(a.ID, b.ID)
	})
	return nil
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// kindOf says which entry a balance transaction leads to ("" for none).
func kindOf(bt *stripe.BalanceTransaction) string {
	switch bt.Type {
	case stripe.BalanceTransactionTypeCharge, stripe.BalanceTransactionTypePayment:
		return kSettlement
	case stripe.BalanceTransactionTypeRefund, stripe.BalanceTransactionTypePaymentRefund:
		return kRefund
	case stripe.BalanceTransactionTypePayout:
		return kPayout
	case stripe.BalanceTransactionTypePayoutFailure, stripe.BalanceTransactionTypePayoutCancel:
		return kReversal
	}
	rc := string(bt.ReportingCategory)
	if bt.Type == "dispute" || (bt.Type == stripe.BalanceTransactionTypeAdjustment && (rc == "dispute" || rc == "dispute_reversal")) {
		if bt.Amount < 0 {
			return kWithdrawn
		}
		return kReinstated
	}
	return ""
}

func sourceID(bt *stripe.BalanceTransaction) string {
	if bt.Source == nil {
		return ""
	}
	return bt.Source.ID
}

// keyOf reads the business key at the end of a libellé ("… [ch_X:settlement]").
func keyOf(libelle string) string {
	s := strings.TrimSpace(libelle)
	if !strings.HasSuffix(s, "]") {
		return ""
	}
	i := strings.LastIndex(s, "[")
	if i < 0 {
		return ""
	}
	return s[i+1 : len(s)-1]
}

// entryKind is the kind of a key this reconciliation compares ("" for others: sales,
// credit notes, lost disputes, which move no money on the Stripe balance).
func entryKind(key string) string {
	switch {
	case strings.HasSuffix(key, ":settlement"):
		return kSettlement
	case strings.HasSuffix(key, ":payout:reversal"):
		return kReversal
	case strings.HasSuffix(key, ":payout"):
		return kPayout
	case strings.HasSuffix(key, ":withdrawn"):
		return kWithdrawn
	case strings.HasSuffix(key, ":reinstated"):
		return kReinstated
	case strings.Contains(key, ":refund:") && strings.HasSuffix(key, ":cash"):
		return kRefund
	}
	return ""
}

func (c *comparer) journals() []string {
	js := []string{c.rules.Journals.Stripe}
	if c.rules.Journals.Bank != c.rules.Journals.Stripe {
		js = append(js, c.rules.Journals.Bank)
	}
	return js
}

func (c *comparer) readBooks(ctx context.Context) error {
	for _, j := range c.journals() {
		p := comptentra.ListEntriesParams{Journal: j, DateFrom: c.from.String(), DateTo: c.to.String(), Limit: comptentra.MaxListLimit}
		for e, err := range c.books.Entries(ctx, p) {
			if err != nil {
				return fmt.Errorf("reconcile: Comptentra entries of journal %s: %w", j, err)
			}
			key := keyOf(e.Libelle)
			if entryKind(key) == "" {
				if key == "" {
					c.unkeyed++
				}
				continue
			}
			c.byKey[key] = append(c.byKey[key], e)
		}
	}
	// Comptentra lists newest first; the report names entries in creation order.
	for _, es := range c.byKey {
		slices.SortStableFunc(es, func(a, b comptentra.Entry) int {
			if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
				return c
			}
			return strings.Compare(a.Numero, b.Numero)
		})
	}
	return nil
}

// lookUp finds the entries of key outside the period, by piece_ref.
func (c *comparer) lookUp(ctx context.Context, journal, pieceRef, key string) ([]comptentra.Entry, error) {
	var out []comptentra.Entry
	tag := "[" + key + "]"
	for e, err := range c.books.Entries(ctx, comptentra.ListEntriesParams{Journal: journal, PieceRef: pieceRef, Limit: comptentra.MaxListLimit}) {
		if err != nil {
			return nil, fmt.Errorf("reconcile: Comptentra entries of %s: %w", pieceRef, err)
		}
		if keyOf(e.Libelle) == key && strings.HasSuffix(strings.TrimSpace(e.Libelle), tag) {
			out = append(out, e)
		}
	}
	return out, nil
}

func (c *comparer) match(ctx context.Context) error {
	c.claimed = map[string]bool{}
	// Keyed groups first: their keys are known.
	for _, g := range c.groups {
		if g.kind == kRefund {
			continue
		}
		g.entries = c.byKey[g.key]
		if len(g.entries) == 0 {
			journal := c.rules.Journals.Stripe
			if g.kind == kPayout || g.kind == kReversal {
				journal = c.rules.Journals.Bank
			}
			found, err := c.lookUp(ctx, journal, g.source, g.key)
			if err != nil {
				return err
			}
			if len(found) > 0 {
				g.entries = found
				g.detail = "booked on " + found[0].Date + ", outside the period"
			}
		}
		c.claimed[g.key] = true
	}
	// A payout that failed (or was cancelled) before it was paid books nothing at all.
	for _, g := range c.groups {
		if g.kind != kReversal || len(g.entries) > 0 {
			continue
		}
		payoutKey := g.source + ":payout"
		paid := c.byKey[payoutKey]
		if len(paid) == 0 {
			found, err := c.lookUp(ctx, c.rules.Journals.Bank, g.source, payoutKey)
			if err != nil {
				return err
			}
			paid = found
		}
		if len(paid) == 0 {
			g.none = true
			g.detail = "payout failed or cancelled before it was paid: nothing to book"
			for _, p := range c.groups {
				if p.kind == kPayout && p.source == g.source && len(p.entries) == 0 {
					p.none = true
					p.detail = g.detail
				}
			}
		}
	}
	return c.matchRefunds(ctx)
}

// refundCandidates are the refund cash legs of the period not yet claimed, by key.
func (c *comparer) refundCandidates() []string {
	var keys []string
	for k := range c.byKey {
		if entryKind(k) == kRefund && !c.claimed[k] {
			keys = append(keys, k)
		}
	}
	slices.SortFunc(keys, func(a, b string) int {
		da, db := c.byKey[a][0].Date, c.byKey[b][0].Date
		if da != db {
			return strings.Compare(da, db)
		}
		return strings.Compare(a, b)
	})
	return keys
}

func chargeOfRefundKey(key string) string {
	ch, _, _ := strings.Cut(key, ":refund:")
	return ch
}

func total(e comptentra.Entry) int64 {
	var d int64
	for _, l := range e.Lignes {
		d += l.DebitCents
	}
	return d
}

func (c *comparer) claim(g *group, key, how string) {
	g.key, g.entries, g.charge = key, c.byKey[key], chargeOfRefundKey(key)
	if how != "" {
		g.detail = how
	}
	c.claimed[key] = true
}

func (c *comparer) matchRefunds(ctx context.Context) error {
	var pending []*group
	for _, g := range c.groups {
		if g.kind != kRefund {
			continue
		}
		amount := -g.amount
		// (1) the refund object names its charge: that charge's cash legs.
		if g.charge != "" {
			var best string
			for _, k := range c.refundCandidates() {
				if chargeOfRefundKey(k) == g.charge && c.legAmount(c.byKey[k][0]) == amount {
					best = k
					break
				}
			}
			if best == "" {
				// Perhaps booked outside the period: its piece is the charge id when it has no invoice.
				found := c.books.Entries(ctx, comptentra.ListEntriesParams{Journal: c.rules.Journals.Stripe, PieceRef: g.charge, Limit: comptentra.MaxListLimit})
				for e, err := range found {
					if err != nil {
						return fmt.Errorf("reconcile: Comptentra entries of %s: %w", g.charge, err)
					}
					k := keyOf(e.Libelle)
					if entryKind(k) == kRefund && chargeOfRefundKey(k) == g.charge && !c.claimed[k] && (strings.Contains(e.Libelle, g.source) || c.legAmount(e) == amount) {
						if _, in := c.byKey[k]; !in {
							c.byKey[k] = []comptentra.Entry{e}
							g.detail = "booked on " + e.Date + ", outside the period"
						} else if !slices.ContainsFunc(c.byKey[k], func(x comptentra.Entry) bool { return x.ID == e.ID }) {
							c.byKey[k] = append(c.byKey[k], e)
						}
						best = k
						break
					}
				}
			}
			if best != "" {
				c.claim(g, best, "")
				continue
			}
		}
		// (2) the cash leg's libellé names the refund.
		var named string
		for _, k := range c.refundCandidates() {
			if strings.Contains(c.byKey[k][0].Libelle, g.source+" ") || strings.Contains(c.byKey[k][0].Libelle, g.source+"]") {
				named = k
				break
			}
		}
		if named != "" {
			c.claim(g, named, "")
			continue
		}
		pending = append(pending, g)
	}
	// (3) heuristic: equal amount, the same Paris date first, then the closest date.
	for _, g := range pending {
		amount, date := -g.amount, ledger.ParisDate(g.created).String()
		var same, near string
		var nearGap time.Duration
		for _, k := range c.refundCandidates() {
			e := c.byKey[k][0]
			if (g.charge != "" && chargeOfRefundKey(k) != g.charge) || c.legAmount(e) != amount {
				continue
			}
			if e.Date == date {
				same = k
				break
			}
			d, err := ledger.ParseDate(e.Date)
			if err != nil {
				continue
			}
			gap := startOf(d).Sub(startOf(ledger.ParisDate(g.created))).Abs()
			if near == "" || gap < nearGap {
				near, nearGap = k, gap
			}
		}
		switch {
		case same != "":
			c.claim(g, same, "matched by amount and date (the balance transaction does not name the charge)")
		case near != "":
			c.claim(g, near, "matched by amount only, booked on "+c.byKey[near][0].Date+" (the balance transaction does not name the charge)")
		default:
			if g.charge != "" {
				g.key = g.charge + ":refund:…:cash"
			}
		}
	}
	return nil
}

// legAmount is what a refund cash leg takes from the Stripe balance.
func (c *comparer) legAmount(e comptentra.Entry) int64 {
	d, cr := c.sums(e, c.balanceAccount)
	return cr - d
}

func (c *comparer) sums(e comptentra.Entry, account string) (debit, credit int64) {
	for _, l := range e.Lignes {
		if l.Compte == account {
			debit += l.DebitCents
			credit += l.CreditCents
		}
	}
	return debit, credit
}

// measures are the amounts compared for one kind of entry: main, then fee and net
// for the kinds that have them, all positive in the usual direction.
type measures struct {
	main, fee, net int64
	hasFee         bool
}

func (c *comparer) stripeMeasures(g *group) measures {
	switch g.kind {
	case kSettlement:
		return measures{g.amount, g.fee, g.net, true}
	case kRefund:
		return measures{main: -g.amount}
	case kWithdrawn:
		return measures{-g.amount, g.fee, -g.net, true}
	case kReinstated:
		return measures{g.amount, g.fee, g.net, true}
	case kPayout:
		return measures{main: -g.amount}
	default: // reversal
		return measures{main: g.amount}
	}
}

func (c *comparer) bookMeasures(kind string, e comptentra.Entry) measures {
	a := c.rules.Accounts
	bd, bc := c.sums(e, c.balanceAccount)
	fd, fc := c.sums(e, a.Fees)
	switch kind {
	case kSettlement:
		_, cust := c.sums(e, a.Customers)
		_, gain := c.sums(e, a.ExchangeGain)
		loss, _ := c.sums(e, a.ExchangeLoss)
		return measures{cust + gain - loss, fd - fc, bd - bc, true}
	case kRefund, kPayout:
		return measures{main: bc - bd}
	case kWithdrawn:
		dd, dc := c.sums(e, a.DisputedCustomers)
		return measures{dd - dc, fd - fc, bc - bd, true}
	case kReinstated:
		dd, dc := c.sums(e, a.DisputedCustomers)
		return measures{dc - dd, fd - fc, bd - bc, true}
	default: // reversal
		return measures{main: bd - bc}
	}
}

// explainUnmatched looks in Stripe, around the period, for the payouts whose entries
// of the period were not matched: a payout is booked at its arrival date, after the
// transaction; its reversal at the same date, before the failure's transaction.
func (c *comparer) explainUnmatched(ctx context.Context) error {
	want := map[string]bool{}
	for k := range c.byKey {
		if kd := entryKind(k); !c.claimed[k] && (kd == kPayout || kd == kReversal) {
			want[k] = true
		}
	}
	if len(want) == 0 {
		return nil
	}
	p := stripeapi.BTParams{Since: c.since.AddDate(0, 0, -31), Until: c.until.AddDate(0, 0, 31)}
	for bt, err := range c.src.BalanceTransactions(ctx, p) {
		if err != nil {
			return fmt.Errorf("reconcile: Stripe balance transactions around the period: %w", err)
		}
		if bt.Created >= c.since.Unix() && bt.Created <= c.until.Unix() {
			continue
		}
		kind := kindOf(bt)
		var key string
		switch kind {
		case kPayout:
			key = sourceID(bt) + ":payout"
		case kReversal:
			key = sourceID(bt) + ":payout:reversal"
		default:
			continue
		}
		if !want[key] {
			continue
		}
		delete(want, key)
		c.claimed[key] = true
		es := c.byKey[key]
		g := &group{kind: kind, bts: []*stripe.BalanceTransaction{bt}, amount: bt.Amount, fee: bt.Fee, net: bt.Net}
		c.outside = append(c.outside, Row{
			Category: categoryOfKind(kind), StripeIDs: []string{bt.ID}, SourceID: sourceID(bt),
			StripeDate: ledger.ParisDate(bt.Created).String(), BusinessKey: key,
			Entries: numeros(es), EntryDate: es[0].Date,
			Stripe: c.stripeMeasures(g).main, Books: c.bookMeasures(kind, es[0]).main,
			Status: StatusOutsidePeriod,
			Detail: "booked in the period (arrival date); Stripe transaction of " + ledger.ParisDate(bt.Created).String() + ", outside it",
		})
	}
	return nil
}
