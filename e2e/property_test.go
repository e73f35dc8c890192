package e2e

// The reconciliation property: after a month of Stripe activity, the books agree with
// Stripe to the cent. Random histories (internal/history) are delivered through the
// whole pipeline — signed webhooks posted to ingest over HTTP, duplicated and shuffled,
// queued in Redis, booked by the worker (with its Stripe API on a fake Stripe serving the
// balance transactions) into the Comptentra sandbox — and the books are compared with
// what the history says they must hold, computed independently of the worker.
//
// The default run is small (3 histories × 60 charges). The large run:
//
//	PROPERTY_HISTORIES=1000 PROPERTY_CHARGES=300 go test -run TestReconciliationProperty -timeout 2h ./e2e
//
// PROPERTY_SEED sets the first seed (default 1; history i uses seed PROPERTY_SEED+i), so
// a failure is replayed with the seed it prints:
//
//	PROPERTY_SEED=<seed> PROPERTY_HISTORIES=1 PROPERTY_CHARGES=<n> go test -run TestReconciliationProperty -v ./e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/servolution/stripe-comptentra-sync/comptentra/comptentratest"
	"github.com/servolution/stripe-comptentra-sync/ingest"
	"github.com/servolution/stripe-comptentra-sync/internal/history"
	"github.com/servolution/stripe-comptentra-sync/internal/redistest"
	"github.com/servolution/stripe-comptentra-sync/stripeapi"
	"github.com/servolution/stripe-comptentra-sync/stripeapi/stripetest"
)

func envInt(tb testing.TB, name string, def int) int {
	tb.Helper()
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		tb.Fatalf("%s=%q: want a non-negative integer", name, s)
	}
	return n
}

func TestReconciliationProperty(t *testing.T) {
	histories := envInt(t, "PROPERTY_HISTORIES", 3)
	charges := envInt(t, "PROPERTY_CHARGES", 60)
	first := uint64(envInt(t, "PROPERTY_SEED", 1))
	for i := range histories {
		seed := first + uint64(i)
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			t.Parallel()
			h := history.Generate(history.Options{Seed: seed, Charges: charges})
			checkReconciliation(t, h, seed)
			if t.Failed() {
				t.Logf("reproduce: PROPERTY_SEED=%d PROPERTY_HISTORIES=1 PROPERTY_CHARGES=%d go test -run TestReconciliationProperty -v ./e2e", seed, charges)
			}
		})
	}
}

// propertyStack is sandbox + ingest + worker on one test's Redis, with the worker's
// Stripe API on the fake Stripe.
func propertyStack(t *testing.T, fake *stripetest.Server) (*stack, *redistest.Redis) {
	t.Helper()
	r := redistest.New(t)
	api, err := stripeapi.New(stripeapi.Config{APIKey: fake.APIKey(), BaseURL: fake.URL()})
	if err != nil {
		t.Fatal(err)
	}
	return newStack(t, r.URL, r.Queue, r.Prefix, api), r
}

// deliver posts every delivery, signed, with a few concurrent senders.
func deliver(t *testing.T, s *stack, h history.History, seed uint64) {
	t.Helper()
	deliveries := h.Deliveries(seed, 0.3)
	var mu sync.Mutex
	var errs []string
	var wg sync.WaitGroup
	next := make(chan int)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				e := deliveries[i]
				body := e.JSON()
				req, _ := http.NewRequest(http.MethodPost, s.ingest.URL+"/stripe-webhook", strings.NewReader(string(body)))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Stripe-Signature", ingest.SignPayload(body, secret, time.Now()))
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					mu.Lock()
					errs = append(errs, fmt.Sprintf("%s %s: %v", e.ID, e.Type, err))
					mu.Unlock()
					continue
				}
				answer, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					mu.Lock()
					errs = append(errs, fmt.Sprintf("%s %s: ingest answered %d %s", e.ID, e.Type, resp.StatusCode, answer))
					mu.Unlock()
				}
			}
		}()
	}
	for i := range deliveries {
		next <- i
	}
	close(next)
	wg.Wait()
	if len(errs) > 0 {
		t.Fatalf("%d deliveries refused, first: %s", len(errs), errs[0])
	}
}

// keyOf is the business key the worker puts at the end of the libellé ("… [ch_X:sale]").
func keyOf(libelle string) string {
	i := strings.LastIndex(libelle, "[")
	if i < 0 || !strings.HasSuffix(libelle, "]") {
		return ""
	}
	return libelle[i+1 : len(libelle)-1]
}

func checkReconciliation(t *testing.T, h history.History, seed uint64) {
	fake := stripetest.NewServer(t)
	for _, bt := range h.BalanceTransactions {
		fake.AddBalanceTransactionJSON(bt)
	}
	for _, c := range h.Charges {
		// A dispute processed before its charge's events reads the charge from the API.
		fake.AddChargeJSON(mustJSON(t, c.Object()))
	}
	s, r := propertyStack(t, fake)
	start := time.Now()
	deliver(t, s, h, seed)
	s.waitIdle(t, r.Queue, 60*time.Second+time.Duration(len(h.Events))*100*time.Millisecond)
	t.Logf("%d charges, %d events, %d expected entries booked in %s", len(h.Charges), len(h.Events), len(h.Expected.Keys), time.Since(start).Round(time.Millisecond))

	const maxReport = 10
	report := func(what string, lines []string) {
		t.Helper()
		if len(lines) == 0 {
			return
		}
		slices.Sort(lines)
		more := ""
		if len(lines) > maxReport {
			more = fmt.Sprintf("\n\t… and %d more", len(lines)-maxReport)
			lines = lines[:maxReport]
		}
		t.Errorf("seed %d: %s:\n\t%s%s", seed, what, strings.Join(lines, "\n\t"), more)
	}

	// No event may end in the archive.
	if info, err := s.insp.GetQueueInfo(r.Queue); err != nil {
		t.Fatal(err)
	} else if info.Archived > 0 {
		var lines []string
		if tasks, err := s.insp.ListArchivedTasks(r.Queue, asynq.PageSize(maxReport)); err == nil {
			for _, task := range tasks {
				lines = append(lines, fmt.Sprintf("%s: %s", task.ID, task.LastErr))
			}
		}
		report(fmt.Sprintf("%d archived tasks", info.Archived), lines)
	}

	// Every expected key exactly once with its total, nothing else, every entry balanced.
	entries := s.sandbox.Entries()
	got := map[string][]int64{}
	gotLines := map[string]map[string]int64{}
	gotDates := map[string]string{}
	var unbalanced, unexpected, missing, wrong, twice []string
	for _, e := range entries {
		var d, c int64
		for _, l := range e.Lignes {
			if (l.DebitCents > 0) == (l.CreditCents > 0) || l.DebitCents < 0 || l.CreditCents < 0 {
				unbalanced = append(unbalanced, fmt.Sprintf("%s %s: line %s debit %d credit %d", e.Numero, e.Libelle, l.Compte, l.DebitCents, l.CreditCents))
			}
			d += l.DebitCents
			c += l.CreditCents
		}
		if d != c {
			unbalanced = append(unbalanced, fmt.Sprintf("%s %s: debits %d credits %d", e.Numero, e.Libelle, d, c))
		}
		k := keyOf(e.Libelle)
		got[k] = append(got[k], d)
		net := map[string]int64{}
		for _, l := range e.Lignes {
			net[l.Compte] += l.DebitCents - l.CreditCents
		}
		for acc, v := range net {
			if v == 0 {
				delete(net, acc)
			}
		}
		gotLines[k] = net
		gotDates[k] = e.Date
	}
	for k, totals := range got {
		want, ok := h.Expected.Keys[k]
		switch {
		case !ok:
			unexpected = append(unexpected, fmt.Sprintf("%q booked with total %v", k, totals))
		case len(totals) > 1:
			twice = append(twice, fmt.Sprintf("%s booked %d times %v", k, len(totals), totals))
		case totals[0] != want:
			wrong = append(wrong, fmt.Sprintf("%s: total %d, want %d", k, totals[0], want))
		case fmt.Sprint(gotLines[k]) != fmt.Sprint(h.Expected.Lines[k]):
			wrong = append(wrong, fmt.Sprintf("%s: accounts (debit − credit) %v, want %v", k, gotLines[k], h.Expected.Lines[k]))
		case gotDates[k] != h.Expected.Dates[k]:
			wrong = append(wrong, fmt.Sprintf("%s: dated %s, want %s", k, gotDates[k], h.Expected.Dates[k]))
		}
	}
	for k, want := range h.Expected.Keys {
		if _, ok := got[k]; !ok {
			missing = append(missing, fmt.Sprintf("%s (total %d)", k, want))
		}
	}
	report("unbalanced entries", unbalanced)
	report("keys booked more than once", twice)
	report("missing keys", missing)
	report("unexpected keys", unexpected)
	report("keys with the wrong amounts", wrong)

	// The trial balance: the Stripe balance, VAT, and every other account.
	tb := s.sandbox.TrialBalance()
	if tb["517100"] != h.Expected.StripeBalance {
		t.Errorf("seed %d: 517100 holds %d, Stripe's balance is %d", seed, tb["517100"], h.Expected.StripeBalance)
	}
	if -tb["445712"] != h.Expected.VAT {
		t.Errorf("seed %d: 445712 holds a credit of %d, want %d", seed, -tb["445712"], h.Expected.VAT)
	}
	var accounts []string
	for acc := range h.Expected.Accounts {
		accounts = append(accounts, acc)
	}
	for acc := range tb {
		if _, ok := h.Expected.Accounts[acc]; !ok {
			accounts = append(accounts, acc)
		}
	}
	var diff []string
	for _, acc := range accounts {
		if tb[acc] != h.Expected.Accounts[acc] {
			diff = append(diff, fmt.Sprintf("%s: %d, want %d", acc, tb[acc], h.Expected.Accounts[acc]))
		}
	}
	report("trial balance", diff)

	// Receivables per customer: by tiers_ref on the 411/416 lines, and by auxiliary
	// account as Comptentra keeps them.
	byRef := map[string]int64{}
	for _, e := range entries {
		for _, l := range e.Lignes {
			if comptentratest.IsCustomerAccount(l.Compte) {
				byRef[l.TiersRef] += l.DebitCents - l.CreditCents
			}
		}
	}
	auxOf := map[string]string{}
	for _, ti := range s.sandbox.Tiers() {
		auxOf[ti.Ref] = ti.CompteAuxiliaire
	}
	aux := s.sandbox.AuxBalance()
	var recv []string
	refs := map[string]bool{}
	for ref := range h.Expected.Receivables {
		refs[ref] = true
	}
	for ref := range byRef {
		refs[ref] = true
	}
	for ref := range refs {
		want := h.Expected.Receivables[ref]
		if byRef[ref] != want {
			recv = append(recv, fmt.Sprintf("%s: 411+416 lines %d, want %d", ref, byRef[ref], want))
		}
		if a, ok := auxOf[ref]; ok && aux[a] != want {
			recv = append(recv, fmt.Sprintf("%s: auxiliary account %s at %d, want %d", ref, a, aux[a], want))
		} else if !ok && want != 0 {
			recv = append(recv, fmt.Sprintf("%s: no tiers in Comptentra, want a balance of %d", ref, want))
		}
	}
	report("receivables", recv)
}

func mustJSON(t *testing.T, v map[string]any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
