// Package comptentratest is a strict in-memory implementation of the Comptentra REST API
// (docs/comptentra-api.md) for Go tests — in the spirit of net/http/httptest and miniredis —
// and for the local stack (cmd/comptentra-sandbox, syncctl dev).
//
// It validates every request as the contract says (every 422 code, 401/403, 413, 400, 405),
// numbers entries per journal, resolves tiers on customer lines, honours Idempotency-Key
// (replay, conflict, in progress), and injects faults (latency, 429, 5xx, commit-then-fail)
// on demand. Sandbox-only controls live under /_sandbox/ and need no API key.
//
// Codes this sandbox uses beyond the contract's table (all documented here):
//   - 422 piece_ref_invalide: piece_ref longer than 64 characters;
//   - 400 idempotency_key_invalide: Idempotency-Key longer than 255 characters;
//   - 400 parametre_invalide: a bad query parameter of GET /ecritures (limit outside 1–200,
//     unparseable or unknown cursor, bad date, unknown journal, date_from after date_to),
//     and 422 parametre_invalide for a bad /_sandbox/ control body;
//   - internal: the code of injected 5xx faults and of the 502 of commit_then_fail.
package comptentratest

import (
	"bytes"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/servolution/stripe-comptentra-sync/comptentra"
)

// Codes used by the sandbox beyond the contract's constants (see the package doc).
const (
	CodePieceRefInvalide       = "piece_ref_invalide"
	CodeIdempotencyKeyInvalide = "idempotency_key_invalide"
	CodeParametreInvalide      = "parametre_invalide"
)

// Limits of the contract.
const (
	MaxBodyBytes          = 1 << 20 // 1 MiB
	MaxAmountCents        = int64(1_000_000_000_000_000)
	MaxLibelleChars       = 255
	MaxPieceRefChars      = 64
	MaxIdempotencyKeyLen  = 255
	IdempotencyWindow     = 24 * time.Hour
	DefaultListLimit      = 50
	MaxListLimit          = 200
	apiPrefix             = "/api/v1"
	sandboxPrefix         = "/_sandbox/"
	defaultFaultStatus    = http.StatusServiceUnavailable
	defaultRetryAfterSecs = 1
)

// Journals are the journals the sandbox defines.
var Journals = []string{"VTE", "ACH", "BQ", "STR", "OD"}

// Options configures a Server. The zero value is usable.
type Options struct {
	// APIKey is the key with read and write scope; "" → generated ("ck_sandbox_" + random).
	APIKey string
	// ReadOnlyKey is an optional second key with the read scope only.
	ReadOnlyKey string
	// FiscalYears: nil → the current calendar year (Europe/Paris, per Now) open and the
	// previous one closed.
	FiscalYears []comptentra.FiscalYear
	// Accounts is the chart of accounts; nil → DefaultAccounts().
	Accounts []comptentra.Account
	// DataFile persists entries, tiers and idempotency records as JSON across restarts
	// ("" → memory only). It is rewritten atomically after each created entry and on Reset.
	DataFile string
	// DisableIdempotency ignores Idempotency-Key entirely (a Comptentra that does not
	// honour it). Settable at runtime with SetDisableIdempotency.
	DisableIdempotency bool
	// Now is the clock; nil → time.Now.
	Now func() time.Time
	// Logger receives one line per request (nil → discarded).
	Logger *slog.Logger
	// Seed seeds the random source of fault injection; 0 → seeded from the clock.
	Seed int64
}

// Faults are random failures injected on /api/v1 requests, in this order: latency, then
// rate limiting (429 with Retry-After), then errors (ErrorStatus), and for a POST /ecritures
// that succeeded, commit-then-fail (the entry and its idempotency record are stored, the
// answer is 502).
type Faults struct {
	ErrorRate          float64 `json:"error_rate"`
	ErrorStatus        int     `json:"error_status"` // 500..599; 0 → 503
	RateLimitRate      float64 `json:"rate_limit_rate"`
	RetryAfterS        int     `json:"retry_after_s"` // 0 → 1
	LatencyMS          int     `json:"latency_ms"`
	CommitThenFailRate float64 `json:"commit_then_fail_rate"`
}

// Validate checks the rates are in [0, 1], the status in 500..599 (or 0) and the durations
// are not negative.
func (f Faults) Validate() error {
	var errs []error
	rate := func(name string, v float64) {
		if !(v >= 0 && v <= 1) { // also rejects NaN
			errs = append(errs, fmt.Errorf("%s must be in [0, 1], got %v", name, v))
		}
	}
	rate("error_rate", f.ErrorRate)
	rate("rate_limit_rate", f.RateLimitRate)
	rate("commit_then_fail_rate", f.CommitThenFailRate)
	if f.ErrorStatus != 0 && (f.ErrorStatus < 500 || f.ErrorStatus > 599) {
		errs = append(errs, fmt.Errorf("error_status must be in 500..599, got %d", f.ErrorStatus))
	}
	if f.RetryAfterS < 0 || f.RetryAfterS > 3600 {
		errs = append(errs, fmt.Errorf("retry_after_s must be in 0..3600, got %d", f.RetryAfterS))
	}
	if f.LatencyMS < 0 || f.LatencyMS > 600_000 {
		errs = append(errs, fmt.Errorf("latency_ms must be in 0..600000, got %d", f.LatencyMS))
	}
	return errors.Join(errs...)
}

func (f Faults) withDefaults() Faults {
	if f.ErrorStatus == 0 {
		f.ErrorStatus = defaultFaultStatus
	}
	if f.RetryAfterS == 0 {
		f.RetryAfterS = defaultRetryAfterSecs
	}
	return f
}

// Stats is the JSON shape of GET /_sandbox/stats. Counters start at zero on New and Reset.
type Stats struct {
	Requests          int64            `json:"requests"` // /api/v1 requests
	EntriesCreated    int64            `json:"entries_created"`
	IdempotentReplays int64            `json:"idempotent_replays"`
	FaultsInjected    int64            `json:"faults_injected"`
	Rejections        map[string]int64 `json:"rejections"` // error responses of /api/v1 by code
	Entries           int              `json:"entries"`    // entries currently stored
}

type scope int

const (
	scopeRead scope = 1 << iota
	scopeWrite
)

// Server is the in-memory Comptentra. It implements http.Handler; all methods are safe for
// concurrent use.
type Server struct {
	apiKey      string
	roKey       string
	years       []comptentra.FiscalYear
	accounts    []comptentra.Account
	accountSet  map[string]bool
	journalSet  map[string]bool
	dataFile    string
	now         func() time.Time
	log         *slog.Logger
	disableIdem atomic.Bool

	mu     sync.Mutex
	ledger ledger
	stats  Stats
	faults Faults
	rngMu  sync.Mutex
	rng    *mrand.Rand

	ts        *httptest.Server
	done      chan struct{}
	closeOnce sync.Once

	// beforeProcess, when set (by in-package tests), runs after a POST /ecritures has
	// been marked in progress for its Idempotency-Key and before it is processed.
	beforeProcess func()
}

// New builds an unstarted Server (an http.Handler serving /api/v1/... and /_sandbox/...).
// It loads Options.DataFile when the file exists.
func New(opts Options) (*Server, error) {
	s := &Server{
		apiKey:     opts.APIKey,
		roKey:      opts.ReadOnlyKey,
		dataFile:   opts.DataFile,
		now:        opts.Now,
		log:        opts.Logger,
		journalSet: map[string]bool{},
		done:       make(chan struct{}),
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.apiKey == "" {
		s.apiKey = "ck_sandbox_" + randomHex(16)
	}
	if err := validateKey(s.apiKey); err != nil {
		return nil, fmt.Errorf("APIKey: %w", err)
	}
	if s.roKey != "" {
		if err := validateKey(s.roKey); err != nil {
			return nil, fmt.Errorf("ReadOnlyKey: %w", err)
		}
		if s.roKey == s.apiKey {
			return nil, errors.New("ReadOnlyKey must differ from APIKey")
		}
	}
	years := opts.FiscalYears
	if years == nil {
		years = DefaultFiscalYears(s.now())
	}
	years, err := normalizeFiscalYears(years)
	if err != nil {
		return nil, fmt.Errorf("FiscalYears: %w", err)
	}
	s.years = years
	accounts := opts.Accounts
	if accounts == nil {
		accounts = DefaultAccounts()
	}
	if err := validateAccounts(accounts); err != nil {
		return nil, fmt.Errorf("Accounts: %w", err)
	}
	s.accounts = append([]comptentra.Account(nil), accounts...)
	s.accountSet = make(map[string]bool, len(accounts))
	for _, a := range accounts {
		s.accountSet[a.Numero] = true
	}
	for _, j := range Journals {
		s.journalSet[j] = true
	}
	seed := opts.Seed
	if seed == 0 {
		seed = time.Now().UnixNano()
	}
	s.rng = mrand.New(mrand.NewPCG(uint64(seed), uint64(seed)^0x9e3779b97f4a7c15))
	s.disableIdem.Store(opts.DisableIdempotency)
	s.ledger.init()
	s.stats.Rejections = map[string]int64{}
	if s.dataFile != "" {
		if err := s.load(); err != nil {
			return nil, fmt.Errorf("DataFile %s: %w", s.dataFile, err)
		}
	}
	return s, nil
}

// NewServer starts a Server on 127.0.0.1 (random port) and closes it on t.Cleanup.
// It fails the test when opts are invalid.
func NewServer(t testing.TB, opts Options) *Server {
	t.Helper()
	s, err := Start(opts)
	if err != nil {
		t.Fatalf("comptentratest.NewServer: %v", err)
	}
	t.Cleanup(s.Close)
	return s
}

// Start is NewServer without a testing.TB (for programs such as syncctl dev): it starts
// the Server on 127.0.0.1 (random port); the caller must Close it.
func Start(opts Options) (*Server, error) {
	s, err := New(opts)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	s.ts = httptest.NewUnstartedServer(s)
	_ = s.ts.Listener.Close()
	s.ts.Listener = ln
	s.ts.Start()
	return s, nil
}

// URL is the API base URL ("http://127.0.0.1:PORT/api/v1"); "" for a Server made by New.
func (s *Server) URL() string {
	if s.ts == nil {
		return ""
	}
	return s.ts.URL + apiPrefix
}

// APIKey is the read+write key (generated when Options.APIKey was empty).
func (s *Server) APIKey() string { return s.apiKey }

// Close stops the listener started by NewServer and ends injected latencies. Idempotent.
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		close(s.done)
		if s.ts != nil {
			s.ts.Close()
		}
	})
}

// SetFaults replaces the injected faults. It rejects invalid values (and keeps the
// previous faults then).
func (s *Server) SetFaults(f Faults) error {
	if err := f.Validate(); err != nil {
		return err
	}
	s.mu.Lock()
	s.faults = f.withDefaults()
	s.mu.Unlock()
	return nil
}

// ClearFaults removes every injected fault.
func (s *Server) ClearFaults() {
	s.mu.Lock()
	s.faults = Faults{}
	s.mu.Unlock()
}

// Faults returns the faults in force (with defaults applied).
func (s *Server) Faults() Faults {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.faults
}

// SetDisableIdempotency switches Idempotency-Key handling off (true) or on (false).
func (s *Server) SetDisableIdempotency(disable bool) { s.disableIdem.Store(disable) }

// IdempotencyEnabled reports whether Idempotency-Key is honoured.
func (s *Server) IdempotencyEnabled() bool { return !s.disableIdem.Load() }

// Stats returns a copy of the counters.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stats
	st.Rejections = make(map[string]int64, len(s.stats.Rejections))
	for k, v := range s.stats.Rejections {
		st.Rejections[k] = v
	}
	st.Entries = len(s.ledger.entries)
	return st
}

// Reset empties the ledger (entries, tiers, numbering, idempotency records) and the
// statistics, and rewrites the DataFile. Faults and the idempotency switch are kept.
func (s *Server) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ledger.init()
	s.stats = Stats{Rejections: map[string]int64{}}
	if err := s.persistLocked(); err != nil {
		s.log.Error("comptentra sandbox: persist after reset", "err", err)
	}
}

// Entries returns copies of all stored entries, in creation order.
func (s *Server) Entries() []comptentra.Entry {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]comptentra.Entry, len(s.ledger.entries))
	for i, e := range s.ledger.entries {
		out[i] = cloneEntry(e)
	}
	return out
}

// Tiers returns copies of all known tiers, in creation order.
func (s *Server) Tiers() []comptentra.Tiers {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]comptentra.Tiers(nil), s.ledger.tiers...)
}

// TrialBalance returns, per account, Σ debit − Σ credit over all stored entries.
func (s *Server) TrialBalance() map[string]int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]int64{}
	for _, e := range s.ledger.entries {
		for _, l := range e.Lignes {
			out[l.Compte] += l.DebitCents - l.CreditCents
		}
	}
	return out
}

// AuxBalance returns, per auxiliary account (compte_auxiliaire, e.g. "411CUS_Q1"),
// Σ debit − Σ credit over the lines that carry it (411… and 416… lines together).
func (s *Server) AuxBalance() map[string]int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]int64{}
	for _, e := range s.ledger.entries {
		for _, l := range e.Lignes {
			if l.CompteAuxiliaire != "" {
				out[l.CompteAuxiliaire] += l.DebitCents - l.CreditCents
			}
		}
	}
	return out
}

// ---------------------------------------------------------------------------
// HTTP

type statusRecorder struct {
	http.ResponseWriter
	status int
	code   string
}

func (r *statusRecorder) WriteHeader(status int) {
	if r.status == 0 {
		r.status = status
	}
	r.ResponseWriter.WriteHeader(status)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}

// ServeHTTP serves /api/v1/... (the contract) and /_sandbox/... (controls).
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	reqID := "req_" + randomHex(10)
	w.Header().Set(comptentra.HeaderRequestID, reqID)
	rec := &statusRecorder{ResponseWriter: w}
	p := r.URL.Path
	switch {
	case p == apiPrefix || strings.HasPrefix(p, apiPrefix+"/"):
		s.serveAPI(rec, r, strings.TrimPrefix(p, apiPrefix))
	case strings.HasPrefix(p, sandboxPrefix):
		s.serveSandbox(rec, r, strings.TrimPrefix(p, sandboxPrefix))
	default:
		writeError(rec, http.StatusNotFound, comptentra.CodeNotFound, "no such path: "+p, nil)
	}
	s.log.Info("comptentra sandbox request", "request_id", reqID, "method", r.Method, "path", p,
		"status", rec.status, "code", rec.code, "duration_ms", time.Since(start).Milliseconds())
}

func (s *Server) serveAPI(w *statusRecorder, r *http.Request, rest string) {
	s.mu.Lock()
	s.stats.Requests++
	faults := s.faults
	s.mu.Unlock()

	fail := func(status int, code, msg string, details []comptentra.FieldDetail) {
		s.mu.Lock()
		s.stats.Rejections[code]++
		s.mu.Unlock()
		writeError(w, status, code, msg, details)
	}

	scopes := s.scopesOf(r.Header.Get(comptentra.HeaderAPIKey))
	if scopes == 0 {
		fail(http.StatusUnauthorized, comptentra.CodeUnauthorized, "missing or unknown X-API-Key", nil)
		return
	}

	// Faults: latency, then rate limiting, then errors.
	if faults.LatencyMS > 0 {
		t := time.NewTimer(time.Duration(faults.LatencyMS) * time.Millisecond)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return
		case <-s.done:
			t.Stop()
			fail(http.StatusServiceUnavailable, comptentra.CodeInternal, "sandbox closing", nil)
			return
		}
	}
	if s.draw(faults.RateLimitRate) {
		s.countFault()
		w.Header().Set(comptentra.HeaderRetryAfter, strconv.Itoa(faults.RetryAfterS))
		fail(http.StatusTooManyRequests, comptentra.CodeRateLimited, "rate limited (injected fault)", nil)
		return
	}
	if s.draw(faults.ErrorRate) {
		s.countFault()
		fail(faults.ErrorStatus, comptentra.CodeInternal, "injected server error", nil)
		return
	}

	need := func(sc scope) bool {
		if scopes&sc == 0 {
			fail(http.StatusForbidden, comptentra.CodeForbiddenScope, "the API key lacks the scope this request needs", nil)
			return false
		}
		return true
	}
	methodNotAllowed := func(allow string) {
		w.Header().Set("Allow", allow)
		fail(http.StatusMethodNotAllowed, comptentra.CodeMethodNotAllowed,
			"method "+r.Method+" not allowed (entries are immutable: a correction is a new entry)", nil)
	}

	switch {
	case rest == "/ecritures":
		switch r.Method {
		case http.MethodGet:
			if need(scopeRead) {
				s.listEntries(w, r, fail)
			}
		case http.MethodPost:
			if need(scopeWrite) {
				s.postEntry(w, r, fail, faults)
			}
		default:
			methodNotAllowed("GET, POST")
		}
	case strings.HasPrefix(rest, "/ecritures/") && !strings.Contains(rest[len("/ecritures/"):], "/") && rest != "/ecritures/":
		if r.Method != http.MethodGet {
			methodNotAllowed("GET")
			return
		}
		if need(scopeRead) {
			s.getEntry(w, rest[len("/ecritures/"):], fail)
		}
	case rest == "/exercices" || rest == "/comptes" || rest == "/tiers":
		if r.Method != http.MethodGet {
			methodNotAllowed("GET")
			return
		}
		if !need(scopeRead) {
			return
		}
		switch rest {
		case "/exercices":
			writeJSON(w, http.StatusOK, map[string]any{"data": s.years})
		case "/comptes":
			writeJSON(w, http.StatusOK, map[string]any{"data": s.accounts})
		default:
			s.listTiers(w, r)
		}
	default:
		fail(http.StatusNotFound, comptentra.CodeNotFound, "no such path: "+r.URL.Path, nil)
	}
}

type failFunc func(status int, code, msg string, details []comptentra.FieldDetail)

func (s *Server) scopesOf(key string) scope {
	if key == "" {
		return 0
	}
	if subtle.ConstantTimeCompare([]byte(key), []byte(s.apiKey)) == 1 {
		return scopeRead | scopeWrite
	}
	if s.roKey != "" && subtle.ConstantTimeCompare([]byte(key), []byte(s.roKey)) == 1 {
		return scopeRead
	}
	return 0
}

func (s *Server) draw(rate float64) bool {
	if rate <= 0 {
		return false
	}
	if rate >= 1 {
		return true
	}
	s.rngMu.Lock()
	defer s.rngMu.Unlock()
	return s.rng.Float64() < rate
}

func (s *Server) countFault() {
	s.mu.Lock()
	s.stats.FaultsInjected++
	s.mu.Unlock()
}

// readBody reads at most MaxBodyBytes; ok is false when an error was written.
func readBody(w http.ResponseWriter, r *http.Request, fail failFunc) ([]byte, bool) {
	if r.ContentLength > MaxBodyBytes {
		fail(http.StatusRequestEntityTooLarge, comptentra.CodePayloadTooLarge, "body over 1 MiB", nil)
		return nil, false
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			fail(http.StatusRequestEntityTooLarge, comptentra.CodePayloadTooLarge, "body over 1 MiB", nil)
		} else {
			fail(http.StatusBadRequest, comptentra.CodeJSONInvalide, "cannot read body: "+err.Error(), nil)
		}
		return nil, false
	}
	return body, true
}

// decodeStrict decodes exactly one JSON value into v: unknown fields are accepted, wrong
// types and trailing data are not.
func decodeStrict(body []byte, v any, disallowUnknown bool) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	if disallowUnknown {
		dec.DisallowUnknownFields()
	}
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("trailing data after the JSON value")
	}
	return nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		writeError(w, http.StatusInternalServerError, comptentra.CodeInternal, err.Error(), nil)
		return
	}
	writeRaw(w, status, b)
}

func writeRaw(w http.ResponseWriter, status int, b []byte) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(b)
	_, _ = w.Write([]byte("\n"))
}

func writeError(w http.ResponseWriter, status int, code, msg string, details []comptentra.FieldDetail) {
	if rec, ok := w.(*statusRecorder); ok {
		rec.code = code
	}
	b, _ := json.Marshal(comptentra.ErrorBody{Error: comptentra.ErrorDetail{Code: code, Message: msg, Details: details}})
	writeRaw(w, status, b)
}

// ---------------------------------------------------------------------------
// /_sandbox/

func (s *Server) serveSandbox(w *statusRecorder, r *http.Request, rest string) {
	noFail := func(status int, code, msg string, details []comptentra.FieldDetail) {
		writeError(w, status, code, msg, details)
	}
	methodNotAllowed := func(allow string) {
		w.Header().Set("Allow", allow)
		writeError(w, http.StatusMethodNotAllowed, comptentra.CodeMethodNotAllowed, "method "+r.Method+" not allowed", nil)
	}
	switch rest {
	case "faults":
		switch r.Method {
		case http.MethodGet:
			writeJSON(w, http.StatusOK, s.Faults())
		case http.MethodDelete:
			s.ClearFaults()
			writeJSON(w, http.StatusOK, s.Faults())
		case http.MethodPost:
			body, ok := readBody(w, r, noFail)
			if !ok {
				return
			}
			var f Faults
			if err := decodeStrict(body, &f, true); err != nil {
				writeError(w, http.StatusBadRequest, comptentra.CodeJSONInvalide, err.Error(), nil)
				return
			}
			if err := s.SetFaults(f); err != nil {
				writeError(w, http.StatusUnprocessableEntity, CodeParametreInvalide, err.Error(), nil)
				return
			}
			writeJSON(w, http.StatusOK, s.Faults())
		default:
			methodNotAllowed("GET, POST, DELETE")
		}
	case "reset":
		if r.Method != http.MethodPost {
			methodNotAllowed("POST")
			return
		}
		s.Reset()
		writeJSON(w, http.StatusOK, map[string]any{"reset": true})
	case "stats":
		if r.Method != http.MethodGet {
			methodNotAllowed("GET")
			return
		}
		writeJSON(w, http.StatusOK, s.Stats())
	case "entries":
		if r.Method != http.MethodGet {
			methodNotAllowed("GET")
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"data": s.Entries()})
	case "idempotency":
		switch r.Method {
		case http.MethodGet:
			writeJSON(w, http.StatusOK, map[string]bool{"enabled": s.IdempotencyEnabled()})
		case http.MethodPost:
			body, ok := readBody(w, r, noFail)
			if !ok {
				return
			}
			var v struct {
				Enabled *bool `json:"enabled"`
			}
			if err := decodeStrict(body, &v, true); err != nil {
				writeError(w, http.StatusBadRequest, comptentra.CodeJSONInvalide, err.Error(), nil)
				return
			}
			if v.Enabled == nil {
				writeError(w, http.StatusUnprocessableEntity, CodeParametreInvalide, "enabled (boolean) is required",
					[]comptentra.FieldDetail{{Field: "enabled", Issue: "required"}})
				return
			}
			s.SetDisableIdempotency(!*v.Enabled)
			writeJSON(w, http.StatusOK, map[string]bool{"enabled": s.IdempotencyEnabled()})
		default:
			methodNotAllowed("GET, POST")
		}
	default:
		writeError(w, http.StatusNotFound, comptentra.CodeNotFound, "no such sandbox control: "+r.URL.Path, nil)
	}
}

// ---------------------------------------------------------------------------
// helpers

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func validateKey(k string) error {
	if len(k) > 255 {
		return errors.New("longer than 255 characters")
	}
	for _, c := range k {
		if c <= ' ' || c > '~' {
			return errors.New("must be visible ASCII without spaces")
		}
	}
	return nil
}

func cloneEntry(e comptentra.Entry) comptentra.Entry {
	e.Lignes = append([]comptentra.Line(nil), e.Lignes...)
	return e
}
