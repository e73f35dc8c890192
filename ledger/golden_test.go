package ledger

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current output")

// goldenScenarios are whole stories, each booked with every entry it produces.
func goldenScenarios(t *testing.T) map[string][]Entry {
	t.Helper()
	must := mustOf(t)
	mustAll := func(es []Entry, err error) []Entry {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return es
	}
	r := DefaultRules()
	eur := euroCharge()
	eur.InvoiceNumber = "F-2026-0042"
	eur.VATSource = "invoice"
	bt := BalanceTransaction{ID: "txn_1", Created: settleTime, Currency: "eur", Amount: 12000, Fee: 205, Net: 11795}

	usd := Charge{ID: "ch_5", Created: saleTime, Currency: "usd", Amount: 12000, Email: "buyer@example.com", VATRate: 2000, VATSource: "default", BookAmount: 10855}
	usdBT := BalanceTransaction{ID: "txn_5", Created: settleTime, Currency: "eur", Amount: 10855, Fee: 378, Net: 10477, ExchangeRate: "0.904583"}
	ecb := usd
	ecb.ID = "ch_6"
	ecb.BookAmount = 10909

	jpy := Charge{ID: "ch_jpy", Created: time.Date(2025, 12, 31, 23, 30, 0, 0, time.UTC).Unix(), Currency: "jpy", Amount: 5000, CustomerID: "cus_J", VATRate: 550, VATSource: "metadata", BookAmount: 3100}

	dsp := Dispute{ID: "du_1", Charge: eur, Status: "lost", Amount: 12000, Currency: "eur", Closed: at(2026, time.May, 2, 12, 0),
		BalanceTransactions: []BalanceTransaction{{ID: "txn_w", Created: at(2026, time.April, 1, 8, 0), Currency: "eur", Amount: -12000, Fee: 1500, Net: -13500}}}
	won := dsp
	won.ID, won.Status = "du_2", "won"
	won.BalanceTransactions = append(won.BalanceTransactions, BalanceTransaction{ID: "txn_r", Created: at(2026, time.May, 2, 12, 0), Currency: "eur", Amount: 12000, Fee: -1500, Net: 13500})
	writeOff := r
	writeOff.LostDisputes = WriteOff

	p := Payout{ID: "po_1", Amount: 6795, Currency: "eur", ArrivalDate: at(2026, time.March, 18, 1, 0)}
	transit := r
	transit.PayoutsToTransit = true

	zero := eur
	zero.ID, zero.VATRate, zero.InvoiceNumber = "ch_0", 0, ""

	out := map[string][]Entry{
		"eur_sale_settlement_refunds": append([]Entry{must(r.Sale(eur)), must(r.Settlement(eur, bt))},
			append(mustAll(r.Refund(eur, 0, 5000, Refund{ID: "re_1", Created: refundTime})),
				mustAll(r.Refund(eur, 5000, 12000, Refund{ID: "re_2", Created: refundTime + 86400}))...)...),
		"usd_stripe_rate": {must(r.Sale(usd)), must(r.Settlement(usd, usdBT))},
		"usd_ecb_rate":    {must(r.Sale(ecb)), must(r.Settlement(ecb, usdBT))},
		"jpy_new_year":    append([]Entry{must(r.Sale(jpy))}, mustAll(r.Refund(jpy, 0, 1234, Refund{ID: "re_j", Created: refundTime}))...),
		"payout":          {must(r.Payout(p)), must(r.PayoutReversal(p)), must(transit.Payout(p))},
		"dispute_lost":    {must(r.DisputeWithdrawn(dsp)), must(r.DisputeLost(dsp)), must(writeOff.DisputeLost(dsp))},
		"dispute_won":     {must(r.DisputeWithdrawn(won)), must(r.DisputeReinstated(won))},
		"zero_rate":       {must(r.Sale(zero))},
		"rebooked":        {must(r.Sale(jpy)).Rebooked(Date{2026, time.February, 3})},
	}
	return out
}

func TestGolden(t *testing.T) {
	for name, entries := range goldenScenarios(t) {
		t.Run(name, func(t *testing.T) {
			for _, e := range entries {
				if err := e.Validate(); err != nil {
					t.Error(err)
				}
			}
			got, err := json.MarshalIndent(entries, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, '\n')
			path := filepath.Join("testdata", name+".golden")
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test ./ledger -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s differs from the output (run go test ./ledger -update if the change is intended):\n%s", path, got)
			}
		})
	}
}
