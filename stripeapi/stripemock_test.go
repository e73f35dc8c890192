package stripeapi_test

// Checks our requests against stripe-mock, Stripe's official mock, which
// validates every parameter against Stripe's OpenAPI spec (400 for anything
// malformed or unknown). stripe-mock keeps no state: it only tells whether a
// request is well-formed and answers its fixture. Scenario tests use
// stripetest instead.
//
// Install: go install github.com/stripe/stripe-mock@v0.203.0
// Found via $STRIPE_MOCK_BIN, then PATH, then $(go env GOPATH)/bin.

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/servolution/stripe-comptentra-sync/stripeapi"
)

const stripeMockInstall = "go install github.com/stripe/stripe-mock@v0.203.0"

func findStripeMock(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("STRIPE_MOCK_BIN"); p != "" {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("STRIPE_MOCK_BIN=%s: %v", p, err)
		}
		return p
	}
	if p, err := exec.LookPath("stripe-mock"); err == nil {
		return p
	}
	gopath := os.Getenv("GOPATH")
	if gopath == "" {
		if out, err := exec.Command("go", "env", "GOPATH").Output(); err == nil {
			gopath = strings.TrimSpace(string(out))
		}
	}
	for _, dir := range filepath.SplitList(gopath) {
		p := filepath.Join(dir, "bin", "stripe-mock")
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("stripe-mock not found (STRIPE_MOCK_BIN, PATH, $(go env GOPATH)/bin) and CI is set; install it: %s", stripeMockInstall)
	}
	t.Skipf("stripe-mock not found (STRIPE_MOCK_BIN, PATH, $(go env GOPATH)/bin); install it with: %s", stripeMockInstall)
	return ""
}

var listeningRE = regexp.MustCompile(`Listening for HTTP at address: (\S+)`)

// startStripeMock runs stripe-mock on 127.0.0.1 ports the system chooses
// (both HTTP and HTTPS given, so nothing listens on other interfaces) and
// returns its HTTP root URL.
func startStripeMock(t *testing.T) string {
	t.Helper()
	bin := findStripeMock(t)
	cmd := exec.Command(bin, "-http-addr", "127.0.0.1:", "-https-addr", "127.0.0.1:")
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", bin, err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		pw.Close()
		close(exited)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
	})

	addr := make(chan string, 1)
	var output strings.Builder
	outputDone := make(chan struct{})
	go func() {
		defer close(outputDone)
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			line := sc.Text()
			if output.Len() < 8<<10 {
				output.WriteString(line + "\n")
			}
			if m := listeningRE.FindStringSubmatch(line); m != nil {
				select {
				case addr <- m[1]:
				default:
				}
			}
		}
		_, _ = io.Copy(io.Discard, pr)
	}()
	select {
	case a := <-addr:
		return "http://" + a
	case <-exited:
		<-outputDone
		t.Fatalf("stripe-mock exited before listening:\n%s", output.String())
	case <-time.After(30 * time.Second):
		t.Fatal("stripe-mock did not start listening within 30 s")
	}
	return ""
}

func TestAgainstStripeMock(t *testing.T) {
	url := startStripeMock(t)
	c, err := stripeapi.New(stripeapi.Config{APIKey: "sk_test_123", BaseURL: url, MaxNetworkRetries: -1, Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	since := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	until := time.Date(2026, 3, 31, 23, 59, 59, 0, time.UTC)

	t.Run("BalanceTransaction", func(t *testing.T) {
		bt, err := c.BalanceTransaction(ctx, "txn_1IZI1WCQQp28cFsCCDFNDOhL")
		if err != nil {
			t.Fatal(err)
		}
		if bt.ID == "" || bt.Object != "balance_transaction" {
			t.Fatalf("%+v", bt)
		}
	})
	t.Run("Refunds", func(t *testing.T) {
		refunds, err := c.Refunds(ctx, "ch_1IZI1WCQQp28cFsC3NZk4ERe")
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range refunds {
			if r.Object != "refund" {
				t.Fatalf("%+v", r)
			}
		}
	})
	t.Run("Invoice", func(t *testing.T) {
		inv, err := c.Invoice(ctx, "in_1MtHbELkdIwHu7ixl4OzzPMv")
		if err != nil {
			t.Fatal(err)
		}
		if inv.Object != "invoice" {
			t.Fatalf("%+v", inv)
		}
		_, _ = stripeapi.InvoiceVAT(inv) // must not panic on Stripe's fixture
	})
	t.Run("Balance", func(t *testing.T) {
		b, err := c.Balance(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if b.Object != "balance" {
			t.Fatalf("%+v", b)
		}
	})
	t.Run("Events", func(t *testing.T) {
		params := []stripeapi.EventsParams{
			{},
			{Since: since, Until: until},
			{Since: since, Types: []string{"charge.succeeded", "charge.captured", "charge.refunded",
				"charge.dispute.funds_withdrawn", "charge.dispute.funds_reinstated", "charge.dispute.closed",
				"payout.paid", "payout.failed"}},
		}
		for _, p := range params {
			n := 0
			for e, err := range c.Events(ctx, p) {
				if err != nil {
					t.Fatalf("%+v: %v", p, err)
				}
				if e.Object != "event" {
					t.Fatalf("%+v", e)
				}
				if n++; n > 50 {
					break // stripe-mock's fixture list never ends on has_more
				}
			}
		}
	})
	t.Run("BalanceTransactions", func(t *testing.T) {
		params := []stripeapi.BTParams{
			{},
			{Since: since, Until: until},
			{Payout: "po_1OaFDbEcg9tTZuTgNYmX0PKB"},
			{Since: since, Type: "charge", Currency: "EUR"},
		}
		for _, p := range params {
			n := 0
			for bt, err := range c.BalanceTransactions(ctx, p) {
				if err != nil {
					t.Fatalf("%+v: %v", p, err)
				}
				if bt.Object != "balance_transaction" {
					t.Fatalf("%+v", bt)
				}
				if n++; n > 50 {
					break
				}
			}
		}
	})
	t.Run("stripe-mock rejects malformed requests (the check has teeth)", func(t *testing.T) {
		for _, q := range []string{
			"/v1/events?created[gte]=yesterday",
			"/v1/events?limit=many",
			"/v1/balance_transactions?payouts=po_1",
			"/v1/refunds?charge_id=ch_1",
		} {
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, url+q, nil)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Authorization", "Bearer sk_test_123")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusBadRequest {
				t.Errorf("GET %s: %d, want 400", q, resp.StatusCode)
			}
		}
	})
}
