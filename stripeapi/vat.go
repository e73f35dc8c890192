package stripeapi

import (
	"math"
	"strconv"
	"strings"

	stripe "github.com/stripe/stripe-go/v76"
)

// InvoiceVAT derives the invoice's single VAT rate, in basis points
// (2000 = 20 %, 550 = 5.5 %, 0 for an exempt or reverse-charged invoice),
// from Stripe's own tax amounts (invoice.total_tax_amounts). ok is false when
// the invoice has no tax amounts, when they carry several different rates,
// or when a rate cannot be known exactly.
//
// Each tax amount's rate comes from, first that applies:
//
//  1. its tax_rate's percentage, when tax_rate is expanded (Client.Invoice
//     expands total_tax_amounts.tax_rate). The percentage must have at most
//     two decimals to be a whole number of basis points (5.5 → 550); a rate
//     such as 8.875 is rejected (ok=false) rather than rounded.
//  2. amount / taxable_amount, when it is an exact whole number of basis
//     points: amount × 10000 = rate × taxable_amount on integers (10000 taxed
//     2000 → 2000). Stripe rounds each tax to the cent, so this only works for
//     round amounts; otherwise the rate is unknown and ok is false.
//
// Why the float64 percentage converts exactly: Stripe sends the percentage as
// a short JSON decimal (e.g. 5.5, 20, 2.1), and encoding/json parses it to the
// nearest float64. strconv.FormatFloat(p, 'f', -1, 64) prints the shortest
// decimal that parses back to that same float64; for any decimal of at most
// 15 significant digits that is the decimal itself (float64 has 15.95 digits
// of precision), so "5.5" comes back as "5.5", never "5.4999999". The digits
// are then turned into basis points with integer arithmetic only. No
// rounding happens anywhere, so no money is ever computed in floating point.
func InvoiceVAT(inv *stripe.Invoice) (rateBP int, ok bool) {
	if inv == nil || len(inv.TotalTaxAmounts) == 0 {
		return 0, false
	}
	rate := -1
	for _, ta := range inv.TotalTaxAmounts {
		if ta == nil {
			return 0, false
		}
		r, known := taxAmountBP(ta)
		if !known {
			return 0, false
		}
		if rate >= 0 && r != rate {
			return 0, false
		}
		rate = r
	}
	return rate, true
}

func taxAmountBP(ta *stripe.InvoiceTotalTaxAmount) (int, bool) {
	if tr := ta.TaxRate; tr != nil && (tr.Object != "" || tr.Percentage != 0) {
		// Expanded (an unexpanded tax_rate is only an id: no object field).
		return percentToBP(tr.Percentage)
	}
	// Rate unknown from the tax rate object: derive it from the amounts.
	if ta.TaxableAmount == 0 || ta.Amount < 0 || ta.TaxableAmount < 0 {
		return 0, false
	}
	// amount × 10000 = rate × taxable exactly, with overflow guarded.
	if ta.Amount > math.MaxInt64/10000 {
		return 0, false
	}
	num := ta.Amount * 10000
	if num%ta.TaxableAmount != 0 {
		return 0, false
	}
	r := num / ta.TaxableAmount
	if r > 10000 {
		return 0, false
	}
	return int(r), true
}

// percentToBP converts a percentage such as 5.5 to basis points (550)
// exactly, or reports false if it is negative, above 100, not finite, or has
// more than two decimals.
func percentToBP(p float64) (int, bool) {
	if math.IsNaN(p) || math.IsInf(p, 0) || p < 0 || p > 100 {
		return 0, false
	}
	s := strconv.FormatFloat(p, 'f', -1, 64) // shortest exact round-trip form
	whole, frac, _ := strings.Cut(s, ".")
	if len(frac) > 2 {
		return 0, false
	}
	frac += strings.Repeat("0", 2-len(frac))
	w, err := strconv.Atoi(whole)
	if err != nil {
		return 0, false
	}
	f, err := strconv.Atoi(frac)
	if err != nil {
		return 0, false
	}
	return w*100 + f, true
}
