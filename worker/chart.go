package worker

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/servolution/stripe-comptentra-sync/comptentra"
	"github.com/servolution/stripe-comptentra-sync/ledger"
)

// ErrAccountMissing is returned by CheckChart when the rules post to an account that
// the Comptentra chart of accounts does not have.
var ErrAccountMissing = errors.New("account missing from the Comptentra chart of accounts")

// SettingOf names the environment variable that sets the account of a role of
// ledger.Rules.AccountUses ("customers" → ACCOUNT_CUSTOMERS, "vat_by_rate[550]" →
// ACCOUNT_VAT_BY_RATE).
func SettingOf(role string) string {
	if i := strings.IndexByte(role, '['); i >= 0 {
		role = role[:i]
	}
	return "ACCOUNT_" + strings.ToUpper(role)
}

// CheckChart verifies that every account the rules can post to exists in Comptentra's
// chart, so that a wrong mapping is reported at start-up rather than on the first event.
func CheckChart(ctx context.Context, accounts func(context.Context) ([]comptentra.Account, error), rules ledger.Rules) error {
	chart, err := accounts(ctx)
	if err != nil {
		return fmt.Errorf("worker: read the Comptentra chart of accounts: %w", err)
	}
	have := make(map[string]bool, len(chart))
	for _, a := range chart {
		have[a.Numero] = true
	}
	var errs []error
	for _, u := range rules.AccountUses() {
		if !have[u.Account] {
			errs = append(errs, fmt.Errorf("%w: %s (role %s, setting %s)", ErrAccountMissing, u.Account, u.Role, SettingOf(u.Role)))
		}
	}
	return errors.Join(errs...)
}
