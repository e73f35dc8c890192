package ledger

import (
	"fmt"
	"time"
	_ "time/tzdata" // Europe/Paris must resolve in static images without zoneinfo
)

// Paris is the time zone of French accounting dates.
var Paris = mustLoad("Europe/Paris")

func mustLoad(name string) *time.Location {
	loc, err := time.LoadLocation(name)
	if err != nil {
		panic(fmt.Sprintf("ledger: time zone %s: %v", name, err))
	}
	return loc
}

// Date is a calendar day of the books (Europe/Paris).
type Date struct {
	Year  int
	Month time.Month
	Day   int
}

// ParisDate is the Europe/Paris calendar day of a Unix timestamp:
// 23:30 UTC on 31 December is 1 January in Paris.
func ParisDate(unix int64) Date { return DateOf(time.Unix(unix, 0)) }

// DateOf is the Europe/Paris calendar day of t.
func DateOf(t time.Time) Date {
	y, m, d := t.In(Paris).Date()
	return Date{y, m, d}
}

// ParseDate reads a YYYY-MM-DD date and rejects days that do not exist.
func ParseDate(s string) (Date, error) {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return Date{}, fmt.Errorf("ledger: date %q: want YYYY-MM-DD: %w", s, err)
	}
	y, m, d := t.Date()
	return Date{y, m, d}, nil
}

// String formats the date as YYYY-MM-DD, the form Comptentra takes.
func (d Date) String() string { return fmt.Sprintf("%04d-%02d-%02d", d.Year, int(d.Month), d.Day) }

// IsZero reports whether d is the zero Date.
func (d Date) IsZero() bool { return d == Date{} }

// Before reports whether d is an earlier day than e.
func (d Date) Before(e Date) bool { return d.String() < e.String() }
