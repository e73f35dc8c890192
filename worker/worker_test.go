package worker

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/servolution/stripe-comptentra-sync/comptentra"
	"github.com/servolution/stripe-comptentra-sync/comptentra/comptentratest"
	"github.com/servolution/stripe-comptentra-sync/eventtask"
	"github.com/servolution/stripe-comptentra-sync/internal/stripeevent"
	"github.com/servolution/stripe-comptentra-sync/ledger"
)

// march10 is 2026-03-10 10:00 UTC, in the open fiscal year of the sandbox.
var march10 = time.Date(2026, 3, 10, 10, 0, 0, 0, time.UTC)

func openYears() []comptentra.FiscalYear {
	return []comptentra.FiscalYear{
		{ID: "ex_2025", DateDebut: "2025-01-01", DateFin: "2025-12-31", Statut: comptentra.StatutClos},
		{ID: "ex_2026", DateDebut: "2026-01-01", DateFin: "2026-12-31", Statut: comptentra.StatutOuvert},
	}
}

func charge(id string, amount int64) stripeevent.Charge {
	return stripeevent.Charge{
		ID: id, Amount: amount, Currency: "eur", Captured: true, Created: march10,
		Customer: "cus_" + id, Email: id + "@example.com", BalanceTransaction: "txn_" + id,
	}
}

func TestSaleIsBookedOnceWhateverTheDeliveries(t *testing.T) {
	for _, idempotency := range []bool{true, false} {
		t.Run(fmt.Sprintf("idempotency_keys=%v", idempotency), func(t *testing.T) {
			h := newHarness(t, comptentratest.Options{FiscalYears: openYears(), DisableIdempotency: !idempotency})
			h.start()
			ch := charge("ch_once", 12000)
			succeeded, captured := ch.Succeeded(march10), ch.CapturedEvent(march10)
			for i := 0; i < 3; i++ { // redeliveries of the same events
				h.deliver(succeeded, 5)
				h.deliver(captured, 5)
			}
			// The same fact under new event ids (a backfill, a replay past retention).
			h.deliver(ch.Succeeded(march10), 5)
			h.deliver(ch.CapturedEvent(march10), 5)
			h.waitIdle(20 * time.Second)

			got := h.entries("VTE")
			if len(got) != 1 {
				t.Fatalf("%d VTE entries, want 1: %+v", len(got), got)
			}
			e := got[0]
			want := []line{
				{"411000", 12000, 0, "cus_ch_once"},
				{"445712", 0, 2000, ""},
				{"707000", 0, 10000, ""},
			}
			if !reflect.DeepEqual(lines(e), want) {
				t.Errorf("lines %+v, want %+v", lines(e), want)
			}
			if e.Date != "2026-03-10" || e.PieceRef != "ch_once" || !strings.Contains(e.Libelle, "[ch_once:sale]") {
				t.Errorf("entry date %s piece %s libellé %q", e.Date, e.PieceRef, e.Libelle)
			}
			if n := len(h.sandbox.Entries()); n != 1 {
				t.Errorf("%d entries in all journals, want 1 (no Stripe API: no settlement)", n)
			}
		})
	}
}

func TestUncapturedChargeBooksNothingUntilCaptured(t *testing.T) {
	h := newHarness(t, comptentratest.Options{FiscalYears: openYears()})
	w := h.worker()
	ch := charge("ch_auth", 5000)
	ch.Captured, ch.BalanceTransaction = false, ""
	if err := h.handle(w, ch.Succeeded(march10)); err != nil {
		t.Fatal(err)
	}
	if n := len(h.sandbox.Entries()); n != 0 {
		t.Fatalf("uncaptured authorisation booked %d entries", n)
	}
	ch.Captured, ch.AmountCaptured = true, 4000 // partial capture
	if err := h.handle(w, ch.CapturedEvent(march10)); err != nil {
		t.Fatal(err)
	}
	got := h.entries("VTE")
	if len(got) != 1 || lines(got[0])[0] != (line{"411000", 4000, 0, "cus_ch_auth"}) {
		t.Fatalf("want one sale of the captured 40.00: %+v", got)
	}
}

// A crash (or a lost response) after Comptentra stored the entry but before the Redis
// record was written must not post a second entry, even when Comptentra ignores
// Idempotency-Key: commit_then_fail stores the entry and answers 502.
func TestLostResponseIsNotPostedTwice(t *testing.T) {
	for _, idempotency := range []bool{true, false} {
		t.Run(fmt.Sprintf("idempotency_keys=%v", idempotency), func(t *testing.T) {
			h := newHarness(t, comptentratest.Options{FiscalYears: openYears(), DisableIdempotency: !idempotency})
			h.sandbox.SetFaults(comptentratest.Faults{CommitThenFailRate: 1})
			w := h.worker()
			evt := charge("ch_lost", 12000).Succeeded(march10)
			err := h.handle(w, evt)
			var apiErr *comptentra.APIError
			if !errors.As(err, &apiErr) || apiErr.StatusCode != 502 {
				t.Fatalf("first attempt: %v, want the 502 of commit_then_fail", err)
			}
			if n := len(h.sandbox.Entries()); n != 1 {
				t.Fatalf("after commit_then_fail: %d entries, want 1 stored", n)
			}
			// The retry finds the stored entry by piece_ref and records it.
			if err := h.handle(w, evt); err != nil {
				t.Fatalf("retry: %v", err)
			}
			if n := len(h.sandbox.Entries()); n != 1 {
				t.Fatalf("after retry: %d entries, want 1", n)
			}
			id, _ := w.handler.poster.posted(context.Background(), "ch_lost:sale")
			if id != h.sandbox.Entries()[0].ID {
				t.Errorf("record %q, want the stored entry %q", id, h.sandbox.Entries()[0].ID)
			}
		})
	}
}

// Two workers processing two events of the same fact at the same moment post it once.
func TestConcurrentWorkersPostOnce(t *testing.T) {
	h := newHarness(t, comptentratest.Options{FiscalYears: openYears(), DisableIdempotency: true})
	h.sandbox.SetFaults(comptentratest.Faults{LatencyMS: 100})
	w1, w2 := h.worker(), h.worker()
	ch := charge("ch_race", 9900)
	for round := 0; round < 5; round++ {
		ch.ID = fmt.Sprintf("ch_race%d", round)
		a, b := ch.Succeeded(march10), ch.CapturedEvent(march10)
		var wg sync.WaitGroup
		errs := make([]error, 2)
		wg.Add(2)
		go func() { defer wg.Done(); errs[0] = h.handle(w1, a) }()
		go func() { defer wg.Done(); errs[1] = h.handle(w2, b) }()
		wg.Wait()
		for _, err := range errs {
			if err != nil && !errors.Is(err, ErrBusy) {
				t.Fatal(err)
			}
		}
	}
	if n := len(h.entries("VTE")); n != 5 {
		t.Fatalf("%d sales for 5 charges each processed twice at once, want 5", n)
	}
}

func TestTemporaryFailuresAreRetried(t *testing.T) {
	h := newHarness(t, comptentratest.Options{FiscalYears: openYears(), Seed: 7})
	h.sandbox.SetFaults(comptentratest.Faults{ErrorRate: 0.4, ErrorStatus: 503, RateLimitRate: 0.2, RetryAfterS: 1})
	h.start()
	for i := 0; i < 10; i++ {
		h.deliver(charge(fmt.Sprintf("ch_retry%d", i), int64(1000+i)).Succeeded(march10), 25)
	}
	h.waitIdle(60 * time.Second)
	if n := len(h.entries("VTE")); n != 10 {
		t.Fatalf("%d sales, want 10", n)
	}
	st := h.sandbox.Stats()
	if len(st.Rejections) == 0 {
		t.Errorf("no fault was injected (stats %+v): the test proves nothing", st)
	}
	list, err := NewFailureStore(h.r.Client, h.r.Prefix).List(context.Background())
	if err != nil || len(list) != 0 {
		t.Errorf("failure record %v %v, want empty", list, err)
	}
}

// An account missing from the chart is a permanent failure: archived at once, recorded
// with Comptentra's code and the setting to fix; once fixed, a retry books it.
func TestMissingAccountIsArchivedAndRetriable(t *testing.T) {
	h := newHarness(t, comptentratest.Options{FiscalYears: openYears()})
	h.cfg.Rules.Accounts.Sales = "708500" // not in the sandbox chart
	h.cfg.Rules.Accounts.SalesRefunds = "708500"
	_, stopBad := h.startStoppable()
	evt := charge("ch_badacct", 12000).Succeeded(march10)
	h.deliver(evt, 10)
	info := h.waitIdle(20 * time.Second)
	if info.Archived != 1 {
		t.Fatalf("archived %d, want 1", info.Archived)
	}
	store := NewFailureStore(h.r.Client, h.r.Prefix)
	f, err := store.Get(context.Background(), evt.ID)
	if err != nil {
		t.Fatal(err)
	}
	if f.Code != comptentra.CodeCompteInconnu || f.Retried != 0 {
		t.Errorf("failure code %q after %d retries, want compte_inconnu without retries", f.Code, f.Retried)
	}
	if !strings.Contains(f.Error, "ACCOUNT_SALES") || !strings.Contains(f.Error, "708500") {
		t.Errorf("failure does not name the setting and account: %s", f.Error)
	}
	if !strings.Contains(h.logs.String(), evt.ID) || !strings.Contains(h.logs.String(), `"comptentra_code":"compte_inconnu"`) {
		t.Errorf("log lacks the event id or Comptentra's code:\n%s", h.logs)
	}

	// The operator fixes the mapping and retries: the worker restarted with the right chart.
	stopBad()
	fixed := newHarnessFrom(h)
	fixed.cfg.Rules = ledger.DefaultRules()
	fixed.start()
	if err := store.Retry(context.Background(), h.insp, h.client, evt.ID, eventtask.Options{Queue: h.r.Queue}); err != nil {
		t.Fatal(err)
	}
	fixed.waitIdle(20 * time.Second)
	if n := len(h.entries("VTE")); n != 1 {
		t.Fatalf("%d sales after the retry, want 1", n)
	}
	if _, err := store.Get(context.Background(), evt.ID); !errors.Is(err, ErrUnknownFailure) {
		t.Errorf("failure still recorded after a successful retry: %v", err)
	}
}

// newHarnessFrom shares h's Redis and sandbox with a new worker configuration.
func newHarnessFrom(h *harness) *harness {
	c := *h
	return &c
}

func TestClosedFiscalYearIsBookedToday(t *testing.T) {
	h := newHarness(t, comptentratest.Options{FiscalYears: openYears()})
	h.cfg.Now = func() time.Time { return time.Date(2026, 2, 3, 9, 0, 0, 0, time.UTC) }
	w := h.worker()
	ch := charge("ch_late", 6000)
	ch.Created = time.Date(2025, 12, 31, 23, 30, 0, 0, time.UTC) // 2026-01-01 in Paris: open year
	if err := h.handle(w, ch.Succeeded(ch.Created)); err != nil {
		t.Fatal(err)
	}
	ch2 := charge("ch_closed", 6000)
	ch2.Created = time.Date(2025, 12, 30, 12, 0, 0, 0, time.UTC) // closed year
	if err := h.handle(w, ch2.Succeeded(ch2.Created)); err != nil {
		t.Fatal(err)
	}
	got := h.entries("VTE")
	if len(got) != 2 {
		t.Fatalf("%d entries, want 2", len(got))
	}
	if got[0].Date != "2026-01-01" {
		t.Errorf("23:30 UTC on 31 December booked on %s, want 2026-01-01 (Paris)", got[0].Date)
	}
	if got[1].Date != "2026-02-03" || !strings.Contains(got[1].Libelle, "2025-12-30") {
		t.Errorf("closed-year sale booked on %s with %q, want today 2026-02-03 naming 2025-12-30", got[1].Date, got[1].Libelle)
	}
}

func TestRefundsPayoutsAndDisputes(t *testing.T) {
	h := newHarness(t, comptentratest.Options{FiscalYears: openYears()})
	w := h.worker()
	ch := charge("ch_full", 12000)
	// Out of order on purpose: the second refund and the dispute before the sale.
	ch.AmountRefunded = 12000
	second := ch.Refunded(5000, march10.Add(2*time.Hour))
	ch.AmountRefunded = 5000
	first := ch.Refunded(0, march10.Add(time.Hour))
	ch.AmountRefunded = 0
	sale := ch.Succeeded(march10)

	d := stripeevent.Dispute{ID: "du_1", Charge: "ch_disp", Amount: 12000, Status: "lost", Created: march10,
		Transactions: []stripeevent.DisputeTransaction{{ID: "txn_du1", Amount: -12000, Fee: 1500, Created: march10}}}
	dispute := d.Event("closed", march10.Add(24*time.Hour))
	if err := h.handle(w, dispute); !errors.Is(err, ErrWaitingForCharge) {
		t.Fatalf("dispute before its charge: %v, want ErrWaitingForCharge (retried)", err)
	}

	for _, e := range []stripeevent.Event{second, first, sale, first, charge("ch_disp", 12000).Succeeded(march10), dispute, dispute} {
		if err := h.handle(w, e); err != nil {
			t.Fatalf("%s: %v", e.Type, err)
		}
	}
	p := stripeevent.Payout{ID: "po_1", Amount: 6795, Created: march10, ArrivalDate: time.Date(2026, 3, 18, 0, 0, 0, 0, time.UTC), Status: "paid"}
	if err := h.handle(w, p.Event(march10)); err != nil {
		t.Fatal(err)
	}
	failed := p
	failed.Status = "failed"
	if err := h.handle(w, failed.Event(march10)); err != nil {
		t.Fatal(err)
	}

	keys := map[string]int{}
	for _, e := range h.sandbox.Entries() {
		i := strings.LastIndex(e.Libelle, "[")
		keys[strings.TrimSuffix(e.Libelle[i+1:], "]")]++
	}
	want := map[string]int{
		"ch_full:sale": 1, "ch_full:refund:5000": 1, "ch_full:refund:5000:cash": 1,
		"ch_full:refund:12000": 1, "ch_full:refund:12000:cash": 1,
		"ch_disp:sale": 1, "du_1:withdrawn": 1, "du_1:lost": 1,
		"po_1:payout": 1, "po_1:payout:reversal": 1,
	}
	if !reflect.DeepEqual(keys, want) {
		t.Fatalf("entries by key %v, want %v", keys, want)
	}
	bal := h.sandbox.TrialBalance()
	// The fully refunded sale gives back all its VAT; the lost dispute reverses its sale.
	if bal["445712"] != 0 || bal["707000"] != 0 {
		t.Errorf("VAT %d, sales %d after a full refund and a lost dispute, want 0 and 0", bal["445712"], bal["707000"])
	}
	// Without a Stripe API key no settlement credits 411: both sales stay receivable.
	if bal["411000"] != 24000 || bal["416000"] != 0 {
		t.Errorf("customers 411 %d, 416 %d, want 24000 and 0", bal["411000"], bal["416000"])
	}
	// Stripe balance: −12000 refunded, −13500 withdrawn, payout reversed (0).
	if bal["517100"] != -12000-13500 {
		t.Errorf("517100 = %d, want %d", bal["517100"], -12000-13500)
	}
}

// A payout.failed processed before its payout.paid still ends with both entries.
func TestPayoutFailedBeforePaid(t *testing.T) {
	h := newHarness(t, comptentratest.Options{FiscalYears: openYears()})
	w := h.worker()
	p := stripeevent.Payout{ID: "po_2", Amount: 1000, Created: march10, ArrivalDate: march10, Status: "failed"}
	if err := h.handle(w, p.Event(march10)); err != nil {
		t.Fatal(err)
	}
	if n := len(h.sandbox.Entries()); n != 0 {
		t.Fatalf("failed unpaid payout booked %d entries", n)
	}
	p.Status = "paid"
	if err := h.handle(w, p.Event(march10)); err != nil {
		t.Fatal(err)
	}
	if n := len(h.entries("BQ")); n != 2 {
		t.Fatalf("%d BQ entries, want the payout and its reversal", n)
	}
	if bal := h.sandbox.TrialBalance(); bal["512000"] != 0 || bal["517100"] != 0 {
		t.Errorf("balances 512000 %d 517100 %d, want 0", bal["512000"], bal["517100"])
	}
}

func TestUndecodableEventIsPermanent(t *testing.T) {
	h := newHarness(t, comptentratest.Options{FiscalYears: openYears()})
	w := h.worker()
	err := w.handler.HandleStripeEventTask(context.Background(), asynq.NewTask(eventtask.TypeStripeEvent, []byte(`{"id": 3`)))
	if !errors.Is(err, asynq.SkipRetry) || !errors.Is(err, ErrPermanent) {
		t.Fatalf("got %v, want a permanent SkipRetry error", err)
	}
	bad := charge("ch_badvat", 1000)
	bad.VATRate = "vingt"
	err = h.handle(w, bad.Succeeded(march10))
	if !errors.Is(err, asynq.SkipRetry) || !strings.Contains(err.Error(), "vat_rate") {
		t.Fatalf("bad metadata vat_rate: %v, want a permanent error naming vat_rate", err)
	}
}

func TestRetryDelay(t *testing.T) {
	w := &Worker{cfg: Config{RetryBase: time.Second, RetryMax: time.Minute}}
	for _, tc := range []struct {
		name     string
		n        int
		err      error
		min, max time.Duration
	}{
		{"first", 0, errors.New("x"), 500 * time.Millisecond, time.Second},
		{"grows", 4, errors.New("x"), 8 * time.Second, 16 * time.Second},
		{"capped", 20, errors.New("x"), 30 * time.Second, time.Minute},
		{"retry-after wins", 0, &comptentra.APIError{StatusCode: 429, Code: "rate_limited", RetryAfter: 7 * time.Second}, 7 * time.Second, 7 * time.Second},
		{"busy is quick", 9, fmt.Errorf("w: %w", ErrBusy), time.Second, time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for i := 0; i < 50; i++ {
				d := w.retryDelay(tc.n, tc.err, nil)
				if d < tc.min || d > tc.max {
					t.Fatalf("retryDelay(%d) = %s, want within [%s, %s]", tc.n, d, tc.min, tc.max)
				}
			}
		})
	}
}

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		mod  func(*Config)
		want string
	}{
		{"task timeout above shutdown", func(c *Config) { c.TaskTimeout, c.ShutdownTimeout = time.Minute, time.Second }, "WORKER_TASK_TIMEOUT"},
		{"unknown rate source", func(c *Config) { c.RateSource = "bce" }, "FX_RATE_SOURCE"},
		{"ecb without source", func(c *Config) { c.RateSource = RateSourceECB }, "ECB"},
		{"bad account", func(c *Config) { c.Rules.Accounts.Fees = "frais" }, "fees"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := Config{Rules: ledger.DefaultRules()}
			tc.mod(&c)
			err := c.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Validate() = %v, want an error naming %s", err, tc.want)
			}
		})
	}
	if err := (Config{Rules: ledger.DefaultRules()}).Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
}
