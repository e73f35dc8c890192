package ledger

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// at is the Unix time of a Paris wall-clock moment.
func at(y int, m time.Month, d, hh, mm int) int64 {
	return time.Date(y, m, d, hh, mm, 0, 0, Paris).Unix()
}

func day(s string) Date {
	d, err := ParseDate(s)
	if err != nil {
		panic(err)
	}
	return d
}

// want is a line as the worked examples state it: no labels.
type want struct {
	Account        string
	Debit, Credit  int64
	Tiers          string // Tiers.Ref, "" for no tiers
	Currency       string
	CurrencyAmount int64
}

func (w want) String() string {
	s := fmt.Sprintf("%s D%d C%d", w.Account, w.Debit, w.Credit)
	if w.Tiers != "" {
		s += " tiers=" + w.Tiers
	}
	if w.Currency != "" {
		s += fmt.Sprintf(" %s %d", w.Currency, w.CurrencyAmount)
	}
	return s
}

func d(account string, amount int64) want { return want{Account: account, Debit: amount} }
func c(account string, amount int64) want { return want{Account: account, Credit: amount} }
func (w want) tiers(ref string) want      { w.Tiers = ref; return w }
func (w want) in(cur string, amount int64) want {
	w.Currency, w.CurrencyAmount = cur, amount
	return w
}

func linesOf(e Entry) []want {
	var out []want
	for _, l := range e.Lines {
		w := want{Account: l.Account, Debit: l.Debit, Credit: l.Credit, Currency: l.Currency, CurrencyAmount: l.CurrencyAmount}
		if l.Tiers != nil {
			w.Tiers = l.Tiers.Ref
		}
		out = append(out, w)
	}
	return out
}

// checkEntry compares an entry with its expected key, journal, date and lines, and checks
// it passes Entry.Validate and Comptentra's rule that 411/416 lines carry a tiers.
func checkEntry(t *testing.T, e Entry, key, journal, date string, lines ...want) {
	t.Helper()
	if e.Key != key || e.Journal != journal || e.Date.String() != date {
		t.Errorf("entry %s %s %s; want %s %s %s", e.Key, e.Journal, e.Date, key, journal, date)
	}
	got := linesOf(e)
	if fmt.Sprint(got) != fmt.Sprint(lines) {
		t.Errorf("entry %s lines:\n got  %v\n want %v", key, got, lines)
	}
	if err := e.Validate(); err != nil {
		t.Errorf("entry %s: %v", key, err)
	}
	if e.Label == "" || utf8.RuneCountInString(e.Label) > maxLabel {
		t.Errorf("entry %s label %q: want 1..255 characters", key, e.Label)
	}
	for _, l := range e.Lines {
		if (strings.HasPrefix(l.Account, "411") || strings.HasPrefix(l.Account, "416")) && (l.Tiers == nil || l.Tiers.Ref == "" && l.Tiers.Email == "") {
			t.Errorf("entry %s: customer line %s without tiers", key, l.Account)
		}
	}
}

var (
	saleTime   = at(2026, time.March, 14, 10, 0)
	settleTime = at(2026, time.March, 16, 9, 0)
	refundTime = at(2026, time.March, 20, 15, 0)
)

func euroCharge() Charge {
	return Charge{
		ID: "ch_1", Created: saleTime, Currency: "eur", Amount: 12000,
		CustomerID: "cus_Q1", Email: "client@example.com", Name: "Jeanne Client",
		VATRate: 2000, VATSource: "default",
	}
}

// mustOf(t)(r.Sale(ch)) is the entry, failing the test on an error.
func mustOf(t *testing.T) func(Entry, error) Entry {
	return func(e Entry, err error) Entry {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
}

// Worked example 1: 120.00 EUR TTC at 20 %, fee 205.
func TestWorkedExample1SaleAndSettlement(t *testing.T) {
	r := DefaultRules()
	ch := euroCharge()
	sale := mustOf(t)(r.Sale(ch))
	checkEntry(t, sale, "ch_1:sale", "VTE", "2026-03-14",
		d("411000", 12000).tiers("cus_Q1"), c("707000", 10000), c("445712", 2000))
	if sale.PieceRef != "ch_1" || !strings.Contains(sale.Label, "ch_1") {
		t.Errorf("sale piece %q label %q: want the charge id", sale.PieceRef, sale.Label)
	}
	bt := BalanceTransaction{ID: "txn_1", Created: settleTime, Currency: "eur", Amount: 12000, Fee: 205, Net: 11795}
	settlement := mustOf(t)(r.Settlement(ch, bt))
	checkEntry(t, settlement, "ch_1:settlement", "STR", "2026-03-16",
		d("517100", 11795), d("627800", 205), c("411000", 12000).tiers("cus_Q1"))
}

// Worked example 2: refunds of 50.00 then 70.00 of example 1.
func TestWorkedExample2Refunds(t *testing.T) {
	r := DefaultRules()
	ch := euroCharge()
	first, err := r.Refund(ch, 0, 5000, Refund{ID: "re_1", Created: refundTime})
	if err != nil {
		t.Fatal(err)
	}
	if len(first) != 2 {
		t.Fatalf("Refund gave %d entries, want 2", len(first))
	}
	checkEntry(t, first[0], "ch_1:refund:5000", "VTE", "2026-03-20",
		d("707000", 4167), d("445712", 833), c("411000", 5000).tiers("cus_Q1"))
	checkEntry(t, first[1], "ch_1:refund:5000:cash", "STR", "2026-03-20",
		d("411000", 5000).tiers("cus_Q1"), c("517100", 5000))
	if !strings.Contains(first[0].Label, "re_1") || !strings.Contains(first[0].Label, "ch_1") {
		t.Errorf("credit note label %q: want ch_1 and re_1", first[0].Label)
	}
	second, err := r.Refund(ch, 5000, 12000, Refund{ID: "re_2", Created: refundTime + 86400})
	if err != nil {
		t.Fatal(err)
	}
	checkEntry(t, second[0], "ch_1:refund:12000", "VTE", "2026-03-21",
		d("707000", 5833), d("445712", 1167), c("411000", 7000).tiers("cus_Q1"))
	checkEntry(t, second[1], "ch_1:refund:12000:cash", "STR", "2026-03-21",
		d("411000", 7000).tiers("cus_Q1"), c("517100", 7000))
}

// Worked example 3: payout of 67.95 paid on 18 March.
func TestWorkedExample3Payout(t *testing.T) {
	r := DefaultRules()
	p := Payout{ID: "po_1", Amount: 6795, Currency: "eur", Created: at(2026, time.March, 16, 2, 0), ArrivalDate: at(2026, time.March, 18, 1, 0)}
	e := mustOf(t)(r.Payout(p))
	checkEntry(t, e, "po_1:payout", "BQ", "2026-03-18", d("512000", 6795), c("517100", 6795))
	if e.PieceRef != "po_1" {
		t.Errorf("payout piece %q, want po_1", e.PieceRef)
	}

	r.PayoutsToTransit = true
	checkEntry(t, mustOf(t)(r.Payout(p)), "po_1:payout", "BQ", "2026-03-18", d("580000", 6795), c("517100", 6795))

	rev := mustOf(t)(r.PayoutReversal(p))
	checkEntry(t, rev, "po_1:payout:reversal", "BQ", "2026-03-18", c("580000", 6795), d("517100", 6795))
}

// Worked example 4: dispute on a 120.00 charge, withdrawal −12000 with a 15.00 fee, lost.
func TestWorkedExample4Dispute(t *testing.T) {
	r := DefaultRules()
	dsp := Dispute{
		ID: "du_1", Charge: euroCharge(), Status: "lost", Amount: 12000, Currency: "eur",
		Closed: at(2026, time.May, 2, 12, 0),
		BalanceTransactions: []BalanceTransaction{
			{ID: "txn_w", Created: at(2026, time.April, 1, 8, 0), Currency: "eur", Amount: -12000, Fee: 1500, Net: -13500},
		},
	}
	w := mustOf(t)(r.DisputeWithdrawn(dsp))
	checkEntry(t, w, "du_1:withdrawn", "STR", "2026-04-01",
		d("416000", 12000).tiers("cus_Q1"), d("627800", 1500), c("517100", 13500))
	if w.PieceRef != "du_1" || !strings.Contains(w.Label, "du_1") || !strings.Contains(w.Label, "ch_1") {
		t.Errorf("withdrawal piece %q label %q", w.PieceRef, w.Label)
	}
	lost := mustOf(t)(r.DisputeLost(dsp))
	checkEntry(t, lost, "du_1:lost", "VTE", "2026-05-02",
		d("707000", 10000), d("445712", 2000), c("416000", 12000).tiers("cus_Q1"))
	if lost.PieceRef != "ch_1" {
		t.Errorf("lost credit note piece %q, want the charge's", lost.PieceRef)
	}

	r.LostDisputes = WriteOff
	checkEntry(t, mustOf(t)(r.DisputeLost(dsp)), "du_1:lost", "VTE", "2026-05-02",
		d("654000", 12000), c("416000", 12000).tiers("cus_Q1"))

	dsp.Closed = 0 // falls back to the withdrawal's date
	checkEntry(t, mustOf(t)(r.DisputeLost(dsp)), "du_1:lost", "VTE", "2026-04-01",
		d("654000", 12000), c("416000", 12000).tiers("cus_Q1"))
}

func TestDisputeFeeIsNeverHardCoded(t *testing.T) {
	r := DefaultRules()
	dsp := Dispute{ID: "du_2", Charge: euroCharge(), Amount: 12000, Currency: "eur",
		BalanceTransactions: []BalanceTransaction{{ID: "txn_w", Created: settleTime, Currency: "eur", Amount: -12000, Fee: 2000, Net: -14000}}}
	checkEntry(t, mustOf(t)(r.DisputeWithdrawn(dsp)), "du_2:withdrawn", "STR", "2026-03-16",
		d("416000", 12000).tiers("cus_Q1"), d("627800", 2000), c("517100", 14000))
}

func TestDisputeReinstated(t *testing.T) {
	r := DefaultRules()
	withdrawal := BalanceTransaction{ID: "txn_w", Created: settleTime, Currency: "eur", Amount: -12000, Fee: 1500, Net: -13500}
	tests := []struct {
		name  string
		bt    BalanceTransaction
		lines []want
	}{
		{"fee returned", BalanceTransaction{ID: "txn_r", Created: refundTime, Currency: "eur", Amount: 12000, Fee: -1500, Net: 13500},
			[]want{d("517100", 13500), c("416000", 12000).tiers("cus_Q1"), c("627800", 1500)}},
		{"fee kept", BalanceTransaction{ID: "txn_r", Created: refundTime, Currency: "eur", Amount: 12000, Fee: 0, Net: 12000},
			[]want{d("517100", 12000), c("416000", 12000).tiers("cus_Q1")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dsp := Dispute{ID: "du_1", Charge: euroCharge(), Status: "won", Amount: 12000, Currency: "eur",
				BalanceTransactions: []BalanceTransaction{withdrawal, tt.bt}}
			checkEntry(t, mustOf(t)(r.DisputeReinstated(dsp)), "du_1:reinstated", "STR", "2026-03-20", tt.lines...)
		})
	}
}

func TestDisputeWithoutFundsMovedBooksNothing(t *testing.T) {
	r := DefaultRules()
	inquiry := Dispute{ID: "du_3", Charge: euroCharge(), Status: "warning_needs_response", Amount: 12000, Currency: "eur"}
	if _, err := r.DisputeWithdrawn(inquiry); !errors.Is(err, ErrNoFundsMoved) {
		t.Errorf("inquiry withdrawal: %v, want ErrNoFundsMoved", err)
	}
	if _, err := r.DisputeReinstated(inquiry); !errors.Is(err, ErrNoFundsMoved) {
		t.Errorf("inquiry reinstatement: %v, want ErrNoFundsMoved", err)
	}
	inquiry.BalanceTransactions = []BalanceTransaction{{ID: "txn_w", Created: settleTime, Currency: "eur", Amount: -12000, Fee: 1500, Net: -13500}}
	if _, err := r.DisputeReinstated(inquiry); !errors.Is(err, ErrNoFundsMoved) {
		t.Errorf("reinstatement with only a withdrawal: %v, want ErrNoFundsMoved", err)
	}
}

// Worked example 5: 120.00 USD settled 108.55 EUR, fee 3.78, rate source "stripe".
func TestWorkedExample5ForeignCurrency(t *testing.T) {
	r := DefaultRules()
	bt := BalanceTransaction{ID: "txn_5", Created: settleTime, Currency: "eur", Amount: 10855, Fee: 378, Net: 10477, ExchangeRate: "0.904583"}
	book, err := Convert(12000, "usd", bt.ExchangeRate, "eur")
	if err != nil || book != bt.Amount {
		t.Fatalf("Convert at Stripe's rate = %d, %v; want the settled %d", book, err, bt.Amount)
	}
	ch := Charge{ID: "ch_5", Created: saleTime, Currency: "usd", Amount: 12000, Email: "buyer@example.com", VATRate: 2000, BookAmount: bt.Amount}
	checkEntry(t, mustOf(t)(r.Sale(ch)), "ch_5:sale", "VTE", "2026-03-14",
		d("411000", 10855).tiers("ch_5").in("USD", 12000), c("707000", 9046), c("445712", 1809))
	checkEntry(t, mustOf(t)(r.Settlement(ch, bt)), "ch_5:settlement", "STR", "2026-03-16",
		d("517100", 10477), d("627800", 378), c("411000", 10855).tiers("ch_5").in("USD", 12000))
}

// With the ECB rate source the sale is booked at the ECB rate and the settlement takes
// the difference to 656/756.
func TestForeignCurrencyECBExchangeDifference(t *testing.T) {
	r := DefaultRules()
	bt := BalanceTransaction{ID: "txn_5", Created: settleTime, Currency: "eur", Amount: 10855, Fee: 378, Net: 10477}
	tests := []struct {
		name     string
		ecb      string
		bookTTC  int64
		exchange want
	}{
		{"loss", "1.1", 10909, d("656000", 54)},   // 120 / 1.1 = 109.0909
		{"gain", "1.12", 10714, c("756000", 141)}, // 120 / 1.12 = 107.1428
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			book, err := ConvertECB(12000, "usd", tt.ecb)
			if err != nil || book != tt.bookTTC {
				t.Fatalf("ConvertECB = %d, %v; want %d", book, err, tt.bookTTC)
			}
			ch := Charge{ID: "ch_6", Created: saleTime, Currency: "usd", Amount: 12000, CustomerID: "cus_U", VATRate: 2000, BookAmount: book}
			e := mustOf(t)(r.Settlement(ch, bt))
			lines := []want{d("517100", 10477), d("627800", 378)}
			if tt.exchange.Debit > 0 {
				lines = append(lines, tt.exchange, c("411000", tt.bookTTC).tiers("cus_U").in("USD", 12000))
			} else {
				lines = append(lines, c("411000", tt.bookTTC).tiers("cus_U").in("USD", 12000), tt.exchange)
			}
			checkEntry(t, e, "ch_6:settlement", "STR", "2026-03-16", lines...)
		})
	}
}

func TestParisDates(t *testing.T) {
	r := DefaultRules()
	tests := []struct {
		name string
		unix int64
		want string
	}{
		{"23:30 UTC on 31 December is 1 January", time.Date(2025, 12, 31, 23, 30, 0, 0, time.UTC).Unix(), "2026-01-01"},
		{"22:59 UTC on 31 December is still 31 December", time.Date(2025, 12, 31, 22, 59, 0, 0, time.UTC).Unix(), "2025-12-31"},
		{"summer: 22:30 UTC is next day", time.Date(2026, 6, 30, 22, 30, 0, 0, time.UTC).Unix(), "2026-07-01"},
		{"summer: 21:59 UTC is same day", time.Date(2026, 6, 30, 21, 59, 0, 0, time.UTC).Unix(), "2026-06-30"},
		{"DST starts: 22:30 UTC on 28 March (UTC+1) is 29 March", time.Date(2026, 3, 28, 23, 30, 0, 0, time.UTC).Unix(), "2026-03-29"},
		{"DST started: 22:30 UTC on 29 March (UTC+2) is 30 March", time.Date(2026, 3, 29, 22, 30, 0, 0, time.UTC).Unix(), "2026-03-30"},
		{"DST ends: 22:30 UTC on 24 October (UTC+2) is 25 October", time.Date(2026, 10, 24, 22, 30, 0, 0, time.UTC).Unix(), "2026-10-25"},
		{"DST ended: 22:30 UTC on 25 October (UTC+1) is still 25 October", time.Date(2026, 10, 25, 22, 30, 0, 0, time.UTC).Unix(), "2026-10-25"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ch := euroCharge()
			ch.Created = tt.unix
			sale := mustOf(t)(r.Sale(ch))
			if sale.Date.String() != tt.want {
				t.Errorf("sale at %s UTC booked on %s, want %s", time.Unix(tt.unix, 0).UTC(), sale.Date, tt.want)
			}
			p := Payout{ID: "po_d", Amount: 100, Currency: "eur", ArrivalDate: tt.unix}
			if e := mustOf(t)(r.Payout(p)); e.Date.String() != tt.want {
				t.Errorf("payout arriving %s UTC booked on %s, want %s", time.Unix(tt.unix, 0).UTC(), e.Date, tt.want)
			}
		})
	}
}

// Refunding a sale in many steps gives back exactly its TTC and VAT, whatever the steps.
func TestRefundsInStepsGiveBackExactlyTheSale(t *testing.T) {
	tests := []struct {
		name  string
		ch    Charge
		steps []int64 // cumulative amounts refunded
	}{
		{"10.00 as 5.00 + 5.00", Charge{ID: "ch_a", Currency: "eur", Amount: 1000, VATRate: 2000}, []int64{500, 1000}},
		{"120.00 in cents-odd steps", Charge{ID: "ch_b", Currency: "eur", Amount: 12003, VATRate: 2000}, []int64{1, 3, 9, 3001, 7777, 12002, 12003}},
		{"5.5 %", Charge{ID: "ch_c", Currency: "eur", Amount: 9999, VATRate: 550}, []int64{10, 20, 5000, 9999}},
		{"8.5 % in 7 equal-ish steps", Charge{ID: "ch_d", Currency: "eur", Amount: 7001, VATRate: 850}, []int64{1000, 2000, 3000, 4000, 5000, 6000, 7001}},
		{"USD at a sale rate", Charge{ID: "ch_e", Currency: "usd", Amount: 12000, VATRate: 2000, BookAmount: 10855}, []int64{1, 3333, 6667, 11999, 12000}},
		{"JPY", Charge{ID: "ch_f", Currency: "jpy", Amount: 5000, VATRate: 1000, BookAmount: 3100}, []int64{1, 2, 3, 1234, 4999, 5000}},
		{"0 %", Charge{ID: "ch_g", Currency: "eur", Amount: 12000, VATRate: 0}, []int64{5000, 12000}},
	}
	r := DefaultRules()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.ch.Created = saleTime
			tt.ch.CustomerID = "cus_R"
			sale := mustOf(t)(r.Sale(tt.ch))
			var saleVAT, saleHT, saleTTC int64
			for _, l := range sale.Lines {
				switch l.Account {
				case "445712":
					saleVAT += l.Credit
				case "707000":
					saleHT += l.Credit
				case "411000":
					saleTTC += l.Debit
				}
			}
			var vat, ht, ttc, cash, own int64
			before := int64(0)
			keys := map[string]bool{sale.Key: true}
			for _, now := range tt.steps {
				entries, err := r.Refund(tt.ch, before, now, Refund{Created: refundTime})
				if errors.Is(err, ErrNothingToBook) {
					before = now // a refund worth nothing in euros: the next one catches up
					continue
				}
				if err != nil {
					t.Fatal(err)
				}
				for _, e := range entries {
					if err := e.Validate(); err != nil {
						t.Fatal(err)
					}
					if keys[e.Key] {
						t.Fatalf("key %s used twice", e.Key)
					}
					keys[e.Key] = true
					for _, l := range e.Lines {
						switch {
						case l.Account == "445712":
							vat += l.Debit
							if tt.ch.VATRate == 0 {
								t.Errorf("VAT line at 0 %%: %+v", l)
							}
						case l.Account == "707000":
							ht += l.Debit
						case l.Account == "411000" && e.Journal == "VTE":
							ttc += l.Credit
							own += l.CurrencyAmount
						case l.Account == "517100":
							cash += l.Credit
						}
					}
				}
				before = now
			}
			if vat != saleVAT || ht != saleHT || ttc != saleTTC || cash != saleTTC {
				t.Errorf("refunds gave back VAT %d HT %d TTC %d cash %d; sale had VAT %d HT %d TTC %d", vat, ht, ttc, cash, saleVAT, saleHT, saleTTC)
			}
			if !r.isBookCurrency(tt.ch.Currency) && own > tt.ch.Amount {
				t.Errorf("refunds carry %d %s, more than the charge's %d", own, tt.ch.Currency, tt.ch.Amount)
			}
		})
	}
}

func TestZeroDecimalJPY(t *testing.T) {
	r := DefaultRules()
	ch := Charge{ID: "ch_jpy", Created: saleTime, Currency: "jpy", Amount: 5000, CustomerID: "cus_J", VATRate: 1000, BookAmount: 3100}
	checkEntry(t, mustOf(t)(r.Sale(ch)), "ch_jpy:sale", "VTE", "2026-03-14",
		d("411000", 3100).tiers("cus_J").in("JPY", 5000), c("707000", 2818), c("445712", 282))
	entries, err := r.Refund(ch, 0, 1000, Refund{ID: "re_j", Created: refundTime})
	if err != nil {
		t.Fatal(err)
	}
	// book(1000) = 1000 × 3100 / 5000 = 620; TVA(620) at 10 % = 56.36 → 56
	checkEntry(t, entries[0], "ch_jpy:refund:1000", "VTE", "2026-03-20",
		d("707000", 564), d("445712", 56), c("411000", 620).tiers("cus_J").in("JPY", 1000))
	checkEntry(t, entries[1], "ch_jpy:refund:1000:cash", "STR", "2026-03-20",
		d("411000", 620).tiers("cus_J").in("JPY", 1000), c("517100", 620))
	if got := FormatAmount(ch.Amount, ch.Currency); got != "5000 JPY" {
		t.Errorf("FormatAmount = %q", got)
	}
}

func TestZeroRateHasNoVATLine(t *testing.T) {
	r := DefaultRules()
	ch := euroCharge()
	ch.VATRate = 0
	checkEntry(t, mustOf(t)(r.Sale(ch)), "ch_1:sale", "VTE", "2026-03-14",
		d("411000", 12000).tiers("cus_Q1"), c("707000", 12000))
	entries, err := r.Refund(ch, 0, 5000, Refund{Created: refundTime})
	if err != nil {
		t.Fatal(err)
	}
	checkEntry(t, entries[0], "ch_1:refund:5000", "VTE", "2026-03-20",
		d("707000", 5000), c("411000", 5000).tiers("cus_Q1"))
	dsp := Dispute{ID: "du_0", Charge: ch, Amount: 12000, Currency: "eur", Closed: refundTime}
	checkEntry(t, mustOf(t)(r.DisputeLost(dsp)), "du_0:lost", "VTE", "2026-03-20",
		d("707000", 12000), c("416000", 12000).tiers("cus_Q1"))
}

func TestZeroFeeHasNoFeeLine(t *testing.T) {
	r := DefaultRules()
	bt := BalanceTransaction{ID: "txn_0", Created: settleTime, Currency: "eur", Amount: 12000, Net: 12000}
	checkEntry(t, mustOf(t)(r.Settlement(euroCharge(), bt)), "ch_1:settlement", "STR", "2026-03-16",
		d("517100", 12000), c("411000", 12000).tiers("cus_Q1"))
}

func TestConfiguredAccountsAreUsed(t *testing.T) {
	r := DefaultRules()
	r.Accounts = Accounts{
		Customers: "4110001", DisputedCustomers: "4160001", Sales: "706000", SalesRefunds: "709000",
		VAT: "445710", VATByRate: map[int]string{550: "445711"},
		Fees: "622000", StripeBalance: "517000", StripeBalanceByCurrency: map[string]string{"EUR": "517001", "USD": "517002"},
		Transit: "581000", Bank: "512100", ExchangeLoss: "656100", ExchangeGain: "756100", BadDebt: "654100",
	}
	r.Journals = Journals{Sales: "VT", Stripe: "STRP", Bank: "BQ2"}
	if err := r.Validate(); err != nil {
		t.Fatal(err)
	}
	ch := euroCharge()
	checkEntry(t, mustOf(t)(r.Sale(ch)), "ch_1:sale", "VT", "2026-03-14",
		d("4110001", 12000).tiers("cus_Q1"), c("706000", 10000), c("445710", 2000))
	ch.VATRate = 550
	checkEntry(t, mustOf(t)(r.Sale(ch)), "ch_1:sale", "VT", "2026-03-14",
		d("4110001", 12000).tiers("cus_Q1"), c("706000", 11374), c("445711", 626))
	refunds, err := r.Refund(ch, 0, 12000, Refund{Created: refundTime})
	if err != nil {
		t.Fatal(err)
	}
	checkEntry(t, refunds[0], "ch_1:refund:12000", "VT", "2026-03-20",
		d("709000", 11374), d("445711", 626), c("4110001", 12000).tiers("cus_Q1"))
	checkEntry(t, refunds[1], "ch_1:refund:12000:cash", "STRP", "2026-03-20",
		d("4110001", 12000).tiers("cus_Q1"), c("517001", 12000))
	bt := BalanceTransaction{ID: "txn_1", Created: settleTime, Currency: "eur", Amount: 12000, Fee: 205, Net: 11795}
	checkEntry(t, mustOf(t)(r.Settlement(ch, bt)), "ch_1:settlement", "STRP", "2026-03-16",
		d("517001", 11795), d("622000", 205), c("4110001", 12000).tiers("cus_Q1"))
	// A USD payout from the USD balance, converted by the caller.
	p := Payout{ID: "po_u", Amount: 5000, Currency: "usd", ArrivalDate: settleTime, BookAmount: 4600}
	checkEntry(t, mustOf(t)(r.Payout(p)), "po_u:payout", "BQ2", "2026-03-16",
		d("512100", 4600).in("USD", 5000), c("517002", 4600).in("USD", 5000))
	dsp := Dispute{ID: "du_c", Charge: euroCharge(), Amount: 12000, Currency: "eur",
		BalanceTransactions: []BalanceTransaction{{ID: "txn_w", Created: settleTime, Currency: "eur", Amount: -12000, Fee: 1500, Net: -13500}}}
	checkEntry(t, mustOf(t)(r.DisputeWithdrawn(dsp)), "du_c:withdrawn", "STRP", "2026-03-16",
		d("4160001", 12000).tiers("cus_Q1"), d("622000", 1500), c("517001", 13500))
	checkEntry(t, mustOf(t)(r.DisputeLost(dsp)), "du_c:lost", "VT", "2026-03-16",
		d("706000", 10000), d("445710", 2000), c("4160001", 12000).tiers("cus_Q1"))
	r.LostDisputes = WriteOff
	checkEntry(t, mustOf(t)(r.DisputeLost(dsp)), "du_c:lost", "VT", "2026-03-16",
		d("654100", 12000), c("4160001", 12000).tiers("cus_Q1"))
	r.PayoutsToTransit = true
	checkEntry(t, mustOf(t)(r.Payout(Payout{ID: "po_t", Amount: 1, Currency: "eur", ArrivalDate: settleTime})), "po_t:payout", "BQ2", "2026-03-16",
		d("581000", 1), c("517001", 1))
	// ECB gap accounts.
	usd := Charge{ID: "ch_u", Created: saleTime, Currency: "usd", Amount: 12000, CustomerID: "cus_U", VATRate: 2000, BookAmount: 10900}
	btu := BalanceTransaction{ID: "txn_u", Created: settleTime, Currency: "eur", Amount: 10855, Fee: 378, Net: 10477}
	checkEntry(t, mustOf(t)(r.Settlement(usd, btu)), "ch_u:settlement", "STRP", "2026-03-16",
		d("517001", 10477), d("622000", 378), d("656100", 45), c("4110001", 10900).tiers("cus_U").in("USD", 12000))
	usd.BookAmount = 10800
	checkEntry(t, mustOf(t)(r.Settlement(usd, btu)), "ch_u:settlement", "STRP", "2026-03-16",
		d("517001", 10477), d("622000", 378), c("4110001", 10800).tiers("cus_U").in("USD", 12000), c("756100", 55))
}

func TestBookingErrors(t *testing.T) {
	r := DefaultRules()
	ch := euroCharge()
	bt := BalanceTransaction{ID: "txn_1", Created: settleTime, Currency: "eur", Amount: 12000, Fee: 205, Net: 11795}
	usd := Charge{ID: "ch_u", Created: saleTime, Currency: "usd", Amount: 12000, VATRate: 2000}
	bad := r
	bad.Accounts.Sales = ""
	tests := []struct {
		name string
		err  error
		want error
	}{
		{"refund of nothing", second(r.Refund(ch, 5000, 5000, Refund{Created: refundTime})), ErrBadRefund},
		{"refund going back", second(r.Refund(ch, 5000, 4000, Refund{Created: refundTime})), ErrBadRefund},
		{"refund over the charge", second(r.Refund(ch, 0, 12001, Refund{Created: refundTime})), ErrBadRefund},
		{"refund before negative", second(r.Refund(ch, -1, 100, Refund{Created: refundTime})), ErrBadRefund},
		{"refund without date", second(r.Refund(ch, 0, 100, Refund{ID: "re_1"})), ErrBadRefund},
		{"inconsistent net", second(r.Settlement(ch, BalanceTransaction{ID: "txn", Created: settleTime, Currency: "eur", Amount: 12000, Fee: 205, Net: 11800})), ErrInconsistentBalanceTransaction},
		{"settlement of another amount", second(r.Settlement(ch, BalanceTransaction{ID: "txn", Created: settleTime, Currency: "eur", Amount: 11000, Fee: 0, Net: 11000})), ErrInconsistentBalanceTransaction},
		{"settlement not in EUR", second(r.Settlement(ch, BalanceTransaction{ID: "txn", Created: settleTime, Currency: "usd", Amount: 12000, Fee: 0, Net: 12000})), ErrCurrencyMismatch},
		{"foreign sale without book amount", second(r.Sale(usd)), ErrCurrencyMismatch},
		{"foreign payout without balance account", second(r.Payout(Payout{ID: "po", Amount: 100, Currency: "usd", ArrivalDate: settleTime, BookAmount: 90})), ErrCurrencyMismatch},
		{"charge without id", second(r.Sale(Charge{Created: saleTime, Currency: "eur", Amount: 100})), ErrIncompleteFact},
		{"charge without amount", second(r.Sale(Charge{ID: "ch", Created: saleTime, Currency: "eur"})), ErrIncompleteFact},
		{"charge without date", second(r.Sale(Charge{ID: "ch", Currency: "eur", Amount: 100})), ErrIncompleteFact},
		{"charge at an impossible rate", second(r.Sale(Charge{ID: "ch", Created: saleTime, Currency: "eur", Amount: 100, VATRate: 10001})), ErrBadRate},
		{"payout of nothing", second(r.Payout(Payout{ID: "po", Currency: "eur", ArrivalDate: settleTime})), ErrIncompleteFact},
		{"dispute with inconsistent BT", second(r.DisputeWithdrawn(Dispute{ID: "du", Charge: ch, BalanceTransactions: []BalanceTransaction{{ID: "t", Created: settleTime, Currency: "eur", Amount: -100, Fee: 10, Net: -100}}})), ErrInconsistentBalanceTransaction},
		{"invalid rules", second(bad.Sale(ch)), ErrBadRules},
		{"1 yen refund", second(r.Refund(Charge{ID: "ch_j", Created: saleTime, Currency: "jpy", Amount: 5000, BookAmount: 3100}, 0, 1, Refund{Created: refundTime})), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.want == nil {
				if tt.err != nil {
					t.Errorf("err = %v, want nil", tt.err)
				}
				return
			}
			if !errors.Is(tt.err, tt.want) {
				t.Errorf("err = %v, want %v", tt.err, tt.want)
			}
		})
	}
	if _, err := r.Settlement(ch, bt); err != nil {
		t.Errorf("the reference settlement fails: %v", err)
	}
	// 1 JPY at 0.62 cents rounds to 1 cent; 1 JPY more on top does not move the total.
	if _, err := r.Refund(Charge{ID: "ch_j", Created: saleTime, Currency: "jpy", Amount: 5000, BookAmount: 3100}, 1, 2, Refund{Created: refundTime}); !errors.Is(err, ErrNothingToBook) {
		t.Errorf("refund 1→2 JPY: %v, want ErrNothingToBook", err)
	}
}

func second[T any](_ T, err error) error { return err }

func TestPieceRefAndTiers(t *testing.T) {
	ch := Charge{ID: "ch_1", InvoiceNumber: "F-2026-0042", CustomerID: "cus_1", Email: "a@example.com"}
	if got := ch.PieceRef(); got != "F-2026-0042" {
		t.Errorf("PieceRef = %q, want the invoice number", got)
	}
	ch.InvoiceNumber = strings.Repeat("X", 65)
	if got := ch.PieceRef(); got != "ch_1" {
		t.Errorf("PieceRef with a 65-character invoice number = %q, want the charge id", got)
	}
	if got := ch.Tiers(); got != (Tiers{Ref: "cus_1", Email: "a@example.com"}) {
		t.Errorf("Tiers = %+v", got)
	}
	ch.CustomerID = ""
	if got := ch.Tiers().Ref; got != "ch_1" {
		t.Errorf("Tiers.Ref without customer = %q, want the charge id", got)
	}
	r := DefaultRules()
	ch = euroCharge()
	ch.InvoiceNumber = "F-2026-0042"
	for _, e := range []Entry{mustOf(t)(r.Sale(ch)), mustOf(t)(r.Settlement(ch, BalanceTransaction{ID: "t", Created: settleTime, Currency: "eur", Amount: 12000, Net: 12000}))} {
		if e.PieceRef != "F-2026-0042" || !strings.Contains(e.Label, "ch_1") {
			t.Errorf("%s: piece %q label %q", e.Key, e.PieceRef, e.Label)
		}
	}
}

func TestBookTTC(t *testing.T) {
	if got := (Charge{Amount: 12000}).BookTTC(); got != 12000 {
		t.Errorf("book-currency BookTTC = %d", got)
	}
	if got := (Charge{Amount: 12000, Currency: "usd", BookAmount: 10855}).BookTTC(); got != 10855 {
		t.Errorf("foreign BookTTC = %d", got)
	}
}

func TestRebooked(t *testing.T) {
	r := DefaultRules()
	ch := euroCharge()
	ch.Created = time.Date(2025, 12, 31, 12, 0, 0, 0, time.UTC).Unix()
	sale := mustOf(t)(r.Sale(ch))
	moved := sale.Rebooked(day("2026-02-03"))
	if moved.Date != day("2026-02-03") || moved.Key != sale.Key || moved.Journal != sale.Journal || moved.PieceRef != sale.PieceRef {
		t.Errorf("Rebooked = %+v", moved)
	}
	if want := sale.Label + " (date d'origine 2025-12-31)"; moved.Label != want {
		t.Errorf("Rebooked label %q, want %q", moved.Label, want)
	}
	if fmt.Sprint(linesOf(moved)) != fmt.Sprint(linesOf(sale)) {
		t.Error("Rebooked changed the lines")
	}
	moved.Lines[0].Debit = 1
	if sale.Lines[0].Debit != 12000 {
		t.Error("Rebooked shares its lines with the original")
	}
	long := sale
	long.Label = strings.Repeat("é", 300)
	got := long.Rebooked(day("2026-02-03")).Label
	if utf8.RuneCountInString(got) != maxLabel || !strings.HasSuffix(got, "(date d'origine 2025-12-31)") {
		t.Errorf("long label rebooked to %d characters: %q", utf8.RuneCountInString(got), got)
	}
}

// Two different facts never share a key.
func TestKeysAreDistinct(t *testing.T) {
	r := DefaultRules()
	ch := euroCharge()
	bt := BalanceTransaction{ID: "txn_1", Created: settleTime, Currency: "eur", Amount: 12000, Fee: 205, Net: 11795}
	dsp := Dispute{ID: "du_1", Charge: ch, Amount: 12000, Currency: "eur", Closed: refundTime, BalanceTransactions: []BalanceTransaction{
		{ID: "w", Created: settleTime, Currency: "eur", Amount: -12000, Fee: 1500, Net: -13500},
		{ID: "r", Created: refundTime, Currency: "eur", Amount: 12000, Fee: -1500, Net: 13500},
	}}
	p := Payout{ID: "po_1", Amount: 100, Currency: "eur", ArrivalDate: settleTime}
	var all []Entry
	all = append(all, mustOf(t)(r.Sale(ch)), mustOf(t)(r.Settlement(ch, bt)))
	for _, step := range [][2]int64{{0, 5000}, {5000, 12000}} {
		es, err := r.Refund(ch, step[0], step[1], Refund{Created: refundTime})
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, es...)
	}
	all = append(all, mustOf(t)(r.Payout(p)), mustOf(t)(r.PayoutReversal(p)),
		mustOf(t)(r.DisputeWithdrawn(dsp)), mustOf(t)(r.DisputeReinstated(dsp)), mustOf(t)(r.DisputeLost(dsp)))
	seen := map[string]bool{}
	for _, e := range all {
		if seen[e.Key] {
			t.Errorf("key %s used twice", e.Key)
		}
		seen[e.Key] = true
	}
	if len(seen) != 11 {
		t.Errorf("%d keys, want 11", len(seen))
	}
}
