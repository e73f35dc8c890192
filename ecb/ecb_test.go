package ecb

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func sample(t testing.TB) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/eurofxref-hist-sample.xml")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

const daily = `<?xml version="1.0" encoding="UTF-8"?>
<gesmes:Envelope xmlns:gesmes="http://www.gesmes.org/xml/2002-08-01" xmlns="http://www.ecb.int/vocabulary/2002-08-01/eurofxref">
	<gesmes:subject>Reference rates</gesmes:subject>
	<gesmes:Sender>
		<gesmes:name>European Central Bank</gesmes:name>
	</gesmes:Sender>
	<Cube>
		<Cube time='2026-03-18'>
			<Cube currency='USD' rate='1.0823'/>
			<Cube currency='JPY' rate='161.52'/>
		</Cube>
	</Cube>
</gesmes:Envelope>`

func TestParse(t *testing.T) {
	docs, err := Parse(bytes.NewReader(sample(t)))
	if err != nil {
		t.Fatal(err)
	}
	wantDays := []string{"2026-04-07", "2026-04-02", "2026-04-01", "2026-03-31"}
	if len(docs) != len(wantDays) {
		t.Fatalf("got %d days, want %d", len(docs), len(wantDays))
	}
	for i, d := range docs {
		if d.Date != wantDays[i] {
			t.Errorf("day %d = %s, want %s", i, d.Date, wantDays[i])
		}
	}
	checks := []struct{ day, cur, rate string }{
		{"2026-04-07", "USD", "1.0852"},
		{"2026-04-02", "JPY", "161.52"},
		{"2026-04-02", "GBP", "0.85540"}, // trailing zero kept: exact string
		{"2026-03-31", "IDR", "17555.30"},
	}
	byDay := map[string]Rates{}
	for _, d := range docs {
		byDay[d.Date] = d
	}
	for _, c := range checks {
		if got := byDay[c.day].PerEUR[c.cur]; got != c.rate {
			t.Errorf("%s %s = %q, want %q", c.day, c.cur, got, c.rate)
		}
	}
	if len(byDay["2026-04-07"].PerEUR) != 7 || len(byDay["2026-03-31"].PerEUR) != 6 {
		t.Errorf("currency counts: %d, %d", len(byDay["2026-04-07"].PerEUR), len(byDay["2026-03-31"].PerEUR))
	}

	t.Run("daily file, single quotes", func(t *testing.T) {
		docs, err := Parse(strings.NewReader(daily))
		if err != nil {
			t.Fatal(err)
		}
		if len(docs) != 1 || docs[0].Date != "2026-03-18" || docs[0].PerEUR["USD"] != "1.0823" {
			t.Fatalf("got %+v", docs)
		}
	})
	t.Run("unsorted input is sorted newest first", func(t *testing.T) {
		in := `<Envelope><Cube><Cube time="2026-01-02"><Cube currency="USD" rate="1.1"/></Cube>` +
			`<Cube time="2026-01-05"><Cube currency="USD" rate="1.2"/></Cube></Cube></Envelope>`
		docs, err := Parse(strings.NewReader(in))
		if err != nil {
			t.Fatal(err)
		}
		if docs[0].Date != "2026-01-05" || docs[1].Date != "2026-01-02" {
			t.Fatalf("order: %s, %s", docs[0].Date, docs[1].Date)
		}
	})
}

func TestParseErrors(t *testing.T) {
	env := func(body string) string {
		return `<gesmes:Envelope xmlns:gesmes="http://www.gesmes.org/xml/2002-08-01" xmlns="http://www.ecb.int/vocabulary/2002-08-01/eurofxref"><Cube>` +
			body + `</Cube></gesmes:Envelope>`
	}
	cases := []struct{ name, in string }{
		{"empty", ""},
		{"not xml", "USD,1.0823"},
		{"truncated", daily[:len(daily)/2]},
		{"html error page", "<html><body>Service unavailable</body></html>"},
		{"no days", env("")},
		{"bad date", env(`<Cube time="18/03/2026"><Cube currency="USD" rate="1.0823"/></Cube>`)},
		{"missing date", env(`<Cube><Cube currency="USD" rate="1.0823"/></Cube>`)},
		{"bad currency", env(`<Cube time="2026-03-18"><Cube currency="usd" rate="1.0823"/></Cube>`)},
		{"bad rate", env(`<Cube time="2026-03-18"><Cube currency="USD" rate="1,0823"/></Cube>`)},
		{"negative rate", env(`<Cube time="2026-03-18"><Cube currency="USD" rate="-1.0823"/></Cube>`)},
		{"zero rate", env(`<Cube time="2026-03-18"><Cube currency="USD" rate="0.0000"/></Cube>`)},
		{"exponent rate", env(`<Cube time="2026-03-18"><Cube currency="USD" rate="1e3"/></Cube>`)},
		{"duplicate day", env(`<Cube time="2026-03-18"><Cube currency="USD" rate="1.1"/></Cube><Cube time="2026-03-18"><Cube currency="USD" rate="1.1"/></Cube>`)},
		{"duplicate currency", env(`<Cube time="2026-03-18"><Cube currency="USD" rate="1.1"/><Cube currency="USD" rate="1.2"/></Cube>`)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if docs, err := Parse(strings.NewReader(c.in)); err == nil {
				t.Fatalf("no error, got %+v", docs)
			}
		})
	}
}

// ecbServer serves body (or status) and counts hits.
func ecbServer(t *testing.T, body []byte) (*httptest.Server, *atomic.Int64, *atomic.Int64) {
	t.Helper()
	var hits atomic.Int64
	var status atomic.Int64
	status.Store(200)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		if s := int(status.Load()); s != 200 {
			http.Error(w, "<html>error</html>", s)
			return
		}
		w.Header().Set("Content-Type", "text/xml")
		_, _ = w.Write(body)
	}))
	t.Cleanup(srv.Close)
	return srv, &hits, &status
}

func TestSourceRate(t *testing.T) {
	srv, _, _ := ecbServer(t, sample(t))
	src := NewSource(srv.URL, srv.Client(), time.Hour)
	cases := []struct {
		name, cur, day  string
		rate, rateDay   string
		wantErr, noRate bool
	}{
		{name: "published day", cur: "USD", day: "2026-04-07", rate: "1.0852", rateDay: "2026-04-07"},
		{name: "lower-case currency", cur: "usd", day: "2026-04-01", rate: "1.0790", rateDay: "2026-04-01"},
		{name: "Easter Monday falls back over Good Friday", cur: "USD", day: "2026-04-06", rate: "1.0823", rateDay: "2026-04-02"},
		{name: "Saturday", cur: "JPY", day: "2026-04-04", rate: "161.52", rateDay: "2026-04-02"},
		{name: "after the last publication", cur: "GBP", day: "2026-04-10", rate: "0.85630", rateDay: "2026-04-07"},
		{name: "first day of the document", cur: "CZK", day: "2026-03-31", rate: "25.249", rateDay: "2026-03-31"},
		{name: "EUR is 1", cur: "EUR", day: "2026-04-05", rate: "1", rateDay: "2026-04-05"},
		{name: "before the document", cur: "USD", day: "2026-03-30", wantErr: true, noRate: true},
		{name: "unknown currency", cur: "XAU", day: "2026-04-07", wantErr: true, noRate: true},
		{name: "not quoted that day", cur: "ISK", day: "2026-03-31", wantErr: true, noRate: true},
		{name: "bad currency", cur: "US", day: "2026-04-07", wantErr: true},
		{name: "bad day", cur: "USD", day: "07/04/2026", wantErr: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rate, rateDay, err := src.Rate(context.Background(), c.cur, c.day)
			if c.wantErr {
				if err == nil {
					t.Fatalf("no error, got %s %s", rate, rateDay)
				}
				if got := errors.Is(err, ErrNoRate); got != c.noRate {
					t.Fatalf("errors.Is(ErrNoRate) = %v, want %v (%v)", got, c.noRate, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if rate != c.rate || rateDay != c.rateDay {
				t.Fatalf("got %s on %s, want %s on %s", rate, rateDay, c.rate, c.rateDay)
			}
		})
	}
}

func TestSourceCache(t *testing.T) {
	srv, hits, _ := ecbServer(t, sample(t))
	now := time.Date(2026, 4, 7, 17, 0, 0, 0, time.UTC)
	src := NewSource(srv.URL, srv.Client(), 10*time.Minute)
	src.now = func() time.Time { return now }
	ctx := context.Background()

	for range 3 {
		if _, _, err := src.Rate(ctx, "USD", "2026-04-07"); err != nil {
			t.Fatal(err)
		}
	}
	if h := hits.Load(); h != 1 {
		t.Fatalf("hits after 3 lookups = %d, want 1", h)
	}
	// Concurrent callers within the TTL share the cached document.
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if _, _, err := src.Rate(ctx, "JPY", "2026-04-02"); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if h := hits.Load(); h != 1 {
		t.Fatalf("hits after concurrent lookups = %d, want 1", h)
	}
	now = now.Add(11 * time.Minute)
	if _, _, err := src.Rate(ctx, "USD", "2026-04-07"); err != nil {
		t.Fatal(err)
	}
	if h := hits.Load(); h != 2 {
		t.Fatalf("hits after TTL = %d, want 2", h)
	}
}

func TestSourceErrors(t *testing.T) {
	ctx := context.Background()
	t.Run("HTTP 500, then recovers without caching the failure", func(t *testing.T) {
		srv, hits, status := ecbServer(t, sample(t))
		status.Store(500)
		src := NewSource(srv.URL, srv.Client(), time.Hour)
		_, _, err := src.Rate(ctx, "USD", "2026-04-07")
		var he *HTTPError
		if !errors.As(err, &he) || he.StatusCode != 500 || !he.Temporary() {
			t.Fatalf("err = %v, want *HTTPError 500", err)
		}
		if errors.Is(err, ErrNoRate) {
			t.Fatal("an HTTP failure is not ErrNoRate")
		}
		status.Store(200)
		if r, _, err := src.Rate(ctx, "USD", "2026-04-07"); err != nil || r != "1.0852" {
			t.Fatalf("after recovery: %q, %v", r, err)
		}
		if hits.Load() != 2 {
			t.Fatalf("hits = %d, want 2", hits.Load())
		}
	})
	t.Run("HTTP 404 is not temporary", func(t *testing.T) {
		srv, _, status := ecbServer(t, sample(t))
		status.Store(404)
		_, _, err := NewSource(srv.URL, srv.Client(), time.Hour).Rate(ctx, "USD", "2026-04-07")
		var he *HTTPError
		if !errors.As(err, &he) || he.Temporary() {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("bad XML", func(t *testing.T) {
		srv, _, _ := ecbServer(t, []byte("<html>maintenance</html>"))
		if _, _, err := NewSource(srv.URL, srv.Client(), time.Hour).Rate(ctx, "USD", "2026-04-07"); err == nil ||
			errors.Is(err, ErrNoRate) {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("cancelled context", func(t *testing.T) {
		srv, hits, _ := ecbServer(t, sample(t))
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		_, _, err := NewSource(srv.URL, srv.Client(), time.Hour).Rate(cctx, "USD", "2026-04-07")
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v", err)
		}
		if hits.Load() != 0 {
			t.Fatalf("hits = %d", hits.Load())
		}
	})
	t.Run("connection refused", func(t *testing.T) {
		srv, _, _ := ecbServer(t, sample(t))
		url := srv.URL
		srv.Close()
		if _, _, err := NewSource(url, nil, time.Hour).Rate(ctx, "USD", "2026-04-07"); err == nil {
			t.Fatal("no error")
		}
	})
}

func TestNewSourceDefaults(t *testing.T) {
	s := NewSource("", nil, 0)
	if s.url != DefaultURL || s.ttl != DefaultTTL || s.hc == nil || s.hc.Timeout == 0 {
		t.Fatalf("%+v", s)
	}
}

func FuzzParse(f *testing.F) {
	f.Add(sample(f))
	f.Add([]byte(daily))
	f.Add([]byte(""))
	f.Add([]byte(`<Envelope><Cube><Cube time="2026-01-02"><Cube currency="USD" rate="1.1"/></Cube></Cube></Envelope>`))
	f.Add([]byte(`<Envelope><Cube><Cube time="2026-01-02"><Cube currency="USD" rate="1.1"/><Cube><Cube/></Cube></Cube></Cube></Envelope>`))
	f.Fuzz(func(t *testing.T, b []byte) {
		docs, err := Parse(bytes.NewReader(b))
		if err != nil {
			if docs != nil {
				t.Fatal("docs with an error")
			}
			return
		}
		for i, d := range docs {
			if _, err := time.Parse(time.DateOnly, d.Date); err != nil {
				t.Fatalf("bad date %q accepted", d.Date)
			}
			if i > 0 && docs[i-1].Date <= d.Date {
				t.Fatalf("not strictly newest first: %s then %s", docs[i-1].Date, d.Date)
			}
			for c, r := range d.PerEUR {
				if !currencyRE.MatchString(c) || !rateRE.MatchString(r) {
					t.Fatalf("bad entry %q=%q accepted", c, r)
				}
			}
		}
	})
}
