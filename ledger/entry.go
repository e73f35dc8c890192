// Package ledger is the accounting of stripe-comptentra-sync: it turns Stripe facts
// (charges, balance transactions, refunds, payouts, disputes) into balanced journal
// entries of the French Plan Comptable Général, following docs/booking-rules.md.
//
// It does no I/O and imports only the standard library: every amount is an int64
// in minor units, every rate in basis points, every date a Europe/Paris calendar day.
package ledger

import (
	"errors"
	"fmt"
)

// ErrUnbalanced is returned by Entry.Validate when debits and credits differ.
var ErrUnbalanced = errors.New("ledger: entry does not balance")

// Tiers identifies the customer a receivable line belongs to.
// Comptentra resolves it by Ref first, then by Email.
type Tiers struct {
	Ref   string // Stripe customer id, else the charge id
	Email string // receipt_email, else billing_details.email
	Name  string // billing_details.name, when known
}

// Line is one line of a journal entry. Exactly one of Debit and Credit is positive.
// Amounts are in the book currency's minor units (cents of EUR).
type Line struct {
	Account string
	Debit   int64
	Credit  int64
	Label   string // optional; Comptentra defaults it to the entry's label
	Tiers   *Tiers // set on customer (411/416) lines

	// Currency and CurrencyAmount are set on lines that stand for a foreign-currency
	// amount: the ISO code in upper case and the amount in that currency's minor units.
	Currency       string
	CurrencyAmount int64
}

// Entry is one journal entry, identified by its business key.
type Entry struct {
	// Key is the stable business key of the fact this entry books ("ch_X:sale",
	// "ch_X:refund:5000", "po_X:payout", ...). It is sent as Idempotency-Key and
	// is what makes reprocessing harmless. Two entries never share a key.
	Key      string
	Journal  string
	Date     Date
	Label    string
	PieceRef string
	Lines    []Line
}

// Total is the sum of the debits (equal to the sum of credits when the entry balances).
func (e Entry) Total() int64 {
	var d int64
	for _, l := range e.Lines {
		d += l.Debit
	}
	return d
}

// Validate checks the invariants Comptentra enforces that the ledger controls:
// at least two lines, each with exactly one positive side, and debits equal to credits.
func (e Entry) Validate() error {
	if len(e.Lines) < 2 {
		return fmt.Errorf("ledger: entry %s has %d lines, want at least 2", e.Key, len(e.Lines))
	}
	var d, c int64
	for i, l := range e.Lines {
		if l.Debit < 0 || l.Credit < 0 || (l.Debit > 0) == (l.Credit > 0) {
			return fmt.Errorf("ledger: entry %s line %d (%s): debit %d credit %d, want exactly one positive", e.Key, i, l.Account, l.Debit, l.Credit)
		}
		d += l.Debit
		c += l.Credit
	}
	if d != c {
		return fmt.Errorf("%w: %s debits %d, credits %d", ErrUnbalanced, e.Key, d, c)
	}
	return nil
}
