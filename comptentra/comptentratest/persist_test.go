package comptentratest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/servolution/stripe-comptentra-sync/comptentra"
)

func TestPersistence(t *testing.T) {
	file := filepath.Join(t.TempDir(), "ledger.json")
	withFile := func(o *Options) { o.DataFile = file }
	s1, _ := newTest(t, withFile)
	first := post(t, s1, sale(), comptentra.HeaderIdempotencyKey, "k1")
	wantStatus(t, first, 201, "")
	e := sale()
	e.Journal = "STR"
	post(t, s1, e)
	post(t, s1, sale())
	s1.Close()
	if matches, _ := filepath.Glob(filepath.Join(filepath.Dir(file), ".*tmp*")); len(matches) != 0 {
		t.Errorf("temp files left: %v", matches)
	}

	s2, _ := newTest(t, withFile)
	if got, want := s2.Entries(), s1.Entries(); fmt.Sprint(got) != fmt.Sprint(want) || len(got) != 3 {
		t.Fatalf("reloaded %d entries, want %d", len(got), len(want))
	}
	r := post(t, s2, sale())
	if got := r.entry(t).Numero; got != "VTE-000003" {
		t.Errorf("numero after restart %s", got)
	}
	if r.entry(t).Lignes[0].CompteAuxiliaire != "411CUS_Q1" || len(s2.Tiers()) != 1 {
		t.Errorf("tiers not reloaded: %+v", s2.Tiers())
	}
	// The idempotency record survived the restart.
	rp := post(t, s2, sale(), comptentra.HeaderIdempotencyKey, "k1")
	if rp.header.Get(comptentra.HeaderIdempotentReplayed) != "true" || string(rp.body) != string(first.body) {
		t.Errorf("replay after restart: %q %s", rp.header.Get(comptentra.HeaderIdempotentReplayed), short(rp.body))
	}
	// GET by id works on reloaded entries.
	wantStatus(t, call(t, s2, http.MethodGet, "/ecritures/"+s1.Entries()[0].ID, testKey, nil), 200, "")
	// Reset is persisted too.
	s2.Reset()
	s2.Close()
	s3, _ := newTest(t, withFile)
	if n := len(s3.Entries()); n != 0 {
		t.Errorf("%d entries after a persisted reset", n)
	}

	t.Run("corrupt file", func(t *testing.T) {
		bad := filepath.Join(t.TempDir(), "bad.json")
		for _, content := range []string{`{`, `{"version": 99}`, `{"version":1,"entries":[{"id":"ecr_1","journal":"VTE","numero":"x"}]}`} {
			if err := os.WriteFile(bad, []byte(content), 0o600); err != nil {
				t.Fatal(err)
			}
			if _, err := New(Options{DataFile: bad}); err == nil {
				t.Errorf("accepted %s", content)
			}
		}
	})
	t.Run("unwritable file is a 500 and stores nothing", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "gone")
		if err := os.Mkdir(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		s, _ := newTest(t, func(o *Options) { o.DataFile = filepath.Join(dir, "l.json") })
		if err := os.Remove(dir); err != nil {
			t.Fatal(err)
		}
		wantStatus(t, post(t, s, sale(), comptentra.HeaderIdempotencyKey, "k"), 500, comptentra.CodeInternal)
		if n := len(s.Entries()); n != 0 {
			t.Errorf("%d entries", n)
		}
	})
}

func TestConcurrentPosts(t *testing.T) {
	s, _ := newTest(t)
	const workers, each = 16, 12
	var wg sync.WaitGroup
	var mu sync.Mutex
	created, replays, inProgress := 0, 0, 0
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < each; i++ {
				e := sale()
				e.Journal = []string{"VTE", "STR", "BQ"}[i%3]
				e.Lignes[0].TiersRef = fmt.Sprintf("cus_%d", i%5)
				// Every key is posted by two workers at once: one entry per key.
				key := fmt.Sprintf("k-%d-%d", w/2, i)
				r := post(t, s, e, comptentra.HeaderIdempotencyKey, key)
				mu.Lock()
				switch {
				case r.status == 201 && r.header.Get(comptentra.HeaderIdempotentReplayed) == "true":
					replays++
				case r.status == 201:
					created++
				case r.status == 409:
					inProgress++
				default:
					t.Errorf("status %d %s", r.status, short(r.body))
				}
				mu.Unlock()
				if i%4 == 0 {
					call(t, s, http.MethodGet, "/ecritures?limit=3", testROKey, nil)
				}
			}
		}(w)
	}
	wg.Wait()
	entries := s.Entries()
	if want := workers / 2 * each; len(entries) != want || created != want || created+replays+inProgress != workers*each {
		t.Fatalf("%d entries, %d created, %d replays, %d in progress; want %d entries", len(entries), created, replays, inProgress, want)
	}
	next := map[string]int{}
	for _, e := range entries {
		next[e.Journal]++
		if want := fmt.Sprintf("%s-%06d", e.Journal, next[e.Journal]); e.Numero != want {
			t.Errorf("numero %s, want %s (creation order)", e.Numero, want)
		}
	}
	if len(s.Tiers()) != 5 {
		t.Errorf("%d tiers, want 5", len(s.Tiers()))
	}
	var total int64
	for _, v := range s.TrialBalance() {
		total += v
	}
	if total != 0 {
		t.Errorf("trial balance does not sum to 0: %d", total)
	}
}

func TestConfigFromEnv(t *testing.T) {
	dir := t.TempDir()
	chartArr := filepath.Join(dir, "chart.json")
	chartObj := filepath.Join(dir, "chart2.json")
	chartBad := filepath.Join(dir, "chart3.json")
	_ = os.WriteFile(chartArr, []byte(`[{"numero":"411000","libelle":"Clients"},{"numero":"706000","libelle":"Prestations"}]`), 0o600)
	_ = os.WriteFile(chartObj, []byte(` {"data":[{"numero":"411000","libelle":"Clients"}]}`), 0o600)
	_ = os.WriteFile(chartBad, []byte(`[{"numero":"411000"},{"numero":"411000"}]`), 0o600)
	env := func(kv ...string) func(string) string {
		m := map[string]string{}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return func(k string) string { return m[k] }
	}
	t.Run("defaults", func(t *testing.T) {
		opts, addr, err := ConfigFromEnv(env())
		if err != nil || addr != ":8090" || opts.APIKey != "" || opts.FiscalYears != nil || opts.Accounts != nil || opts.DataFile != "" || opts.DisableIdempotency {
			t.Errorf("%+v %q %v", opts, addr, err)
		}
	})
	t.Run("everything", func(t *testing.T) {
		opts, addr, err := ConfigFromEnv(env(EnvAddr, "127.0.0.1:9999", EnvAPIKey, "ck_x", EnvReadOnlyAPIKey, "ck_ro",
			EnvFiscalYears, "2025=clos,2026=ouvert", EnvChartFile, chartArr, EnvDataFile, filepath.Join(dir, "d.json"),
			EnvDisableIdempotency, "true", EnvSeed, "12"))
		if err != nil {
			t.Fatal(err)
		}
		if addr != "127.0.0.1:9999" || opts.APIKey != "ck_x" || opts.ReadOnlyKey != "ck_ro" || len(opts.FiscalYears) != 2 ||
			len(opts.Accounts) != 2 || opts.DataFile != filepath.Join(dir, "d.json") || !opts.DisableIdempotency || opts.Seed != 12 {
			t.Errorf("%+v", opts)
		}
		if _, err := New(opts); err != nil {
			t.Errorf("New: %v", err)
		}
	})
	t.Run("chart object form", func(t *testing.T) {
		opts, _, err := ConfigFromEnv(env(EnvChartFile, chartObj))
		if err != nil || len(opts.Accounts) != 1 {
			t.Errorf("%v %v", opts.Accounts, err)
		}
	})
	bad := []struct{ name, k, v string }{
		{"addr", EnvAddr, "nope"},
		{"addr port", EnvAddr, ":99999"},
		{"api key", EnvAPIKey, "has space"},
		{"read-only key", EnvReadOnlyAPIKey, "bad key"},
		{"fiscal years", EnvFiscalYears, "2026=open"},
		{"chart missing", EnvChartFile, filepath.Join(dir, "none.json")},
		{"chart invalid", EnvChartFile, chartBad},
		{"data file dir", EnvDataFile, filepath.Join(dir, "no", "such", "d.json")},
		{"data file is dir", EnvDataFile, dir},
		{"idempotency", EnvDisableIdempotency, "maybe"},
		{"seed", EnvSeed, "x"},
	}
	for _, tc := range bad {
		t.Run("bad "+tc.name, func(t *testing.T) {
			_, _, err := ConfigFromEnv(env(tc.k, tc.v))
			if err == nil || !contains(err.Error(), tc.k) {
				t.Errorf("error %v does not name %s", err, tc.k)
			}
		})
	}
	t.Run("every error reported", func(t *testing.T) {
		_, _, err := ConfigFromEnv(env(EnvAddr, "x", EnvSeed, "y"))
		if err == nil || !contains(err.Error(), EnvAddr) || !contains(err.Error(), EnvSeed) {
			t.Errorf("%v", err)
		}
	})
	t.Run("same keys", func(t *testing.T) {
		if _, _, err := ConfigFromEnv(env(EnvAPIKey, "k", EnvReadOnlyAPIKey, "k")); err == nil {
			t.Error("accepted")
		}
	})
}

func TestParseChart(t *testing.T) {
	for _, b := range []string{``, `{}`, `{"data":[]}`, `[]`, `[{"numero":""}]`, `[{"numero":"41 1"}]`, `[{"numero":"1","x":1}]`, `"x"`} {
		if _, err := ParseChart([]byte(b)); err == nil {
			t.Errorf("accepted %s", b)
		}
	}
	accs, err := ParseChart([]byte(`{"data":[{"numero":"512000","libelle":"Banque"}]}`))
	if err != nil || len(accs) != 1 || accs[0].Libelle != "Banque" {
		t.Errorf("%v %v", accs, err)
	}
	b, _ := json.Marshal(DefaultAccounts())
	if accs, err := ParseChart(b); err != nil || len(accs) != len(DefaultAccounts()) {
		t.Errorf("default chart does not round-trip: %v", err)
	}
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }
