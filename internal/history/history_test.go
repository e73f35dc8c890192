package history

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/servolution/stripe-comptentra-sync/internal/stripeevent"
	"github.com/servolution/stripe-comptentra-sync/ledger"
)

func eventsJSON(h History) []byte {
	var b bytes.Buffer
	for _, e := range h.Events {
		b.Write(e.JSON())
		b.WriteByte('\n')
	}
	return b.Bytes()
}

func TestDeterministic(t *testing.T) {
	for _, seed := range []uint64{0, 1, 42} {
		a, b := Generate(Options{Seed: seed, Charges: 80}), Generate(Options{Seed: seed, Charges: 80})
		if !bytes.Equal(eventsJSON(a), eventsJSON(b)) {
			t.Errorf("seed %d: events differ between two generations", seed)
		}
		if !bytes.Equal(bytes.Join(a.BalanceTransactions, nil), bytes.Join(b.BalanceTransactions, nil)) {
			t.Errorf("seed %d: balance transactions differ", seed)
		}
		if fmt.Sprint(a.Expected) != fmt.Sprint(b.Expected) {
			t.Errorf("seed %d: expected books differ", seed)
		}
		da, db := a.Deliveries(seed, 0.3), b.Deliveries(seed, 0.3)
		if len(da) != len(db) {
			t.Fatalf("seed %d: deliveries differ", seed)
		}
		for i := range da {
			if da[i].ID != db[i].ID {
				t.Fatalf("seed %d: delivery %d is %s then %s", seed, i, da[i].ID, db[i].ID)
			}
		}
	}
	if bytes.Equal(eventsJSON(Generate(Options{Seed: 1, Charges: 20})), eventsJSON(Generate(Options{Seed: 2, Charges: 20}))) {
		t.Error("seeds 1 and 2 give the same history")
	}
}

type chargeObj struct {
	ID                 string `json:"id"`
	Amount             int64  `json:"amount"`
	AmountCaptured     int64  `json:"amount_captured"`
	AmountRefunded     int64  `json:"amount_refunded"`
	Captured           bool   `json:"captured"`
	Currency           string `json:"currency"`
	BalanceTransaction string `json:"balance_transaction"`
}

func decode[T any](t *testing.T, v any) T {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out T
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

type btObj struct {
	ID           string   `json:"id"`
	Amount       int64    `json:"amount"`
	Fee          int64    `json:"fee"`
	Net          int64    `json:"net"`
	Currency     string   `json:"currency"`
	Source       string   `json:"source"`
	ExchangeRate *float64 `json:"exchange_rate"`
	Created      int64    `json:"created"`
}

func TestInvariants(t *testing.T) {
	for seed := uint64(0); seed < 20; seed++ {
		h := Generate(Options{Seed: seed, Charges: 150})
		checkInvariants(t, seed, h)
	}
}

func checkInvariants(t *testing.T, seed uint64, h History) {
	t.Helper()
	fail := func(format string, args ...any) {
		t.Helper()
		t.Errorf("seed %d: "+format, append([]any{seed}, args...)...)
	}
	ids := map[string]bool{}
	captured := map[string]chargeObj{}
	for _, c := range h.Charges {
		if c.Captured {
			captured[c.ID] = decode[chargeObj](t, c.Object())
		}
	}
	last := time.Time{}
	yearStart := time.Date(2026, 1, 1, 0, 0, 0, 0, ledger.Paris)
	yearEnd := time.Date(2027, 1, 1, 0, 0, 0, 0, ledger.Paris)
	refunded := map[string]int64{}
	for _, e := range h.Events {
		if ids[e.ID] {
			fail("event id %s twice", e.ID)
		}
		ids[e.ID] = true
		if e.Created.Before(last) {
			fail("event %s at %s before the previous one at %s", e.ID, e.Created, last)
		}
		last = e.Created
		if e.Created.Before(yearStart) || !e.Created.Before(yearEnd) {
			fail("event %s at %s outside 2026", e.ID, e.Created)
		}
		if e.Type == "payout.paid" || e.Type == "payout.failed" {
			if a := time.Unix(int64(decode[struct {
				A int64 `json:"arrival_date"`
			}](t, e.Object).A), 0); a.Before(yearStart) || !a.Before(yearEnd) {
				fail("payout arrival %s outside 2026", a)
			}
		}
		if e.Type != "charge.refunded" {
			continue
		}
		c := decode[chargeObj](t, e.Object)
		before := int64(e.Previous["amount_refunded"].(int64))
		if before != refunded[c.ID] {
			fail("%s: refund from %d, but %d refunded so far", c.ID, before, refunded[c.ID])
		}
		if c.AmountRefunded <= before || c.AmountRefunded > c.AmountCaptured || !c.Captured {
			fail("%s: refunded %d → %d of %d captured", c.ID, before, c.AmountRefunded, c.AmountCaptured)
		}
		refunded[c.ID] = c.AmountRefunded
	}
	for id, r := range refunded {
		if captured[id].AmountRefunded != r {
			fail("%s: final state says %d refunded, events %d", id, captured[id].AmountRefunded, r)
		}
	}
	if len(h.BalanceTransactions) != len(captured) {
		fail("%d balance transactions for %d captured charges", len(h.BalanceTransactions), len(captured))
	}
	for _, raw := range h.BalanceTransactions {
		var bt btObj
		if err := json.Unmarshal(raw, &bt); err != nil {
			t.Fatal(err)
		}
		c, ok := captured[bt.Source]
		switch {
		case !ok || c.BalanceTransaction != bt.ID:
			fail("balance transaction %s of %s matches no captured charge", bt.ID, bt.Source)
		case bt.Currency != "eur" || bt.Amount <= 0 || bt.Fee < 0 || bt.Fee > bt.Amount || bt.Amount-bt.Fee != bt.Net:
			fail("balance transaction %+v", bt)
		case c.Currency == "eur" && (bt.Amount != c.AmountCaptured || bt.ExchangeRate != nil):
			fail("EUR charge %s of %d settled %d (rate %v)", c.ID, c.AmountCaptured, bt.Amount, bt.ExchangeRate)
		case c.Currency != "eur" && bt.ExchangeRate == nil:
			fail("%s charge %s settled without exchange rate", c.Currency, c.ID)
		}
	}

	x := h.Expected
	var sum, recv int64
	for _, v := range x.Accounts {
		sum += v
	}
	for _, v := range x.Receivables {
		recv += v
	}
	if sum != 0 {
		fail("expected trial balance sums to %d", sum)
	}
	if x.Accounts["517100"] != x.StripeBalance || -x.Accounts["445712"] != x.VAT || x.Accounts["411000"]+x.Accounts["416000"] != recv {
		fail("expected figures disagree: %+v", x)
	}
	if x.Accounts["411000"] != 0 {
		fail("411000 at %d: every sale is settled", x.Accounts["411000"])
	}
	for k, v := range x.Keys {
		if v <= 0 {
			fail("key %s of total %d", k, v)
		}
		if ch, _, _ := strings.Cut(k, ":"); strings.HasPrefix(ch, "ch_") {
			if _, ok := captured[ch]; !ok {
				fail("key %s of a charge that is not captured", k)
			}
		}
	}
	for id := range captured {
		if _, ok := x.Keys[id+":sale"]; !ok {
			fail("captured charge %s has no sale", id)
		}
	}
}

// Enough variety for the property to mean something: over a few default histories,
// every kind of fact appears.
func TestCoverage(t *testing.T) {
	seen := map[string]int{}
	for seed := uint64(0); seed < 5; seed++ {
		h := Generate(Options{Seed: seed})
		for _, e := range h.Events {
			seen[e.Type]++
			switch e.Type {
			case "charge.refunded":
				if e.Object["refunded"] == true {
					seen["full refund"]++
				}
				if e.Previous["amount_refunded"].(int64) > 0 {
					seen["later refund step"]++
				}
			case "charge.succeeded":
				if e.Object["captured"] == false {
					seen["authorisation"]++
				}
				seen["currency "+e.Object["currency"].(string)]++
				if m := e.Object["metadata"].(map[string]any); m["vat_rate"] == nil {
					seen["no vat_rate"]++
				} else {
					seen["vat_rate "+m["vat_rate"].(string)]++
				}
			case "charge.dispute.closed":
				seen["dispute "+e.Object["status"].(string)]++
				if e.Object["currency"] != "eur" {
					seen["foreign dispute"]++
				}
			case "charge.dispute.funds_reinstated":
				bts := e.Object["balance_transactions"].([]map[string]any)
				if bts[len(bts)-1]["fee"].(int64) < 0 {
					seen["dispute fee returned"]++
				} else {
					seen["dispute fee kept"]++
				}
			}
		}
		for k := range h.Expected.Keys {
			if strings.HasSuffix(k, ":reversal") {
				seen["payout reversal"]++
			}
		}
		for _, v := range h.Expected.Receivables {
			if v != 0 {
				seen["open dispute"]++
			}
		}
	}
	for _, want := range []string{
		"charge.succeeded", "charge.captured", "charge.refunded", "authorisation", "full refund", "later refund step",
		"currency eur", "currency usd", "currency jpy", "no vat_rate", "vat_rate 20", "vat_rate 10", "vat_rate 5.5",
		"vat_rate 2.1", "vat_rate 0", "charge.dispute.created", "charge.dispute.funds_withdrawn",
		"charge.dispute.funds_reinstated", "dispute won", "dispute lost", "dispute warning_closed", "foreign dispute",
		"dispute fee returned", "dispute fee kept", "open dispute", "payout.paid", "payout.failed", "payout reversal",
	} {
		if seen[want] == 0 {
			t.Errorf("no %q in 5 default histories", want)
		}
	}
	t.Logf("%v", seen)
}

func TestDeliveries(t *testing.T) {
	h := Generate(Options{Seed: 7, Charges: 100})
	d := h.Deliveries(7, 0.3)
	count := map[string]int{}
	byID := map[string]stripeevent.Event{}
	for _, e := range h.Events {
		byID[e.ID] = e
	}
	for _, e := range d {
		orig, ok := byID[e.ID]
		if !ok {
			t.Fatalf("delivery of unknown event %s", e.ID)
		}
		if !bytes.Equal(orig.JSON(), e.JSON()) {
			t.Fatalf("redelivery of %s differs", e.ID)
		}
		count[e.ID]++
	}
	dups := 0
	for _, e := range h.Events {
		n := count[e.ID]
		if n < 1 || n > 4 {
			t.Errorf("event %s delivered %d times", e.ID, n)
		}
		if n > 1 {
			dups++
		}
	}
	if share := float64(dups) / float64(len(h.Events)); share < 0.2 || share > 0.4 {
		t.Errorf("%.2f of the events duplicated, want about 0.3", share)
	}
	inOrder := true
	for i := 1; i < len(d); i++ {
		if d[i].Created.Before(d[i-1].Created) {
			inOrder = false
		}
	}
	if inOrder {
		t.Error("deliveries are in order: not shuffled")
	}
	if n := len(h.Deliveries(1, 0)); n != len(h.Events) {
		t.Errorf("no duplicates: %d deliveries of %d events", n, len(h.Events))
	}
}

// The conversion of the generator agrees with the ledger's (worked example 5, JPY).
func TestToEUR(t *testing.T) {
	for _, tt := range []struct {
		amount   int64
		currency string
		digits   int64
		scale    int
		want     int64
	}{
		{12000, "usd", 904583, 6, 10855},
		{5000, "jpy", 620000, 8, 3100},
		{1, "jpy", 550000, 8, 1},
		{3, "usd", 850000, 6, 3},
		{500000, "usd", 950000, 6, 475000},
	} {
		rate := rateString(tt.digits, tt.scale)
		got := toEUR(tt.amount, tt.currency, tt.digits, tt.scale)
		ref, err := ledger.Convert(tt.amount, tt.currency, rate, "eur")
		if err != nil {
			t.Fatal(err)
		}
		if got != tt.want || ref != tt.want {
			t.Errorf("%d %s at %s: %d (ledger %d), want %d", tt.amount, tt.currency, rate, got, ref, tt.want)
		}
	}
	if s := rateString(620000, 8); s != "0.00620000" {
		t.Errorf("rateString = %s", s)
	}
}
