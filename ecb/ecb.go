// Package ecb reads the European Central Bank's euro foreign exchange
// reference rates (the rate French VAT rules require for converting a
// foreign-currency sale: the last rate published on or before the VAT date).
//
// The ECB publishes, around 16:00 CET on TARGET working days, files such as
// https://www.ecb.europa.eu/stats/eurofxref/eurofxref-daily.xml (the last day)
// and eurofxref-hist-90d.xml (the last 90 days):
//
//	<gesmes:Envelope xmlns:gesmes="http://www.gesmes.org/xml/2002-08-01" xmlns="http://www.ecb.int/vocabulary/2002-08-01/eurofxref">
//	  <gesmes:subject>Reference rates</gesmes:subject>
//	  <gesmes:Sender><gesmes:name>European Central Bank</gesmes:name></gesmes:Sender>
//	  <Cube>
//	    <Cube time="2026-03-18">
//	      <Cube currency="USD" rate="1.0823"/>
//	      …
//
// Rates are units of currency per 1 EUR, kept as the exact decimal strings
// the ECB wrote: no float ever touches them.
package ecb

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"
)

// DefaultURL is the ECB's 90-day history (covers any VAT date of the last
// three months, which is more than a sync ever needs to look back).
const DefaultURL = "https://www.ecb.europa.eu/stats/eurofxref/eurofxref-hist-90d.xml"

// DefaultTTL is the cache lifetime used when NewSource gets ttl ≤ 0. The ECB
// publishes once a day; an hour keeps a new publication from waiting long.
const DefaultTTL = time.Hour

// maxBody bounds the downloaded document (the 90-day file is ~ 100 kB; the
// full history since 1999 is ~ 6 MB).
const maxBody = 32 << 20

// ErrNoRate is returned (wrapped) when no rate was published for the
// currency on or before the day, within the document's span.
var ErrNoRate = errors.New("ecb: no reference rate")

// Rates is one publication: the reference rates of one day.
type Rates struct {
	Date   string            // YYYY-MM-DD
	PerEUR map[string]string // "USD" → "1.0823": units of the currency for 1 EUR, exact decimal
}

// The XML: names are matched on their local part, so the gesmes and
// eurofxref namespaces (or their absence) do not matter.
type envelope struct {
	XMLName xml.Name `xml:"Envelope"`
	Cube    struct {
		Days []struct {
			Time  string `xml:"time,attr"`
			Rates []struct {
				Currency string `xml:"currency,attr"`
				Rate     string `xml:"rate,attr"`
			} `xml:"Cube"`
		} `xml:"Cube"`
	} `xml:"Cube"`
}

var (
	currencyRE = regexp.MustCompile(`^[A-Z]{3}$`)
	// A positive decimal, as the ECB writes them ("1.0823", "161.52", "25.235").
	rateRE = regexp.MustCompile(`^[0-9]{1,10}(\.[0-9]{1,10})?$`)
)

// Parse reads an ECB reference-rate document (daily or historical) and returns
// its publications, newest first. It rejects a document that is not in the
// ECB format, has a malformed date, currency or rate, or the same day twice.
func Parse(r io.Reader) ([]Rates, error) {
	var env envelope
	dec := xml.NewDecoder(r)
	if err := dec.Decode(&env); err != nil {
		return nil, fmt.Errorf("ecb: parse: %w", err)
	}
	if len(env.Cube.Days) == 0 {
		return nil, errors.New("ecb: parse: no <Cube time=…> in the document")
	}
	out := make([]Rates, 0, len(env.Cube.Days))
	seen := make(map[string]bool, len(env.Cube.Days))
	for _, d := range env.Cube.Days {
		day := strings.TrimSpace(d.Time)
		if _, err := time.Parse(time.DateOnly, day); err != nil {
			return nil, fmt.Errorf("ecb: parse: bad date %q", d.Time)
		}
		if seen[day] {
			return nil, fmt.Errorf("ecb: parse: day %s appears twice", day)
		}
		seen[day] = true
		rs := Rates{Date: day, PerEUR: make(map[string]string, len(d.Rates))}
		for _, c := range d.Rates {
			cur := strings.TrimSpace(c.Currency)
			rate := strings.TrimSpace(c.Rate)
			if !currencyRE.MatchString(cur) {
				return nil, fmt.Errorf("ecb: parse: %s: bad currency %q", day, c.Currency)
			}
			if !rateRE.MatchString(rate) || strings.Trim(rate, "0.") == "" {
				return nil, fmt.Errorf("ecb: parse: %s %s: bad rate %q", day, cur, c.Rate)
			}
			if _, dup := rs.PerEUR[cur]; dup {
				return nil, fmt.Errorf("ecb: parse: %s: currency %s appears twice", day, cur)
			}
			rs.PerEUR[cur] = rate
		}
		out = append(out, rs)
	}
	// The ECB writes newest first; do not rely on it.
	slices.SortStableFunc(out, func(a, b Rates) int { return strings.Compare(b.Date, a.Date) })
	return out, nil
}

// Source fetches and caches an ECB document. It is safe for concurrent use.
type Source struct {
	url  string
	hc   *http.Client
	ttl  time.Duration
	now  func() time.Time
	mu   sync.Mutex // held across a fetch: concurrent callers share it
	docs []Rates
	at   time.Time
}

// NewSource returns a Source reading url ("" → DefaultURL) with httpClient
// (nil → a client with a 30 s timeout), keeping the parsed document for ttl
// (≤ 0 → DefaultTTL).
func NewSource(url string, httpClient *http.Client, ttl time.Duration) *Source {
	if url == "" {
		url = DefaultURL
	}
	if httpClient == nil {
		httpClient = &http.Client{Timeout: 30 * time.Second}
	}
	if ttl <= 0 {
		ttl = DefaultTTL
	}
	return &Source{url: url, hc: httpClient, ttl: ttl, now: time.Now}
}

// Rate returns the reference rate of currency (ISO code, any case; units per
// 1 EUR) applicable on day (YYYY-MM-DD): the last one published on or before
// day, so a weekend or TARGET holiday gets the previous publication. rateDay
// is the publication's date. EUR itself is "1" on day. The error wraps
// ErrNoRate when the document has no such rate (unknown currency, or day
// before the document's first publication).
func (s *Source) Rate(ctx context.Context, currency string, day string) (rate string, rateDay string, err error) {
	cur := strings.ToUpper(strings.TrimSpace(currency))
	if !currencyRE.MatchString(cur) {
		return "", "", fmt.Errorf("ecb: bad currency %q", currency)
	}
	if _, err := time.Parse(time.DateOnly, day); err != nil {
		return "", "", fmt.Errorf("ecb: bad day %q (want YYYY-MM-DD)", day)
	}
	if cur == "EUR" {
		return "1", day, nil
	}
	docs, err := s.load(ctx)
	if err != nil {
		return "", "", err
	}
	for _, d := range docs { // newest first
		if d.Date > day {
			continue
		}
		if r, ok := d.PerEUR[cur]; ok {
			return r, d.Date, nil
		}
		// The latest publication on or before day lacks the currency: the
		// ECB stopped quoting it (or never did). An older rate would not be
		// the rate "on that day", so say there is none.
		return "", "", fmt.Errorf("%w for %s on %s (not in the %s publication)", ErrNoRate, cur, day, d.Date)
	}
	first := ""
	if len(docs) > 0 {
		first = docs[len(docs)-1].Date
	}
	return "", "", fmt.Errorf("%w for %s on %s (the document starts on %s)", ErrNoRate, cur, day, first)
}

func (s *Source) load(ctx context.Context) ([]Rates, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.docs != nil && s.now().Sub(s.at) < s.ttl {
		return s.docs, nil
	}
	docs, err := s.fetch(ctx)
	if err != nil {
		return nil, err
	}
	s.docs, s.at = docs, s.now()
	return docs, nil
}

func (s *Source) fetch(ctx context.Context) ([]Rates, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.url, nil)
	if err != nil {
		return nil, fmt.Errorf("ecb: %w", err)
	}
	req.Header.Set("Accept", "application/xml, text/xml")
	resp, err := s.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("ecb: fetch %s: %w", s.url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		return nil, &HTTPError{URL: s.url, StatusCode: resp.StatusCode}
	}
	docs, err := Parse(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return nil, fmt.Errorf("ecb: %s: %w", s.url, err)
	}
	return docs, nil
}

// HTTPError is returned when the ECB answers with a status other than 200.
type HTTPError struct {
	URL        string
	StatusCode int
}

func (e *HTTPError) Error() string {
	return fmt.Sprintf("ecb: fetch %s: HTTP %d", e.URL, e.StatusCode)
}

// Temporary reports whether retrying later may help (429 and 5xx).
func (e *HTTPError) Temporary() bool { return e.StatusCode == 429 || e.StatusCode >= 500 }
