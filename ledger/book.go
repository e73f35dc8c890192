package ledger

import (
	"errors"
	"fmt"
	"strings"
)

var (
	// ErrBadRefund is returned for refund amounts that cannot be booked: the cumulative
	// refunded amount must grow and stay within the captured amount.
	ErrBadRefund = errors.New("ledger: bad refund")

	// ErrNoFundsMoved is returned for a dispute stage without the balance transaction
	// that would move its funds (an inquiry, or a reinstatement not yet made): there is
	// nothing to book, and the event can be acknowledged.
	ErrNoFundsMoved = errors.New("ledger: dispute moved no funds")

	// ErrInconsistentBalanceTransaction is returned when a balance transaction
	// contradicts itself (amount − fee ≠ net) or the charge it settles.
	ErrInconsistentBalanceTransaction = errors.New("ledger: inconsistent balance transaction")

	// ErrCurrencyMismatch is returned for money in a currency the rules cannot book:
	// a settlement not in the book currency, a foreign charge without its book amount,
	// a foreign payout without a Stripe balance account for its currency.
	ErrCurrencyMismatch = errors.New("ledger: currency mismatch")

	// ErrIncompleteFact is returned when a fact lacks what its entry needs (an id, a
	// date, a positive amount).
	ErrIncompleteFact = errors.New("ledger: incomplete fact")

	// ErrNothingToBook is returned when an amount rounds to zero in the book currency
	// (a 1-yen refund): there is no entry to post, and the event can be acknowledged.
	ErrNothingToBook = errors.New("ledger: nothing to book")
)

// maxLabel is Comptentra's limit on a libellé.
const maxLabel = 255

// Keys of the business facts (booking-rules.md, "one business fact, one entry, once").
func saleKey(chargeID string) string       { return chargeID + ":sale" }
func settlementKey(chargeID string) string { return chargeID + ":settlement" }
func refundKey(chargeID string, cumulative int64) string {
	return fmt.Sprintf("%s:refund:%d", chargeID, cumulative)
}

// Sale books a captured charge (A): in the sales journal at the charge's Paris date,
// D customers TTC (with the tiers, and the charge's own currency and amount when it is
// foreign) / C sales HT / C VAT TVA. A rate of 0 gives no VAT line.
//
// A foreign charge is booked at its BookAmount: the VAT is split on that book-currency
// TTC, so the sale's VAT is exactly the VAT the refunds and a lost dispute give back.
// Key "ch_X:sale".
func (r Rules) Sale(c Charge) (Entry, error) {
	if err := r.check(); err != nil {
		return Entry{}, err
	}
	ttc, err := r.bookTTC(c)
	if err != nil {
		return Entry{}, err
	}
	if c.Created <= 0 {
		return Entry{}, fmt.Errorf("%w: charge %s has no created time", ErrIncompleteFact, c.ID)
	}
	ht, tva := Split(ttc, c.VATRate)
	label := fmt.Sprintf("Vente Stripe %s", c.ID)
	if !r.isBookCurrency(c.Currency) {
		label += " " + FormatAmount(c.Amount, c.Currency)
	}
	label += ", TVA " + FormatRate(c.VATRate) + " %"
	if c.VATSource != "" {
		label += " (" + c.VATSource + ")"
	}
	return r.entry(saleKey(c.ID), r.Journals.Sales, ParisDate(c.Created), label, c.PieceRef(),
		r.customerLine(r.Accounts.Customers, c, ttc, c.Amount),
		signed(r.Accounts.Sales, -ht),
		vatLine(r.vatAccount(c.VATRate), c.VATRate, -tva),
	)
}

// Settlement books the charge's arrival on the Stripe balance (A′), in the Stripe journal
// at the balance transaction's Paris date: D Stripe balance net / D fees fee (no line
// when Stripe took none) / C customers the sale's TTC. When the settled amount differs
// from the sale's book TTC (a foreign sale booked at the ECB rate), the difference is an
// exchange loss (debit) or gain (credit) on the receivable (E).
// Key "ch_X:settlement".
func (r Rules) Settlement(c Charge, bt BalanceTransaction) (Entry, error) {
	if err := r.check(); err != nil {
		return Entry{}, err
	}
	ttc, err := r.bookTTC(c)
	if err != nil {
		return Entry{}, err
	}
	if err := r.checkBalanceTransaction(bt); err != nil {
		return Entry{}, err
	}
	if bt.Amount <= 0 {
		return Entry{}, fmt.Errorf("%w: %s settles %d for charge %s", ErrInconsistentBalanceTransaction, bt.ID, bt.Amount, c.ID)
	}
	if r.isBookCurrency(c.Currency) && bt.Amount != c.Amount {
		// Same currency on both sides: any difference is a wrong pairing, not exchange.
		return Entry{}, fmt.Errorf("%w: %s settles %s for charge %s of %s", ErrInconsistentBalanceTransaction,
			bt.ID, FormatAmount(bt.Amount, bt.Currency), c.ID, FormatAmount(c.Amount, c.Currency))
	}
	balance, _ := r.stripeBalance(r.BookCurrency)
	gap := bt.Amount - ttc // > 0: more money than the receivable, a gain
	label := fmt.Sprintf("Encaissement Stripe %s", c.ID)
	if bt.ID != "" {
		label += " (" + bt.ID + ")"
	}
	fee := signed(r.Accounts.Fees, bt.Fee)
	fee.Label = "Frais Stripe " + c.ID
	loss := signed(r.Accounts.ExchangeLoss, max(-gap, 0))
	gain := signed(r.Accounts.ExchangeGain, -max(gap, 0))
	loss.Label = "Perte de change " + c.ID
	gain.Label = "Gain de change " + c.ID
	return r.entry(settlementKey(c.ID), r.Journals.Stripe, ParisDate(bt.Created), label, c.PieceRef(),
		signed(balance, bt.Net),
		fee,
		loss,
		r.customerLine(r.Accounts.Customers, c, -ttc, -c.Amount),
		gain,
	)
}

// Refund books one refund of a charge (B), given the cumulative refunded amounts before
// and after it (amount_refunded and previous_attributes.amount_refunded, in the charge's
// currency). It returns two entries:
//
//   - the credit note, in the sales journal, key "ch_X:refund:<now>": D sales refunds HT /
//     D VAT TVA / C customers the refund. The VAT is cumulative, TVA(now) − TVA(before) at
//     the sale's rate, so refunds in several steps give back exactly the sale's VAT;
//   - the cash leg, in the Stripe journal, key "ch_X:refund:<now>:cash": D customers /
//     C Stripe balance. Stripe keeps its fee: there is no fee line.
//
// A foreign charge is converted cumulatively at the sale's own rate,
// book(x) = round_half_up(x × BookTTC / Amount), so a full refund gives back exactly the
// sale's book TTC (an exchange difference on the refund itself is not booked).
//
// Both entries are dated ref.Created (Paris): a pure function has no clock, so the caller
// passes the refund's created time, else the event's. A zero ref.Created is refused
// rather than guessed: the charge's date would put the refund in the wrong period.
func (r Rules) Refund(c Charge, before, now int64, ref Refund) ([]Entry, error) {
	if err := r.check(); err != nil {
		return nil, err
	}
	if _, err := r.bookTTC(c); err != nil {
		return nil, err
	}
	if before < 0 || now <= before || now > c.Amount {
		return nil, fmt.Errorf("%w: charge %s of %s refunded from %d to %d", ErrBadRefund, c.ID, FormatAmount(c.Amount, c.Currency), before, now)
	}
	if ref.Created <= 0 {
		return nil, fmt.Errorf("%w: refund of charge %s has no date: pass the refund's or the event's created time", ErrBadRefund, c.ID)
	}
	bookBefore, err := r.bookPart(c, before)
	if err != nil {
		return nil, err
	}
	bookNow, err := r.bookPart(c, now)
	if err != nil {
		return nil, err
	}
	ttc := bookNow - bookBefore
	if ttc == 0 {
		return nil, fmt.Errorf("%w: refund of %s on charge %s is 0 in %s", ErrNothingToBook,
			FormatAmount(now-before, c.Currency), c.ID, r.BookCurrency)
	}
	_, tvaBefore := Split(bookBefore, c.VATRate)
	_, tvaNow := Split(bookNow, c.VATRate)
	tva := tvaNow - tvaBefore
	ht := ttc - tva

	ids := c.ID
	if ref.ID != "" {
		ids += " " + ref.ID
	}
	date := ParisDate(ref.Created)
	key := refundKey(c.ID, now)
	creditNote, err := r.entry(key, r.Journals.Sales, date, "Avoir remboursement Stripe "+ids, c.PieceRef(),
		signed(r.Accounts.SalesRefunds, ht),
		vatLine(r.vatAccount(c.VATRate), c.VATRate, tva),
		r.customerLine(r.Accounts.Customers, c, -ttc, -(now-before)),
	)
	if err != nil {
		return nil, err
	}
	balance, _ := r.stripeBalance(r.BookCurrency)
	cash, err := r.entry(key+":cash", r.Journals.Stripe, date, "Remboursement Stripe "+ids, c.PieceRef(),
		r.customerLine(r.Accounts.Customers, c, ttc, now-before),
		signed(balance, -ttc),
	)
	if err != nil {
		return nil, err
	}
	return []Entry{creditNote, cash}, nil
}

// Payout books a paid payout (C) in the bank journal at its Paris arrival date (its
// created time when the arrival date is unknown): D bank (or transit with
// PayoutsToTransit) / C Stripe balance. A payout in a foreign currency needs a Stripe
// balance account for that currency and its BookAmount. Key "po_X:payout".
func (r Rules) Payout(p Payout) (Entry, error) {
	if err := r.check(); err != nil {
		return Entry{}, err
	}
	if p.ID == "" {
		return Entry{}, fmt.Errorf("%w: payout without id", ErrIncompleteFact)
	}
	if p.Amount <= 0 {
		return Entry{}, fmt.Errorf("%w: payout %s of %d", ErrIncompleteFact, p.ID, p.Amount)
	}
	when := p.ArrivalDate
	if when <= 0 {
		when = p.Created
	}
	if when <= 0 {
		return Entry{}, fmt.Errorf("%w: payout %s has no arrival date", ErrIncompleteFact, p.ID)
	}
	balance, ok := r.stripeBalance(p.Currency)
	if !ok {
		return Entry{}, fmt.Errorf("%w: payout %s in %s: no Stripe balance account for that currency", ErrCurrencyMismatch, p.ID, upper(p.Currency))
	}
	amount := p.Amount
	foreign := !r.isBookCurrency(p.Currency)
	if foreign {
		if p.BookAmount <= 0 {
			return Entry{}, fmt.Errorf("%w: payout %s in %s without its amount in %s", ErrCurrencyMismatch, p.ID, upper(p.Currency), r.BookCurrency)
		}
		amount = p.BookAmount
	}
	target := r.Accounts.Bank
	if r.PayoutsToTransit {
		target = r.Accounts.Transit
	}
	in, out := signed(target, amount), signed(balance, -amount)
	if foreign {
		for _, l := range []*Line{&in, &out} {
			l.Currency, l.CurrencyAmount = upper(p.Currency), p.Amount
		}
	}
	return r.entry(p.ID+":payout", r.Journals.Bank, ParisDate(when), "Virement Stripe "+p.ID, p.ID, in, out)
}

// PayoutReversal books a payout that failed after it was booked as paid: the mirror of
// Payout's entry, at the same date. Key "po_X:payout:reversal".
func (r Rules) PayoutReversal(p Payout) (Entry, error) {
	paid, err := r.Payout(p)
	if err != nil {
		return Entry{}, err
	}
	rev := paid
	rev.Key = paid.Key + ":reversal"
	rev.Label = "Annulation virement Stripe " + p.ID + " (échec)"
	rev.Lines = make([]Line, len(paid.Lines))
	for i, l := range paid.Lines {
		l.Debit, l.Credit = l.Credit, l.Debit
		rev.Lines[i] = l
	}
	return rev, nil
}

// DisputeWithdrawn books the funds Stripe took back for a dispute (D), from the dispute's
// withdrawal balance transactions (negative amounts), in the Stripe journal at their Paris
// date: D disputed customers the disputed amount (the charge's tiers) / D fees the dispute
// fee as Stripe reports it / C Stripe balance the total withdrawn. An inquiry has no
// withdrawal: ErrNoFundsMoved. Key "du_X:withdrawn".
func (r Rules) DisputeWithdrawn(d Dispute) (Entry, error) {
	return r.disputeFunds(d, -1, "withdrawn", "fonds retirés")
}

// DisputeReinstated books the funds Stripe gave back for a won dispute, from its
// reinstatement balance transactions (positive amounts): D Stripe balance / C disputed
// customers the amount, and a returned fee (negative fee) back to C fees.
// ErrNoFundsMoved when there is none yet. Key "du_X:reinstated".
func (r Rules) DisputeReinstated(d Dispute) (Entry, error) {
	return r.disputeFunds(d, +1, "reinstated", "fonds restitués")
}

func (r Rules) disputeFunds(d Dispute, sign int64, role, what string) (Entry, error) {
	if err := r.checkDispute(d); err != nil {
		return Entry{}, err
	}
	moved, err := r.disputeMovements(d, sign)
	if err != nil {
		return Entry{}, err
	}
	fee := signed(r.Accounts.Fees, moved.Fee)
	fee.Label = "Frais de litige Stripe " + d.ID
	balance, _ := r.stripeBalance(r.BookCurrency)
	lines := []Line{
		r.disputedLine(d, -moved.Amount),
		fee,
		signed(balance, moved.Net),
	}
	if sign > 0 {
		// Money coming back: the balance is debited first, as in every receipt.
		lines = []Line{lines[2], lines[0], lines[1]}
	}
	return r.entry(d.ID+":"+role, r.Journals.Stripe, ParisDate(moved.Created),
		fmt.Sprintf("Litige Stripe %s %s : %s", d.ID, d.Charge.ID, what), d.ID, lines...)
}

// DisputeLost books a lost dispute (D), at the Paris date of d.Closed (the closing
// event's time; the withdrawal's date when zero). With the CreditNote policy, a credit note
// in the sales journal: D sales HT / D VAT TVA / C disputed customers TTC, the withdrawn
// amount split at the charge's rate. With WriteOff: D bad debt / C disputed customers TTC,
// in the sales journal too. Key "du_X:lost".
func (r Rules) DisputeLost(d Dispute) (Entry, error) {
	if err := r.checkDispute(d); err != nil {
		return Entry{}, err
	}
	ttc, when, err := r.disputedBookAmount(d)
	if err != nil {
		return Entry{}, err
	}
	if d.Closed > 0 {
		when = d.Closed
	}
	if when <= 0 {
		return Entry{}, fmt.Errorf("%w: lost dispute %s has no closing date", ErrIncompleteFact, d.ID)
	}
	key, date := d.ID+":lost", ParisDate(when)
	if r.lostDisputePolicy() == WriteOff {
		return r.entry(key, r.Journals.Sales, date,
			fmt.Sprintf("Litige perdu Stripe %s %s : créance irrécouvrable", d.ID, d.Charge.ID), d.Charge.PieceRef(),
			signed(r.Accounts.BadDebt, ttc),
			r.disputedLine(d, -ttc),
		)
	}
	ht, tva := Split(ttc, d.Charge.VATRate)
	return r.entry(key, r.Journals.Sales, date,
		fmt.Sprintf("Avoir litige perdu Stripe %s %s", d.ID, d.Charge.ID), d.Charge.PieceRef(),
		signed(r.Accounts.Sales, ht),
		vatLine(r.vatAccount(d.Charge.VATRate), d.Charge.VATRate, tva),
		r.disputedLine(d, -ttc),
	)
}

// disputedBookAmount is the book-currency amount on 416 for a dispute: what the
// withdrawals debited there, else the disputed amount (converted at the sale's rate
// for a foreign charge). when is the withdrawal's date, zero without one.
func (r Rules) disputedBookAmount(d Dispute) (amount, when int64, err error) {
	moved, err := r.disputeMovements(d, -1)
	switch {
	case err == nil:
		return -moved.Amount, moved.Created, nil
	case !errors.Is(err, ErrNoFundsMoved):
		return 0, 0, err
	}
	if d.Amount <= 0 {
		return 0, 0, fmt.Errorf("%w: dispute %s of %d", ErrIncompleteFact, d.ID, d.Amount)
	}
	if r.isBookCurrency(d.Currency) {
		return d.Amount, 0, nil
	}
	if !strings.EqualFold(d.Currency, d.Charge.Currency) {
		return 0, 0, fmt.Errorf("%w: dispute %s in %s on charge %s in %s", ErrCurrencyMismatch, d.ID, upper(d.Currency), d.Charge.ID, upper(d.Charge.Currency))
	}
	book, err := r.bookPart(d.Charge, min(d.Amount, d.Charge.Amount))
	return book, 0, err
}

// disputeMovements sums the dispute's balance transactions of one sign (-1 withdrawals,
// +1 reinstatements); Created is the earliest of them.
func (r Rules) disputeMovements(d Dispute, sign int64) (BalanceTransaction, error) {
	var sum BalanceTransaction
	found := false
	for _, bt := range d.BalanceTransactions {
		if bt.Amount*sign <= 0 {
			continue
		}
		if err := r.checkBalanceTransaction(bt); err != nil {
			return BalanceTransaction{}, fmt.Errorf("dispute %s: %w", d.ID, err)
		}
		if !found || bt.Created < sum.Created {
			sum.Created = bt.Created
		}
		found = true
		sum.Amount += bt.Amount
		sum.Fee += bt.Fee
		sum.Net += bt.Net
	}
	if !found {
		return BalanceTransaction{}, fmt.Errorf("%w: dispute %s (%s)", ErrNoFundsMoved, d.ID, d.Status)
	}
	return sum, nil
}

// Rebooked is the entry moved to today because its own date falls in a closed fiscal
// year (Comptentra's exercice_clos): same key and lines, dated today, with the original
// date said in the label so that nothing is lost.
func (e Entry) Rebooked(today Date) Entry {
	suffix := " (date d'origine " + e.Date.String() + ")"
	out := e
	out.Date = today
	out.Label = truncate(e.Label, maxLabel-len([]rune(suffix))) + suffix
	out.Lines = append([]Line(nil), e.Lines...)
	return out
}

// check refuses to book with rules that do not validate.
func (r Rules) check() error {
	if err := r.Validate(); err != nil {
		return fmt.Errorf("ledger: cannot book: %w", err)
	}
	return nil
}

// bookTTC is the charge's TTC in the book currency, checking the charge is bookable.
func (r Rules) bookTTC(c Charge) (int64, error) {
	switch {
	case c.ID == "":
		return 0, fmt.Errorf("%w: charge without id", ErrIncompleteFact)
	case c.Amount <= 0:
		return 0, fmt.Errorf("%w: charge %s captured %d", ErrIncompleteFact, c.ID, c.Amount)
	case c.VATRate < 0 || c.VATRate > MaxRate:
		return 0, fmt.Errorf("%w: charge %s at %d bp", ErrBadRate, c.ID, c.VATRate)
	case r.isBookCurrency(c.Currency):
		if c.BookAmount != 0 && c.BookAmount != c.Amount {
			return 0, fmt.Errorf("%w: charge %s of %s has a book amount of %d", ErrCurrencyMismatch, c.ID, FormatAmount(c.Amount, c.Currency), c.BookAmount)
		}
		return c.Amount, nil
	case c.BookAmount <= 0:
		return 0, fmt.Errorf("%w: charge %s in %s without its amount in %s", ErrCurrencyMismatch, c.ID, upper(c.Currency), r.BookCurrency)
	}
	return c.BookAmount, nil
}

// bookPart converts part of a charge's amount (in its currency) to the book currency at
// the sale's own rate: round_half_up(part × BookTTC / Amount), exact at part = Amount.
func (r Rules) bookPart(c Charge, part int64) (int64, error) {
	ttc, err := r.bookTTC(c)
	if err != nil {
		return 0, err
	}
	if r.isBookCurrency(c.Currency) {
		return part, nil
	}
	out, ok := mulDivHalfUp(part, uint64(ttc), uint64(c.Amount))
	if !ok {
		return 0, fmt.Errorf("%w: %s of charge %s", ErrAmountOverflow, FormatAmount(part, c.Currency), c.ID)
	}
	return out, nil
}

func (r Rules) checkBalanceTransaction(bt BalanceTransaction) error {
	if !r.isBookCurrency(bt.Currency) {
		return fmt.Errorf("%w: balance transaction %s in %s, books in %s", ErrCurrencyMismatch, bt.ID, upper(bt.Currency), r.BookCurrency)
	}
	if bt.Amount-bt.Fee != bt.Net {
		return fmt.Errorf("%w: %s amount %d − fee %d ≠ net %d", ErrInconsistentBalanceTransaction, bt.ID, bt.Amount, bt.Fee, bt.Net)
	}
	if bt.Created <= 0 {
		return fmt.Errorf("%w: balance transaction %s has no created time", ErrIncompleteFact, bt.ID)
	}
	return nil
}

func (r Rules) checkDispute(d Dispute) error {
	if err := r.check(); err != nil {
		return err
	}
	if d.ID == "" {
		return fmt.Errorf("%w: dispute without id", ErrIncompleteFact)
	}
	if _, err := r.bookTTC(d.Charge); err != nil {
		return fmt.Errorf("dispute %s: %w", d.ID, err)
	}
	return nil
}

// entry assembles an entry, leaving out zero lines (a fee Stripe did not take, VAT at
// 0 %), and checks it balances: the rules must never hand out an entry Comptentra refuses.
func (r Rules) entry(key, journal string, date Date, label, piece string, lines ...Line) (Entry, error) {
	e := Entry{Key: key, Journal: journal, Date: date, Label: truncate(label, maxLabel), PieceRef: truncate(piece, maxPieceRef)}
	for _, l := range lines {
		if l.Debit != 0 || l.Credit != 0 {
			l.Label = truncate(l.Label, maxLabel)
			e.Lines = append(e.Lines, l)
		}
	}
	if err := e.Validate(); err != nil {
		return Entry{}, err
	}
	return e, nil
}

// signed is a line that debits a positive amount and credits a negative one.
func signed(account string, amount int64) Line {
	if amount < 0 {
		return Line{Account: account, Credit: -amount}
	}
	return Line{Account: account, Debit: amount}
}

func vatLine(account string, rateBP int, amount int64) Line {
	l := signed(account, amount)
	l.Label = "TVA " + FormatRate(rateBP) + " %"
	return l
}

// customerLine is a receivable line of the charge's customer: book is the signed
// book-currency amount, own the same amount in the charge's currency, carried on the
// line when that currency is foreign.
func (r Rules) customerLine(account string, c Charge, book, own int64) Line {
	l := signed(account, book)
	t := c.Tiers()
	l.Tiers = &t
	if !r.isBookCurrency(c.Currency) {
		l.Currency, l.CurrencyAmount = upper(c.Currency), abs(own)
	}
	return l
}

// disputedLine is the 416 line of a dispute, in the charge's tiers, carrying the
// disputed amount in its own currency when it is foreign.
func (r Rules) disputedLine(d Dispute, book int64) Line {
	l := signed(r.Accounts.DisputedCustomers, book)
	t := d.Charge.Tiers()
	l.Tiers = &t
	if d.Currency != "" && !r.isBookCurrency(d.Currency) {
		l.Currency, l.CurrencyAmount = upper(d.Currency), abs(d.Amount)
	}
	return l
}

func abs(x int64) int64 {
	if x < 0 {
		return -x
	}
	return x
}
