package ledger

import (
	"strings"
	"unicode/utf8"
)

// Charge is what the ledger needs of a Stripe charge. The worker builds it from Stripe's
// payloads (and the rate source); the ledger knows nothing of Stripe's JSON.
type Charge struct {
	ID            string // ch_…
	Created       int64  // charge.created, Unix seconds
	Currency      string // as Stripe gives it, lower case (eur, usd, jpy)
	Amount        int64  // amount_captured, in Currency's minor units
	CustomerID    string // cus_…, when the charge has a customer
	Email         string // receipt_email, else billing_details.email
	Name          string // billing_details.name
	InvoiceNumber string // the invoice's number, when the charge has one: the piece reference
	VATRate       int    // basis points, resolved by the caller
	VATSource     string // "invoice", "metadata" or "default", for labels and logs

	// BookAmount is the TTC in the book currency's minor units for a foreign-currency
	// charge, as the rate source decided it (the settled amount for "stripe", Convert or
	// ConvertECB for "ecb"). Zero for a charge in the book currency.
	BookAmount int64
}

// maxPieceRef is Comptentra's limit on piece_ref.
const maxPieceRef = 64

// PieceRef is the supporting document of everything that follows from the charge: its
// invoice number when it has one that fits Comptentra's 64 characters, else the charge id.
// A longer invoice number is not cut: two cut numbers could collide, the charge id cannot.
func (c Charge) PieceRef() string {
	if c.InvoiceNumber != "" && utf8.RuneCountInString(c.InvoiceNumber) <= maxPieceRef {
		return c.InvoiceNumber
	}
	return truncate(c.ID, maxPieceRef)
}

// Tiers is the customer of the charge: the Stripe customer id, else the charge id.
func (c Charge) Tiers() Tiers {
	ref := c.CustomerID
	if ref == "" {
		ref = c.ID
	}
	return Tiers{Ref: ref, Email: c.Email, Name: c.Name}
}

// BookTTC is the charge's TTC in the book currency: BookAmount when it is set (a
// foreign-currency charge), else Amount. The Rules methods also check that a foreign
// charge has a BookAmount, which this method alone cannot know.
func (c Charge) BookTTC() int64 {
	if c.BookAmount != 0 {
		return c.BookAmount
	}
	return c.Amount
}

// BalanceTransaction is a Stripe balance transaction: money that moved on the Stripe
// balance, in the settlement currency.
type BalanceTransaction struct {
	ID           string // txn_…
	Created      int64  // Unix seconds
	Currency     string // settlement currency, lower case
	Amount       int64  // gross, settlement currency minor units
	Fee          int64
	Net          int64  // Amount − Fee
	ExchangeRate string // decimal string as Stripe gives it ("0.904583"), "" when none
}

// Refund gives the details of the refund being booked.
type Refund struct {
	ID      string // re_…, named in the label when known
	Created int64  // the refund's created time, else the event's: the date of the credit note
}

// Payout is a Stripe payout to the bank.
type Payout struct {
	ID          string // po_…
	Amount      int64  // in Currency's minor units
	Currency    string
	ArrivalDate int64 // Unix seconds: the date of the entry
	Created     int64 // used when ArrivalDate is zero

	// BookAmount is the payout in the book currency's minor units, required for a
	// payout in a foreign currency (paid from a Stripe balance with its own account).
	BookAmount int64
}

// Dispute is a Stripe dispute with the balance transactions that moved its funds.
type Dispute struct {
	ID       string // du_…
	Charge   Charge // the disputed charge, as for its sale
	Status   string
	Amount   int64  // disputed amount, in Currency's minor units
	Currency string // lower case

	// Closed is when the dispute closed (the closing event's created time, Unix seconds):
	// the date of a lost dispute's entry. When zero, the withdrawal's date is used.
	Closed int64

	// BalanceTransactions are the dispute's fund movements: the withdrawal (negative
	// amount, positive fee) and, when won, the reinstatement (positive amount; a negative
	// fee when Stripe returns the dispute fee).
	BalanceTransactions []BalanceTransaction
}

// truncate cuts s to at most n runes.
func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n])
}

func upper(currency string) string { return strings.ToUpper(currency) }
