package chaos

import (
	"sort"
	"strconv"
	"strings"

	"github.com/servolution/stripe-comptentra-sync/comptentra"
)

// KeyOf returns the business key an entry's libellé ends with (" [<key>]"), or "".
func KeyOf(libelle string) string {
	if !strings.HasSuffix(libelle, "]") {
		return ""
	}
	i := strings.LastIndex(libelle, "[")
	if i < 0 {
		return ""
	}
	return libelle[i+1 : len(libelle)-1]
}

// Ledger is the comparison of the books with what they must hold.
type Ledger struct {
	Posted     int      // entries in the books
	Duplicates []string // keys booked more than once (sorted)
	Lost       []string // expected keys missing (sorted)
	Unexpected []string // keys booked that nothing expected, poison keys included (sorted)
	Untagged   int      // entries without a business key in their libellé
	// Mismatches are expected keys booked once with another total (Σ debits) than
	// expected: "key: got X, want Y".
	Mismatches []string
}

// Compare checks entries against expected (business key → entry total). A key
// booked that expected does not hold (a poison event's, for one) is unexpected.
func Compare(entries []comptentra.Entry, expected map[string]int64) Ledger {
	var l Ledger
	l.Posted = len(entries)
	count := map[string]int{}
	total := map[string]int64{}
	for _, e := range entries {
		k := KeyOf(e.Libelle)
		if k == "" {
			l.Untagged++
			continue
		}
		count[k]++
		var sum int64
		for _, ln := range e.Lignes {
			sum += ln.DebitCents
		}
		total[k] = sum
	}
	for k, n := range count {
		if n > 1 {
			l.Duplicates = append(l.Duplicates, k)
		}
		want, ok := expected[k]
		if !ok {
			l.Unexpected = append(l.Unexpected, k)
			continue
		}
		if n == 1 && total[k] != want {
			l.Mismatches = append(l.Mismatches, k+": got "+strconv.FormatInt(total[k], 10)+", want "+strconv.FormatInt(want, 10))
		}
	}
	for k := range expected {
		if count[k] == 0 {
			l.Lost = append(l.Lost, k)
		}
	}
	sort.Strings(l.Duplicates)
	sort.Strings(l.Lost)
	sort.Strings(l.Unexpected)
	sort.Strings(l.Mismatches)
	return l
}
