package ledger

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// Accounts is the chart the rules post to. Every account is the user's choice; DefaultRules
// gives the defaults of booking-rules.md.
type Accounts struct {
	Customers         string // 411000
	DisputedCustomers string // 416000
	Sales             string // 707000 (706000 for services)
	SalesRefunds      string // the sales account by default; 709000 for those who keep reversals apart
	VAT               string // 445712, for every rate without its own account

	// VATByRate gives a rate (basis points) its own VAT account; rates not in it use VAT.
	VATByRate map[int]string

	Fees          string // 627800
	StripeBalance string // 517100

	// StripeBalanceByCurrency gives a Stripe balance kept in a currency (upper-case ISO
	// code) its own account; currencies not in it use StripeBalance.
	StripeBalanceByCurrency map[string]string

	Transit      string // 580000, the payout side when the bank feed books the deposit
	Bank         string // 512000
	ExchangeLoss string // 656000: losses on receivables are operating items since ANC 2015-05
	ExchangeGain string // 756000
	BadDebt      string // 654000
}

// Journals are the journal codes entries go to.
type Journals struct {
	Sales  string // VTE: sales and credit notes (and dispute write-offs)
	Stripe string // STR: the Stripe balance, treated as a bank
	Bank   string // BQ: payouts arriving at the bank
}

// LostDisputePolicy says how a lost dispute is booked.
type LostDisputePolicy string

const (
	// CreditNote reverses the sale and its VAT, as for a refund (the default).
	CreditNote LostDisputePolicy = "credit_note"
	// WriteOff books the disputed amount as an irrecoverable receivable.
	WriteOff LostDisputePolicy = "write_off"
)

// Rules are the booking choices of one set of books.
type Rules struct {
	Accounts       Accounts
	Journals       Journals
	BookCurrency   string // ISO code of the books, "EUR"
	DefaultVATRate int    // basis points, 2000

	// PayoutsToTransit books payouts to Transit instead of Bank, for users whose bank
	// feed already books the deposit on 512.
	PayoutsToTransit bool

	// LostDisputes is the lost-dispute policy; empty means CreditNote.
	LostDisputes LostDisputePolicy
}

// DefaultRules are the defaults of booking-rules.md.
func DefaultRules() Rules {
	return Rules{
		Accounts: Accounts{
			Customers:         "411000",
			DisputedCustomers: "416000",
			Sales:             "707000",
			SalesRefunds:      "707000",
			VAT:               "445712",
			Fees:              "627800",
			StripeBalance:     "517100",
			Transit:           "580000",
			Bank:              "512000",
			ExchangeLoss:      "656000",
			ExchangeGain:      "756000",
			BadDebt:           "654000",
		},
		Journals:       Journals{Sales: "VTE", Stripe: "STR", Bank: "BQ"},
		BookCurrency:   "EUR",
		DefaultVATRate: 2000,
		LostDisputes:   CreditNote,
	}
}

// ErrBadRules is wrapped by every FieldError of Rules.Validate.
var ErrBadRules = errors.New("ledger: bad booking rules")

// FieldError is a setting of Rules that cannot be used. Field is the setting's name as
// AccountUse.Role spells it ("accounts.customers", "accounts.vat_by_rate[550]",
// "journals.sales", "book_currency", ...).
type FieldError struct {
	Field   string
	Value   string
	Problem string
}

func (e *FieldError) Error() string {
	return fmt.Sprintf("ledger: booking rules: %s %q: %s", e.Field, e.Value, e.Problem)
}

// Unwrap lets callers test errors.Is(err, ErrBadRules).
func (e *FieldError) Unwrap() error { return ErrBadRules }

// A PCG account number: digits (the class first), optionally followed by upper-case
// letters or digits for a chart that suffixes its accounts (411CLIENTS).
var pcgAccount = regexp.MustCompile(`^[1-9][0-9]*[A-Z0-9]*$`)

var journalCode = regexp.MustCompile(`^[A-Z0-9]{1,8}$`)

var isoCurrency = regexp.MustCompile(`^[A-Z]{3}$`)

// AccountUse is one account the rules can post to and the setting that names it.
type AccountUse struct {
	Role    string // "customers", "vat_by_rate[550]", "stripe_balance_by_currency[USD]", ...
	Account string
}

// AccountUses lists every account these rules can post to, in a stable order, so that a
// caller can check them against the Comptentra chart (GET /comptes) before booking.
// Accounts a policy rules out are left out: Bank or Transit depending on
// PayoutsToTransit, BadDebt only with the WriteOff policy.
func (r Rules) AccountUses() []AccountUse {
	a := r.Accounts
	uses := []AccountUse{
		{"customers", a.Customers},
		{"disputed_customers", a.DisputedCustomers},
		{"sales", a.Sales},
		{"sales_refunds", a.SalesRefunds},
		{"vat", a.VAT},
	}
	for _, rate := range sortedKeys(a.VATByRate) {
		uses = append(uses, AccountUse{fmt.Sprintf("vat_by_rate[%d]", rate), a.VATByRate[rate]})
	}
	uses = append(uses,
		AccountUse{"fees", a.Fees},
		AccountUse{"stripe_balance", a.StripeBalance},
	)
	for _, cur := range sortedKeys(a.StripeBalanceByCurrency) {
		uses = append(uses, AccountUse{fmt.Sprintf("stripe_balance_by_currency[%s]", cur), a.StripeBalanceByCurrency[cur]})
	}
	if r.PayoutsToTransit {
		uses = append(uses, AccountUse{"transit", a.Transit})
	} else {
		uses = append(uses, AccountUse{"bank", a.Bank})
	}
	uses = append(uses,
		AccountUse{"exchange_loss", a.ExchangeLoss},
		AccountUse{"exchange_gain", a.ExchangeGain},
	)
	if r.lostDisputePolicy() == WriteOff {
		uses = append(uses, AccountUse{"bad_debt", a.BadDebt})
	}
	return uses
}

func sortedKeys[K int | string, V any](m map[K]V) []K {
	keys := make([]K, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// Validate checks every setting and reports all the bad ones at once (joined
// *FieldError values), each naming its field.
func (r Rules) Validate() error {
	var errs []error
	bad := func(field, value, problem string) {
		errs = append(errs, &FieldError{Field: field, Value: value, Problem: problem})
	}
	account := func(field, value string) {
		switch {
		case value == "":
			bad(field, value, "missing")
		case !pcgAccount.MatchString(value):
			bad(field, value, "not a PCG account number (digits, then optionally upper-case letters or digits)")
		}
	}
	a := r.Accounts
	// Every account is checked, including those a policy does not use today: a
	// configuration should not become invalid by flipping an option.
	for _, f := range []struct{ field, value string }{
		{"accounts.customers", a.Customers},
		{"accounts.disputed_customers", a.DisputedCustomers},
		{"accounts.sales", a.Sales},
		{"accounts.sales_refunds", a.SalesRefunds},
		{"accounts.vat", a.VAT},
		{"accounts.fees", a.Fees},
		{"accounts.stripe_balance", a.StripeBalance},
		{"accounts.transit", a.Transit},
		{"accounts.bank", a.Bank},
		{"accounts.exchange_loss", a.ExchangeLoss},
		{"accounts.exchange_gain", a.ExchangeGain},
		{"accounts.bad_debt", a.BadDebt},
	} {
		account(f.field, f.value)
	}
	for _, rate := range sortedKeys(a.VATByRate) {
		field := fmt.Sprintf("accounts.vat_by_rate[%d]", rate)
		if rate < 0 || rate > MaxRate {
			bad(field, fmt.Sprint(rate), "rate outside 0..10000 basis points")
		}
		account(field, a.VATByRate[rate])
	}
	for _, cur := range sortedKeys(a.StripeBalanceByCurrency) {
		field := fmt.Sprintf("accounts.stripe_balance_by_currency[%s]", cur)
		if !isoCurrency.MatchString(cur) {
			bad(field, cur, "want an upper-case ISO 4217 code")
		}
		account(field, a.StripeBalanceByCurrency[cur])
	}
	for _, f := range []struct{ field, value string }{
		{"journals.sales", r.Journals.Sales},
		{"journals.stripe", r.Journals.Stripe},
		{"journals.bank", r.Journals.Bank},
	} {
		if !journalCode.MatchString(f.value) {
			bad(f.field, f.value, "want a journal code of 1 to 8 upper-case letters or digits")
		}
	}
	if !isoCurrency.MatchString(r.BookCurrency) {
		bad("book_currency", r.BookCurrency, "want an upper-case ISO 4217 code such as EUR")
	}
	if r.DefaultVATRate < 0 || r.DefaultVATRate > MaxRate {
		bad("default_vat_rate", fmt.Sprint(r.DefaultVATRate), "outside 0..10000 basis points")
	}
	switch r.LostDisputes {
	case "", CreditNote, WriteOff:
	default:
		bad("lost_disputes", string(r.LostDisputes), `want "credit_note" or "write_off"`)
	}
	return errors.Join(errs...)
}

func (r Rules) lostDisputePolicy() LostDisputePolicy {
	if r.LostDisputes == "" {
		return CreditNote
	}
	return r.LostDisputes
}

// vatAccount is the VAT account of a rate.
func (r Rules) vatAccount(rateBP int) string {
	if acc, ok := r.Accounts.VATByRate[rateBP]; ok && acc != "" {
		return acc
	}
	return r.Accounts.VAT
}

// stripeBalance is the Stripe balance account of a currency; ok is false for a foreign
// currency without its own account.
func (r Rules) stripeBalance(currency string) (acc string, ok bool) {
	cur := strings.ToUpper(currency)
	if acc, ok := r.Accounts.StripeBalanceByCurrency[cur]; ok && acc != "" {
		return acc, true
	}
	return r.Accounts.StripeBalance, r.isBookCurrency(cur)
}

func (r Rules) isBookCurrency(currency string) bool {
	return strings.EqualFold(currency, r.BookCurrency)
}
