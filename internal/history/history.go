// Package history generates a random but reproducible month of Stripe activity — charges
// (EUR, USD, JPY), captures, partial and full refunds, disputes won, lost and still open,
// inquiries, payouts paid and failed — as the webhook events Stripe would send, with the
// balance transactions the worker reads from the Stripe API, and what the books must hold
// afterwards (Expected).
//
// Expected is computed independently of the worker and of the ledger's booking methods,
// from first principles with integer arithmetic (only ledger.Split, the VAT split that has
// its own exhaustive tests, is shared), so that the reconciliation property test
// (e2e/property_test.go) checks the worker's composition of the rules, not the rules
// against themselves.
//
// Choices, so that Expected is unambiguous:
//   - the rate source is Stripe's ("stripe"): a foreign sale's TTC in EUR is its settled
//     balance transaction amount, and its refunds are converted cumulatively at the sale's
//     own rate, book(x) = round_half_up(x × BookTTC / Amount); a refund step that rounds
//     to 0 cents books nothing;
//   - a disputed charge is never refunded (and the reverse); its dispute covers the whole
//     charge. Dispute balance transactions are in EUR, as Stripe settles them in the
//     account's currency; for a foreign charge the withdrawal is the disputed amount
//     converted at a rate of the dispute's day (not the sale's), and a won dispute gives
//     back exactly the amount withdrawn;
//   - a lost dispute follows the credit-note policy: the withdrawn EUR amount is split at
//     the charge's VAT rate and reversed;
//   - every captured charge has a balance transaction, so every sale is settled and the
//     customers' 411 balances come back to 0; only disputes still open at the end of the
//     period leave something on 416.
//
// All times fall between Options.Start and a week after Start + Days (payout arrivals
// and failures may follow the period by a few days); with the defaults, in March and
// early April 2026, inside the open fiscal year. Keep the period so that it stays in the
// fiscal years of the books under test.
package history

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/servolution/stripe-comptentra-sync/internal/stripeevent"
	"github.com/servolution/stripe-comptentra-sync/ledger"
)

// Options shape a history. Zero fields take the defaults; a negative share (or
// PayoutEvery) turns the feature off.
type Options struct {
	Seed    uint64
	Charges int       // default 300
	Start   time.Time // default 2026-03-01 00:00 Europe/Paris
	Days    int       // default 30

	// ForeignShare is the share of foreign-currency charges (mostly USD, some JPY),
	// settled in EUR at a random exchange rate. Default 0.1.
	ForeignShare float64
	// RefundShare and DisputeShare are the shares of captured charges refunded (in 1–3
	// steps) and disputed. Defaults 0.2 and 0.05.
	RefundShare, DisputeShare float64
	// PayoutEvery is the number of days between payouts. Default 7.
	PayoutEvery int
}

func (o Options) withDefaults() Options {
	if o.Charges <= 0 {
		o.Charges = 300
	}
	if o.Start.IsZero() {
		o.Start = time.Date(2026, 3, 1, 0, 0, 0, 0, ledger.Paris)
	}
	if o.Days <= 0 {
		o.Days = 30
	}
	share := func(v *float64, def float64) {
		switch {
		case *v == 0:
			*v = def
		case *v < 0:
			*v = 0
		case *v > 1:
			*v = 1
		}
	}
	share(&o.ForeignShare, 0.1)
	share(&o.RefundShare, 0.2)
	share(&o.DisputeShare, 0.05)
	if o.PayoutEvery == 0 {
		o.PayoutEvery = 7
	}
	return o
}

// History is a generated month of Stripe activity.
type History struct {
	Options Options // with the defaults applied

	// Events is every event, in the order Stripe would emit them (by created time),
	// each once.
	Events []stripeevent.Event
	// Charges is the final state of every charge (for GET /v1/charges/{id}).
	Charges []stripeevent.Charge
	// BalanceTransactions is the Stripe JSON of each captured charge's balance
	// transaction (id = the charge's BalanceTransaction): amount, fee and net in EUR
	// cents, exchange_rate for a foreign charge. Load them with
	// stripetest.Server.AddBalanceTransactionJSON.
	BalanceTransactions [][]byte

	Expected Expected
}

// Expected is what the books must hold once every event has been processed, with the
// default booking rules (ledger.DefaultRules), the API key configured (fees and
// settlements booked) and the rate source "stripe". Amounts are EUR cents.
type Expected struct {
	// Keys maps every business key the books must hold exactly once to the entry's
	// total (Σ debits).
	Keys map[string]int64
	// Lines details each of those entries: per account, debit − credit (accounts at 0
	// left out), to say which line of which entry differs.
	Lines map[string]map[string]int64
	// Dates gives each entry's date, YYYY-MM-DD in Europe/Paris: the charge's creation
	// for a sale, the balance transaction's for a settlement and dispute funds, the
	// charge.refunded event's for a refund, the closing event's for a lost dispute, the
	// arrival date for a payout and its reversal.
	Dates map[string]string
	// StripeBalance is what 517100 must hold (debit − credit): Σ settlement nets −
	// Σ refunds − Σ dispute withdrawals (amount + fee) + Σ reinstatements − Σ payouts
	// paid + Σ payouts reversed after failing.
	StripeBalance int64
	// Receivables maps a tiers ref (customer id, else charge id) to the net of its 411000
	// and 416000 lines (debit − credit). Every customer of a captured charge is listed.
	Receivables map[string]int64
	// VAT is the net credit of 445712: VAT on sales − VAT given back by refunds − VAT of
	// lost disputes.
	VAT int64
	// Accounts is the whole trial balance (debit − credit per account; accounts at 0
	// left out): 411000, 416000, 445712, 512000, 517100, 627800, 707000.
	Accounts map[string]int64
}

// rates of metadata vat_rate, with their weights; "" leaves the metadata out (the
// default rate, 20 %, applies).
type vatRate struct {
	meta   string
	bp     int
	weight int
}

var vatRates = []vatRate{
	{"20", 2000, 40}, {"", 2000, 20}, {"10", 1000, 12}, {"5.5", 550, 12},
	{"2.1", 210, 6}, {"0", 0, 6}, {"8.5", 850, 4},
}

// gen is the state of one generation.
type gen struct {
	o     Options
	rng   *rand.Rand
	start time.Time
	end   time.Time
	ids   map[string]bool

	events []timed
	moves  []move // every movement of the Stripe balance, for payouts
	exp    Expected
}

type timed struct {
	at  time.Time
	seq int
	evt stripeevent.Event
}

type move struct {
	at     time.Time
	amount int64
}

type customer struct {
	id, email, name string
}

// Generate builds the history of o.Seed. The same options always give the same
// history, ids included.
func Generate(o Options) History {
	o = o.withDefaults()
	g := &gen{
		o:     o,
		rng:   rand.New(rand.NewPCG(o.Seed, 0x5eed_0f_a_4157)),
		start: o.Start,
		end:   o.Start.AddDate(0, 0, o.Days),
		ids:   map[string]bool{},
		exp: Expected{
			Keys:        map[string]int64{},
			Lines:       map[string]map[string]int64{},
			Dates:       map[string]string{},
			Receivables: map[string]int64{},
			Accounts:    map[string]int64{},
		},
	}
	h := History{Options: o}

	customers := make([]customer, max(3, o.Charges/3))
	for i := range customers {
		c := customer{id: g.id("cus")}
		if g.rng.IntN(10) < 8 {
			c.email = fmt.Sprintf("client%d.%s@example.com", i, strings.ToLower(c.id[len(c.id)-4:]))
		}
		if g.rng.IntN(2) == 0 {
			c.name = fmt.Sprintf("Client %d", i)
		}
		customers[i] = c
	}

	for range o.Charges {
		ch, bt := g.charge(customers)
		h.Charges = append(h.Charges, ch)
		if bt != nil {
			h.BalanceTransactions = append(h.BalanceTransactions, bt)
		}
	}
	g.payouts()

	slices.SortStableFunc(g.events, func(a, b timed) int {
		if c := a.at.Compare(b.at); c != 0 {
			return c
		}
		return a.seq - b.seq
	})
	for _, e := range g.events {
		h.Events = append(h.Events, e.evt)
	}
	for acc, v := range g.exp.Accounts {
		if v == 0 {
			delete(g.exp.Accounts, acc)
		}
	}
	h.Expected = g.exp
	return h
}

// Deliveries is every event as Stripe delivers them: at least once, dupShare of them
// 2 to 4 times (redeliveries keep the event id), all shuffled (Stripe never guarantees
// the order).
func (h History) Deliveries(seed uint64, dupShare float64) []stripeevent.Event {
	rng := rand.New(rand.NewPCG(seed, 0xde11_7e41))
	out := make([]stripeevent.Event, 0, len(h.Events)*2)
	for _, e := range h.Events {
		n := 1
		if rng.Float64() < dupShare {
			n = 2 + rng.IntN(3)
		}
		for range n {
			out = append(out, e)
		}
	}
	rng.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	return out
}

// id returns a new Stripe-looking id, unique within the history.
func (g *gen) id(prefix string) string {
	const alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	for {
		b := make([]byte, 14)
		for i := range b {
			b[i] = alphabet[g.rng.IntN(len(alphabet))]
		}
		id := prefix + "_" + string(b)
		if !g.ids[id] {
			g.ids[id] = true
			return id
		}
	}
}

func (g *gen) emit(at time.Time, e stripeevent.Event) {
	e.ID = g.id("evt")
	e.Created = at
	g.events = append(g.events, timed{at: at, seq: len(g.events), evt: e})
}

// between is a random time in [a, b), to the second; a when the interval is empty.
func (g *gen) between(a, b time.Time) time.Time {
	a = a.Truncate(time.Second)
	s := int64(b.Sub(a) / time.Second)
	if s <= 0 {
		return a
	}
	return a.Add(time.Duration(g.rng.Int64N(s)) * time.Second)
}

// minorAmount draws an amount in minor units: log-uniform from 50 to 500 000, with
// edge amounts now and then.
func (g *gen) minorAmount() int64 {
	if g.rng.IntN(100) < 8 {
		edges := []int64{1, 3, 10, 12003, 1000, 50, 99, 500000, 100001}
		return edges[g.rng.IntN(len(edges))]
	}
	lo, hi := math.Log(50), math.Log(500000)
	return int64(math.Exp(lo + g.rng.Float64()*(hi-lo)))
}

// fxRate draws Stripe's exchange rate of currency to EUR as an exact decimal:
// the digits and the number of decimals.
func (g *gen) fxRate(currency string) (digits int64, scale int) {
	if currency == "jpy" {
		return 550_000 + g.rng.Int64N(130_001), 8 // 0.00550000 … 0.00680000
	}
	return 850_000 + g.rng.Int64N(100_001), 6 // 0.850000 … 0.950000
}

func rateString(digits int64, scale int) string {
	s := fmt.Sprintf("%0*d", scale+1, digits)
	return s[:len(s)-scale] + "." + s[len(s)-scale:]
}

// toEUR converts amount (currency minor units) to EUR cents at digits/10^scale,
// rounding half up.
func toEUR(amount int64, currency string, digits int64, scale int) int64 {
	num := amount * digits * 100
	den := int64(math.Pow10(scale + ledger.Exponent(currency)))
	return halfUp(num, den)
}

// halfUp is num/den rounded half up, for num ≥ 0 and den > 0.
func halfUp(num, den int64) int64 { return (2*num + den) / (2 * den) }

func tva(ttc int64, bp int) int64 {
	_, t := ledger.Split(ttc, bp)
	return t
}

// book adds an entry's effect on the trial balance.
func (g *gen) book(key string, at time.Time, total int64, lines map[string]int64) {
	if _, dup := g.exp.Keys[key]; dup {
		panic("history: key generated twice: " + key)
	}
	g.exp.Keys[key] = total
	var sum int64
	nonzero := map[string]int64{}
	for acc, v := range lines {
		g.exp.Accounts[acc] += v
		sum += v
		if v != 0 {
			nonzero[acc] = v
		}
	}
	g.exp.Lines[key] = nonzero
	g.exp.Dates[key] = at.In(ledger.Paris).Format(time.DateOnly)
	if sum != 0 {
		panic(fmt.Sprintf("history: expected entry %s does not balance: %v", key, lines))
	}
}

// charge generates one charge and everything that follows from it.
func (g *gen) charge(customers []customer) (stripeevent.Charge, []byte) {
	rng := g.rng
	created := g.between(g.start, g.end.Add(-time.Hour))
	currency := "eur"
	if rng.Float64() < g.o.ForeignShare {
		currency = "usd"
		if rng.IntN(10) < 3 {
			currency = "jpy"
		}
	}
	vr := pickRate(rng)
	ch := stripeevent.Charge{
		ID: g.id("ch"), Amount: g.minorAmount(), Currency: currency, Created: created, VATRate: vr.meta,
	}
	if rng.IntN(4) > 0 {
		c := customers[rng.IntN(len(customers))]
		ch.Customer, ch.Email, ch.Name = c.id, c.email, c.name
	} else if rng.IntN(2) == 0 {
		ch.Email = fmt.Sprintf("guest.%s@example.com", strings.ToLower(ch.ID[3:9]))
	}
	tiers := ch.Customer
	if tiers == "" {
		tiers = ch.ID
	}

	// Capture: at once (most), later (an authorisation), or never.
	captureAt := created
	switch r := rng.IntN(100); {
	case r < 3:
		g.emit(created, ch.Succeeded(created)) // an authorisation never captured books nothing
		return ch, nil
	case r < 12:
		g.emit(created, ch.Succeeded(created))
		until := created.Add(72 * time.Hour)
		if until.After(g.end) {
			until = g.end
		}
		captureAt = g.between(created.Add(time.Minute), until)
		ch.Captured, ch.AmountCaptured, ch.BalanceTransaction = true, ch.Amount, g.id("txn")
		g.emit(captureAt, ch.CapturedEvent(captureAt))
	default:
		ch.Captured, ch.AmountCaptured, ch.BalanceTransaction = true, ch.Amount, g.id("txn")
		g.emit(created, ch.Succeeded(created))
	}

	// Settlement: the balance transaction, in EUR.
	bookTTC := ch.Amount
	var rate any // JSON null for EUR
	if currency != "eur" {
		digits, scale := g.fxRate(currency)
		bookTTC = max(toEUR(ch.Amount, currency, digits, scale), 1)
		rate = json.Number(rateString(digits, scale))
	}
	var fee int64
	if rng.IntN(20) > 0 {
		pct := int64(150) // 1.5 % + 0.25 € for EEA cards, 3.25 % for the others
		if currency != "eur" || rng.IntN(10) == 0 {
			pct = 325
		}
		fee = min(halfUp(bookTTC*pct, 10000)+25, bookTTC)
	}
	net := bookTTC - fee
	bt, err := json.Marshal(map[string]any{
		"id":                 ch.BalanceTransaction,
		"object":             "balance_transaction",
		"amount":             bookTTC,
		"available_on":       captureAt.Add(48 * time.Hour).Unix(),
		"created":            captureAt.Unix(),
		"currency":           "eur",
		"description":        "Charge " + ch.ID,
		"exchange_rate":      rate,
		"fee":                fee,
		"fee_details":        []map[string]any{{"amount": fee, "application": nil, "currency": "eur", "description": "Stripe processing fees", "type": "stripe_fee"}},
		"net":                net,
		"reporting_category": "charge",
		"source":             ch.ID,
		"status":             "available",
		"type":               "charge",
	})
	if err != nil {
		panic(err)
	}

	saleVAT := tva(bookTTC, vr.bp)
	g.book(ch.ID+":sale", created, bookTTC, map[string]int64{"411000": bookTTC, "707000": -(bookTTC - saleVAT), "445712": -saleVAT})
	g.book(ch.ID+":settlement", captureAt, bookTTC, map[string]int64{"517100": net, "627800": fee, "411000": -bookTTC})
	g.exp.VAT += saleVAT
	g.exp.StripeBalance += net
	g.exp.Receivables[tiers] += 0
	g.moves = append(g.moves, move{captureAt, net})

	// Book amount of part of the charge, converted cumulatively at the sale's own rate.
	bookPart := func(part int64) int64 {
		if currency == "eur" {
			return part
		}
		return halfUp(part*bookTTC, ch.Amount)
	}

	switch r := rng.Float64(); {
	case r < g.o.RefundShare:
		g.refunds(&ch, captureAt, vr.bp, bookPart)
	case r < g.o.RefundShare+g.o.DisputeShare:
		g.dispute(ch, captureAt, vr.bp, tiers)
	case r < g.o.RefundShare+g.o.DisputeShare*1.25:
		g.inquiry(ch, captureAt)
	}
	return ch, bt
}

func pickRate(rng *rand.Rand) vatRate {
	total := 0
	for _, v := range vatRates {
		total += v.weight
	}
	n := rng.IntN(total)
	for _, v := range vatRates {
		if n < v.weight {
			return v
		}
		n -= v.weight
	}
	return vatRates[0]
}

// refunds refunds the charge in 1 to 3 steps, fully about one time in three.
func (g *gen) refunds(ch *stripeevent.Charge, after time.Time, bp int, bookPart func(int64) int64) {
	rng := g.rng
	final := ch.Amount
	if final > 1 && rng.IntN(3) > 0 {
		final = 1 + rng.Int64N(final-1)
	}
	steps := min(int64(1+rng.IntN(3)), final)
	// steps−1 distinct cut points in (0, final), sorted, then final.
	cuts := map[int64]bool{}
	for int64(len(cuts)) < steps-1 {
		cuts[1+rng.Int64N(final-1)] = true
	}
	cum := make([]int64, 0, steps)
	for c := range cuts {
		cum = append(cum, c)
	}
	slices.Sort(cum)
	cum = append(cum, final)

	at := after
	var before int64
	for _, now := range cum {
		at = g.between(at.Add(time.Minute), g.end)
		ch.AmountRefunded = now
		g.emit(at, ch.Refunded(before, at))
		b0, b1 := bookPart(before), bookPart(now)
		if d := b1 - b0; d > 0 {
			key := fmt.Sprintf("%s:refund:%d", ch.ID, now)
			t := tva(b1, bp) - tva(b0, bp)
			g.book(key, at, d, map[string]int64{"707000": d - t, "445712": t, "411000": -d})
			g.book(key+":cash", at, d, map[string]int64{"411000": d, "517100": -d})
			g.exp.VAT -= t
			g.exp.StripeBalance -= d
			g.moves = append(g.moves, move{at, -d})
		}
		before = now
	}
}

// dispute disputes the whole charge: won (fee returned or not), lost, or still open at
// the end of the period.
func (g *gen) dispute(ch stripeevent.Charge, after time.Time, bp int, tiers string) {
	rng := g.rng
	d := stripeevent.Dispute{ID: g.id("du"), Charge: ch.ID, Amount: ch.Amount, Currency: ch.Currency}
	opened := g.between(after.Add(time.Hour), g.end)
	d.Created = opened

	withdrawn := ch.Amount // EUR cents; a foreign charge's at the rate of the dispute's day
	var rate any
	if ch.Currency != "eur" {
		digits, scale := g.fxRate(ch.Currency)
		withdrawn = max(toEUR(ch.Amount, ch.Currency, digits, scale), 1)
		rate = json.Number(rateString(digits, scale))
	}
	fee := []int64{1500, 1500, 1500, 1500, 1500, 1500, 1500, 1500, 2000, 0}[rng.IntN(10)]
	w := stripeevent.DisputeTransaction{ID: g.id("txn"), Amount: -withdrawn, Fee: fee, Created: opened}
	d.Transactions = []stripeevent.DisputeTransaction{w}
	d.Status = "needs_response"
	g.emit(opened, disputeEvent(d, "created", opened, rate))
	g.emit(opened.Add(time.Second), disputeEvent(d, "funds_withdrawn", opened.Add(time.Second), rate))
	g.book(d.ID+":withdrawn", opened, withdrawn+fee, map[string]int64{"416000": withdrawn, "627800": fee, "517100": -(withdrawn + fee)})
	g.exp.StripeBalance -= withdrawn + fee
	g.exp.Receivables[tiers] += withdrawn
	g.moves = append(g.moves, move{opened, -(withdrawn + fee)})

	closed := g.between(opened.Add(time.Hour), g.end)
	switch r := rng.IntN(10); {
	case r < 4: // won
		returned := int64(0)
		if rng.IntN(2) == 0 {
			returned = fee
		}
		back := stripeevent.DisputeTransaction{ID: g.id("txn"), Amount: withdrawn, Fee: -returned, Created: closed}
		d.Transactions = append(d.Transactions, back)
		d.Status = "won"
		g.emit(closed, disputeEvent(d, "funds_reinstated", closed, rate))
		g.emit(closed.Add(time.Second), disputeEvent(d, "closed", closed.Add(time.Second), rate))
		g.book(d.ID+":reinstated", closed, withdrawn+returned, map[string]int64{"517100": withdrawn + returned, "416000": -withdrawn, "627800": -returned})
		g.exp.StripeBalance += withdrawn + returned
		g.exp.Receivables[tiers] -= withdrawn
		g.moves = append(g.moves, move{closed, withdrawn + returned})
	case r < 8: // lost: a credit note of the withdrawn amount
		d.Status = "lost"
		g.emit(closed, disputeEvent(d, "closed", closed, rate))
		t := tva(withdrawn, bp)
		g.book(d.ID+":lost", closed, withdrawn, map[string]int64{"707000": withdrawn - t, "445712": t, "416000": -withdrawn})
		g.exp.VAT -= t
		g.exp.Receivables[tiers] -= withdrawn
	default: // still under review at the end of the period
	}
}

// inquiry is a dispute that never moves money (an inquiry, closed without a chargeback):
// it books nothing.
func (g *gen) inquiry(ch stripeevent.Charge, after time.Time) {
	d := stripeevent.Dispute{ID: g.id("du"), Charge: ch.ID, Amount: ch.Amount, Currency: ch.Currency, Status: "warning_needs_response"}
	opened := g.between(after.Add(time.Hour), g.end)
	d.Created = opened
	g.emit(opened, disputeEvent(d, "created", opened, nil))
	if g.rng.IntN(2) == 0 {
		d.Status = "warning_closed"
		at := g.between(opened.Add(time.Hour), g.end)
		g.emit(at, disputeEvent(d, "closed", at, nil))
	}
}

// disputeEvent is d's event, its balance transactions in EUR (the account's currency)
// whatever the dispute's currency, with the exchange rate when it is foreign.
func disputeEvent(d stripeevent.Dispute, typ string, at time.Time, rate any) stripeevent.Event {
	e := d.Event(typ, at)
	if bts, ok := e.Object["balance_transactions"].([]map[string]any); ok {
		for _, bt := range bts {
			bt["currency"] = "eur"
			bt["exchange_rate"] = rate
			if fds, ok := bt["fee_details"].([]map[string]any); ok {
				for _, fd := range fds {
					fd["currency"] = "eur"
				}
			}
		}
	}
	return e
}

// payouts pays out part of the Stripe balance every PayoutEvery days; about one in ten
// fails after being paid, one in twenty fails before.
func (g *gen) payouts() {
	if g.o.PayoutEvery <= 0 {
		return
	}
	rng := g.rng
	for day := g.o.PayoutEvery; day <= g.o.Days; day += g.o.PayoutEvery {
		created := g.start.AddDate(0, 0, day).Add(time.Duration(6*3600+rng.IntN(4*3600)) * time.Second)
		var balance int64
		for _, m := range g.moves {
			if m.at.Before(created) {
				balance += m.amount
			}
		}
		if balance < 100 {
			continue
		}
		amount := balance * int64(30+rng.IntN(61)) / 100
		p := stripeevent.Payout{ID: g.id("po"), Amount: amount, Currency: "eur", Created: created,
			ArrivalDate: created.Add(48 * time.Hour).Truncate(24 * time.Hour)}
		switch r := rng.IntN(20); {
		case r == 0: // fails before it is paid: the money comes back, nothing is booked
			p.Status = "failed"
			g.emit(created.Add(20*time.Hour), p.Event(created.Add(20*time.Hour)))
			continue
		case r < 3: // paid, then fails: the payout is reversed
			p.Status = "paid"
			g.emit(p.ArrivalDate, p.Event(p.ArrivalDate))
			failed := p.ArrivalDate.Add(time.Duration(24+rng.IntN(72)) * time.Hour)
			p.Status = "failed"
			g.emit(failed, p.Event(failed))
			g.book(p.ID+":payout", p.ArrivalDate, amount, map[string]int64{"512000": amount, "517100": -amount})
			g.book(p.ID+":payout:reversal", p.ArrivalDate, amount, map[string]int64{"517100": amount, "512000": -amount})
			g.moves = append(g.moves, move{created, -amount}, move{failed, amount})
		default:
			p.Status = "paid"
			g.emit(p.ArrivalDate, p.Event(p.ArrivalDate))
			g.book(p.ID+":payout", p.ArrivalDate, amount, map[string]int64{"512000": amount, "517100": -amount})
			g.exp.StripeBalance -= amount
			g.moves = append(g.moves, move{created, -amount})
		}
	}
}
