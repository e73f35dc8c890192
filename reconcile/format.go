package reconcile

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/servolution/stripe-comptentra-sync/ledger"
)

// WriteText writes the report for a person: the totals side by side per category,
// the differences one per line, then the verdict. Amounts are written as ledger
// FormatAmount does: 1234.56 EUR.
func WriteText(w io.Writer, r Report) error {
	amt := func(x int64) string { return ledger.FormatAmount(x, r.Currency) }
	var b strings.Builder
	fmt.Fprintf(&b, "Reconciliation Stripe / Comptentra, %s to %s (Europe/Paris dates)\n\n", r.From, r.To)
	tw := tabwriter.NewWriter(&b, 0, 8, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "category\ttransactions\tStripe\tentries\tbooks\tdifference\t")
	for _, c := range r.Categories {
		if c.Name == CatOther {
			fmt.Fprintf(tw, "%s\t%d\t%s\t-\t-\t-\t\n", c.Label, c.Count, amt(c.Stripe))
			continue
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%d\t%s\t%s\t\n", c.Label, c.Count, amt(c.Stripe), c.InBook, amt(c.Books), amt(c.Stripe-c.Books))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	b.WriteString("\nStripe balance: ")
	if r.Balance.Available {
		fmt.Fprintf(&b, "start %s, end %s (%s)\n", amt(*r.Balance.Start), amt(*r.Balance.End), r.Balance.Note)
	} else {
		fmt.Fprintf(&b, "start and end %s\n", r.Balance.Note)
	}
	if r.UnkeyedEntries > 0 {
		fmt.Fprintf(&b, "%d entr(ies) of the journals carry no sync key: not compared\n", r.UnkeyedEntries)
	}
	var outside int
	for _, row := range r.Rows {
		if row.Status == StatusOutsidePeriod {
			outside++
		}
	}
	if outside > 0 {
		fmt.Fprintf(&b, "%d payout entr(ies) of the period belong to Stripe transactions outside it (arrival date): not counted\n", outside)
	}
	if len(r.Differences) == 0 {
		b.WriteString("\nNo differences.\n")
	} else {
		fmt.Fprintf(&b, "\nDifferences (%d):\n", len(r.Differences))
		for _, d := range r.Differences {
			id := d.StripeID
			if id == "" {
				id = "-"
			}
			key := d.BusinessKey
			if key == "" {
				key = "-"
			}
			fmt.Fprintf(&b, "  %-16s  %s  %s  %s  Stripe %s, books %s: %s\n", d.Kind, id, orDash(d.SourceID), key, amt(d.Stripe), amt(d.Books), d.Detail)
		}
	}
	if r.Agree {
		fmt.Fprintf(&b, "\nVerdict: AGREE: the books hold every Stripe movement of %s..%s, once, for the right amounts.\n", r.From, r.To)
	} else {
		fmt.Fprintf(&b, "\nVerdict: DIFFER: %d difference(s) between Stripe and the books for %s..%s.\n", len(r.Differences), r.From, r.To)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// WriteJSON writes the report as indented JSON.
func WriteJSON(w io.Writer, r Report) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// CSVHeader is the header row of WriteCSV.
var CSVHeader = []string{"categorie", "statut", "stripe_ids", "source", "date_stripe", "cle", "ecritures", "date_ecriture", "montant_stripe", "montant_compta", "ecart", "devise", "detail"}

// WriteCSV writes one row per Stripe balance transaction(s) / entry pair, with a header
// row, for a spreadsheet: ';' as the separator and a decimal comma (1234,56), as French
// spreadsheets expect.
func WriteCSV(w io.Writer, r Report) error {
	cw := csv.NewWriter(w)
	cw.Comma = ';'
	if err := cw.Write(CSVHeader); err != nil {
		return err
	}
	num := func(x int64) string { return decimalComma(x, r.Currency) }
	for _, row := range r.Rows {
		rec := []string{row.Category, row.Status, strings.Join(row.StripeIDs, " "), row.SourceID, row.StripeDate,
			row.BusinessKey, strings.Join(row.Entries, " "), row.EntryDate, num(row.Stripe), num(row.Books),
			num(row.Stripe - row.Books), r.Currency, row.Detail}
		if row.Status == StatusNotBooked {
			rec[9], rec[10] = "", ""
		}
		if err := cw.Write(rec); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// decimalComma writes minor units as a plain decimal with a comma: 123456 → "1234,56".
func decimalComma(x int64, currency string) string {
	s := ledger.FormatAmount(x, currency)
	s, _, _ = strings.Cut(s, " ")
	return strings.Replace(s, ".", ",", 1)
}
