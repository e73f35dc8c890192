package comptentratest

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/big"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/servolution/stripe-comptentra-sync/comptentra"
)

// ledger is the mutable state, guarded by Server.mu.
type ledger struct {
	entries      []comptentra.Entry
	byID         map[string]int
	counters     map[string]int // journal → last numero
	tiers        []comptentra.Tiers
	tiersByRef   map[string]int
	tiersByEmail map[string]int
	auxUsed      map[string]bool
	idem         map[string]*idemRecord
	lastMS       int64
}

func (l *ledger) init() {
	*l = ledger{
		byID:         map[string]int{},
		counters:     map[string]int{},
		tiersByRef:   map[string]int{},
		tiersByEmail: map[string]int{},
		auxUsed:      map[string]bool{},
		idem:         map[string]*idemRecord{},
	}
}

// idemRecord remembers the outcome of a POST /ecritures under an Idempotency-Key.
type idemRecord struct {
	Scope      string          `json:"scope"` // sha256 of the API key, hex (keys are never stored)
	Key        string          `json:"key"`
	Hash       string          `json:"body_sha256"` // of the canonical JSON body
	Status     int             `json:"status"`
	Body       json.RawMessage `json:"body"`
	CreatedAt  time.Time       `json:"created_at"`
	inProgress bool
}

func idemMapKey(scope, key string) string { return scope + "\x00" + key }

func scopeOf(apiKey string) string {
	h := sha256.Sum256([]byte(apiKey))
	return hex.EncodeToString(h[:])
}

// canonicalHash hashes the JSON body independently of key order and whitespace.
func canonicalHash(body []byte) (string, error) {
	var v any
	if err := decodeStrictNumber(body, &v); err != nil {
		return "", err
	}
	b, err := json.Marshal(v)
	if err != nil {
		return "", err
	}
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:]), nil
}

func (s *Server) postEntry(w http.ResponseWriter, r *http.Request, fail failFunc, faults Faults) {
	body, ok := readBody(w, r, fail)
	if !ok {
		return
	}
	idemKey := r.Header.Get(comptentra.HeaderIdempotencyKey)
	useIdem := idemKey != "" && !s.disableIdem.Load()
	if useIdem && len(idemKey) > MaxIdempotencyKeyLen {
		fail(http.StatusBadRequest, CodeIdempotencyKeyInvalide, "Idempotency-Key longer than 255 characters",
			[]comptentra.FieldDetail{{Field: comptentra.HeaderIdempotencyKey, Issue: "longer than 255 characters"}})
		return
	}
	var ne comptentra.NewEntry
	if err := decodeStrict(body, &ne, false); err != nil {
		fail(http.StatusBadRequest, comptentra.CodeJSONInvalide, "invalid JSON: "+err.Error(), nil)
		return
	}
	var hash, mk string
	var rec *idemRecord
	if useIdem {
		var err error
		if hash, err = canonicalHash(body); err != nil {
			fail(http.StatusBadRequest, comptentra.CodeJSONInvalide, "invalid JSON: "+err.Error(), nil)
			return
		}
		sc := scopeOf(r.Header.Get(comptentra.HeaderAPIKey))
		mk = idemMapKey(sc, idemKey)
		s.mu.Lock()
		if old := s.ledger.idem[mk]; old != nil && !old.inProgress && s.now().Sub(old.CreatedAt) >= IdempotencyWindow {
			delete(s.ledger.idem, mk)
		}
		if old := s.ledger.idem[mk]; old != nil {
			switch {
			case old.Hash != hash:
				s.mu.Unlock()
				fail(http.StatusConflict, comptentra.CodeIdempotencyConflict,
					"Idempotency-Key already used with a different body", nil)
			case old.inProgress:
				s.mu.Unlock()
				fail(http.StatusConflict, comptentra.CodeIdempotencyInProgress,
					"a request with this Idempotency-Key is still being processed; retry later", nil)
			default:
				s.stats.IdempotentReplays++
				status, b := old.Status, append([]byte(nil), old.Body...)
				s.mu.Unlock()
				w.Header().Set(comptentra.HeaderIdempotentReplayed, "true")
				writeRaw(w, status, b)
			}
			return
		}
		rec = &idemRecord{Scope: sc, Key: idemKey, Hash: hash, CreatedAt: s.now(), inProgress: true}
		s.ledger.idem[mk] = rec
		s.mu.Unlock()
	}
	if hook := s.beforeProcess; hook != nil {
		hook()
	}

	s.mu.Lock()
	issues := s.validate(&ne)
	if len(issues) > 0 {
		if rec != nil && s.ledger.idem[mk] == rec {
			delete(s.ledger.idem, mk)
		}
		s.mu.Unlock()
		code := issues[0].code
		var details []comptentra.FieldDetail
		for _, is := range issues {
			if is.code == code {
				details = append(details, comptentra.FieldDetail{Field: is.field, Issue: is.msg})
			}
		}
		fail(http.StatusUnprocessableEntity, code, "écriture refusée: "+details[0].Issue, details)
		return
	}
	entry := s.createLocked(&ne)
	b, _ := json.Marshal(entry)
	if rec != nil {
		rec.Status, rec.Body, rec.inProgress = http.StatusCreated, b, false
	}
	if err := s.persistLocked(); err != nil {
		s.rollbackLastLocked()
		if rec != nil && s.ledger.idem[mk] == rec {
			delete(s.ledger.idem, mk)
		}
		s.mu.Unlock()
		s.log.Error("comptentra sandbox: persist", "err", err)
		fail(http.StatusInternalServerError, comptentra.CodeInternal, "cannot persist the entry: "+err.Error(), nil)
		return
	}
	s.stats.EntriesCreated++
	s.mu.Unlock()

	if s.draw(faults.CommitThenFailRate) {
		s.countFault()
		fail(http.StatusBadGateway, comptentra.CodeInternal, "injected fault: entry committed, response lost", nil)
		return
	}
	w.Header().Set("Location", apiPrefix+"/ecritures/"+entry.ID)
	writeRaw(w, http.StatusCreated, b)
}

type issue struct{ code, field, msg string }

var (
	dateRe   = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}$`)
	deviseRe = regexp.MustCompile(`^[A-Z]{3}$`)
)

func validDate(d string) bool {
	if !dateRe.MatchString(d) {
		return false
	}
	_, err := time.Parse(time.DateOnly, d)
	return err == nil
}

// IsCustomerAccount reports whether an account needs a tiers (411… and 416…).
func IsCustomerAccount(compte string) bool {
	return strings.HasPrefix(compte, "411") || strings.HasPrefix(compte, "416")
}

// validate returns the problems of ne, in field order; the response code is the first's.
func (s *Server) validate(ne *comptentra.NewEntry) []issue {
	var out []issue
	add := func(code, field, msg string) { out = append(out, issue{code, field, msg}) }

	if strings.TrimSpace(ne.Libelle) == "" {
		add(comptentra.CodeLibelleRequis, "libelle", "libelle is required")
	} else if utf8.RuneCountInString(ne.Libelle) > MaxLibelleChars {
		add(comptentra.CodeLibelleRequis, "libelle", "libelle longer than 255 characters")
	}
	if !s.journalSet[ne.Journal] {
		add(comptentra.CodeJournalInconnu, "journal", fmt.Sprintf("unknown journal %q (known: %s)", ne.Journal, strings.Join(Journals, ", ")))
	}
	if !validDate(ne.Date) {
		add(comptentra.CodeDateInvalide, "date", fmt.Sprintf("%q is not a YYYY-MM-DD date", ne.Date))
	} else if fy, ok := s.fiscalYearOf(ne.Date); !ok {
		add(comptentra.CodeHorsExercice, "date", "no fiscal year covers "+ne.Date)
	} else if fy.Statut == comptentra.StatutClos {
		add(comptentra.CodeExerciceClos, "date", fmt.Sprintf("%s falls in the closed fiscal year %s", ne.Date, fy.ID))
	}
	if utf8.RuneCountInString(ne.PieceRef) > MaxPieceRefChars {
		add(CodePieceRefInvalide, "piece_ref", "piece_ref longer than 64 characters")
	}
	if len(ne.Lignes) < 2 {
		add(comptentra.CodeLigneInvalide, "lignes", fmt.Sprintf("an entry needs at least 2 lines, got %d", len(ne.Lignes)))
	}
	amountsOK := true
	debit, credit := new(big.Int), new(big.Int)
	for i, l := range ne.Lignes {
		f := fmt.Sprintf("lignes[%d]", i)
		if !s.accountSet[l.Compte] {
			add(comptentra.CodeCompteInconnu, f+".compte", fmt.Sprintf("account %q is not in the chart of accounts", l.Compte))
		}
		bad := func(field, msg string) { amountsOK = false; add(comptentra.CodeLigneInvalide, field, msg) }
		switch {
		case l.DebitCents < 0:
			bad(f+".debit_cents", "negative amount")
		case l.CreditCents < 0:
			bad(f+".credit_cents", "negative amount")
		case l.DebitCents > MaxAmountCents:
			bad(f+".debit_cents", "amount over 10^15 cents")
		case l.CreditCents > MaxAmountCents:
			bad(f+".credit_cents", "amount over 10^15 cents")
		case l.DebitCents > 0 && l.CreditCents > 0:
			bad(f, "a line is either a debit or a credit, not both")
		case l.DebitCents == 0 && l.CreditCents == 0:
			bad(f, "a line needs a non-zero debit or credit")
		}
		debit.Add(debit, big.NewInt(l.DebitCents))
		credit.Add(credit, big.NewInt(l.CreditCents))
		if IsCustomerAccount(l.Compte) && strings.TrimSpace(l.TiersEmail) == "" && strings.TrimSpace(l.TiersRef) == "" {
			add(comptentra.CodeTiersRequis, f+".tiers_ref", "a customer-account line needs tiers_ref or tiers_email")
		}
		if utf8.RuneCountInString(l.Libelle) > MaxLibelleChars {
			add(comptentra.CodeLibelleRequis, f+".libelle", "line libelle longer than 255 characters")
		}
		switch {
		case l.Devise != "" && !deviseRe.MatchString(l.Devise):
			add(comptentra.CodeDeviseInvalide, f+".devise", fmt.Sprintf("devise %q is not 3 upper-case letters (ISO 4217)", l.Devise))
		case l.Devise != "" && l.MontantDeviseCents == 0:
			add(comptentra.CodeDeviseInvalide, f+".montant_devise_cents", "devise given without montant_devise_cents")
		case l.Devise == "" && l.MontantDeviseCents != 0:
			add(comptentra.CodeDeviseInvalide, f+".devise", "montant_devise_cents given without devise")
		case l.MontantDeviseCents < 0 || l.MontantDeviseCents > MaxAmountCents:
			add(comptentra.CodeDeviseInvalide, f+".montant_devise_cents", "montant_devise_cents must be in 1..10^15")
		}
	}
	if amountsOK && len(ne.Lignes) >= 2 && debit.Cmp(credit) != 0 {
		add(comptentra.CodeDesequilibre, "lignes", fmt.Sprintf("unbalanced: debit %s ≠ credit %s cents", debit, credit))
	}
	return out
}

func (s *Server) fiscalYearOf(date string) (comptentra.FiscalYear, bool) {
	for _, fy := range s.years {
		if fy.DateDebut <= date && date <= fy.DateFin {
			return fy, true
		}
	}
	return comptentra.FiscalYear{}, false
}

// createLocked stores a validated entry: tiers, numero, id.
func (s *Server) createLocked(ne *comptentra.NewEntry) comptentra.Entry {
	now := s.now()
	l := &s.ledger
	l.counters[ne.Journal]++
	e := comptentra.Entry{
		ID:        "ecr_" + l.newULID(now, len(l.entries)),
		Numero:    fmt.Sprintf("%s-%06d", ne.Journal, l.counters[ne.Journal]),
		Date:      ne.Date,
		Journal:   ne.Journal,
		Libelle:   ne.Libelle,
		PieceRef:  ne.PieceRef,
		CreatedAt: now.UTC().Truncate(time.Second),
		Lignes:    make([]comptentra.Line, len(ne.Lignes)),
	}
	for i, ln := range ne.Lignes {
		if ln.Libelle == "" {
			ln.Libelle = ne.Libelle
		}
		ln.CompteAuxiliaire, ln.TiersID = "", ""
		if IsCustomerAccount(ln.Compte) {
			t := l.resolveTiers(ln, now)
			ln.CompteAuxiliaire, ln.TiersID = t.CompteAuxiliaire, t.ID
		}
		e.Lignes[i] = ln
	}
	l.byID[e.ID] = len(l.entries)
	l.entries = append(l.entries, e)
	return e
}

func (s *Server) rollbackLastLocked() {
	l := &s.ledger
	if len(l.entries) == 0 {
		return
	}
	e := l.entries[len(l.entries)-1]
	l.entries = l.entries[:len(l.entries)-1]
	delete(l.byID, e.ID)
	l.counters[e.Journal]--
}

// resolveTiers finds the customer by tiers_ref, else by tiers_email, and creates it when
// unknown.
func (l *ledger) resolveTiers(ln comptentra.Line, now time.Time) comptentra.Tiers {
	ref := strings.TrimSpace(ln.TiersRef)
	email := strings.ToLower(strings.TrimSpace(ln.TiersEmail))
	idx, found := -1, false
	if ref != "" {
		idx, found = l.tiersByRef[ref]
	} else {
		idx, found = l.tiersByEmail[email]
	}
	if found {
		t := &l.tiers[idx]
		if t.Email == "" && email != "" {
			t.Email = email
			if _, taken := l.tiersByEmail[email]; !taken {
				l.tiersByEmail[email] = idx
			}
		}
		if t.Nom == "" && ln.TiersNom != "" {
			t.Nom = ln.TiersNom
		}
		return *t
	}
	t := comptentra.Tiers{
		ID:    "tie_" + l.newULID(now, len(l.tiers)),
		Nom:   ln.TiersNom,
		Email: email,
		Ref:   ref,
	}
	base := fmt.Sprintf("411T%06d", len(l.tiers)+1)
	if ref != "" {
		base = "411" + sanitizeAux(ref)
	}
	aux := base
	for n := 2; l.auxUsed[aux]; n++ {
		aux = fmt.Sprintf("%s_%d", base, n)
	}
	t.CompteAuxiliaire = aux
	l.addTiers(t)
	return t
}

func (l *ledger) addTiers(t comptentra.Tiers) {
	idx := len(l.tiers)
	l.tiers = append(l.tiers, t)
	l.auxUsed[t.CompteAuxiliaire] = true
	if t.Ref != "" {
		if _, ok := l.tiersByRef[t.Ref]; !ok {
			l.tiersByRef[t.Ref] = idx
		}
	}
	if t.Email != "" {
		if _, ok := l.tiersByEmail[t.Email]; !ok {
			l.tiersByEmail[t.Email] = idx
		}
	}
}

// sanitizeAux upper-cases ref and keeps [A-Z0-9_] (others become "_"), at most 17 characters.
func sanitizeAux(ref string) string {
	var b strings.Builder
	for _, c := range strings.ToUpper(ref) {
		if b.Len() >= 17 {
			break
		}
		if (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' {
			b.WriteRune(c)
		} else {
			b.WriteByte('_')
		}
	}
	return b.String()
}

const crockford = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

// newULID returns a 26-character id sortable in creation order: milliseconds (never going
// backwards), a sequence, then randomness.
func (l *ledger) newULID(now time.Time, seq int) string {
	ms := now.UnixMilli()
	if ms < l.lastMS {
		ms = l.lastMS
	}
	l.lastMS = ms
	enc := func(v uint64, n int) string {
		b := make([]byte, n)
		for i := n - 1; i >= 0; i-- {
			b[i] = crockford[v&31]
			v >>= 5
		}
		return string(b)
	}
	r := randomHex(8)
	rv, _ := strconv.ParseUint(r, 16, 64)
	return enc(uint64(ms), 10) + enc(uint64(seq), 6) + enc(rv, 10)
}

// ---------------------------------------------------------------------------
// reads

func (s *Server) getEntry(w http.ResponseWriter, id string, fail failFunc) {
	s.mu.Lock()
	idx, ok := s.ledger.byID[id]
	var e comptentra.Entry
	if ok {
		e = cloneEntry(s.ledger.entries[idx])
	}
	s.mu.Unlock()
	if !ok {
		fail(http.StatusNotFound, comptentra.CodeNotFound, "no entry "+id, nil)
		return
	}
	writeJSON(w, http.StatusOK, e)
}

type cursorPayload struct {
	Before int `json:"b"`
}

func encodeCursor(before int) string {
	b, _ := json.Marshal(cursorPayload{Before: before})
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeCursor(c string) (int, bool) {
	raw, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return 0, false
	}
	var p cursorPayload
	if err := decodeStrict(raw, &p, true); err != nil || p.Before < 0 {
		return 0, false
	}
	return p.Before, true
}

func (s *Server) listEntries(w http.ResponseWriter, r *http.Request, fail failFunc) {
	q := r.URL.Query()
	var details []comptentra.FieldDetail
	bad := func(field, msg string) { details = append(details, comptentra.FieldDetail{Field: field, Issue: msg}) }
	journal, pieceRef := q.Get("journal"), q.Get("piece_ref")
	from, to := q.Get("date_from"), q.Get("date_to")
	if journal != "" && !s.journalSet[journal] {
		bad("journal", "unknown journal")
	}
	if from != "" && !validDate(from) {
		bad("date_from", "not a YYYY-MM-DD date")
	}
	if to != "" && !validDate(to) {
		bad("date_to", "not a YYYY-MM-DD date")
	}
	if from != "" && to != "" && validDate(from) && validDate(to) && from > to {
		bad("date_from", "after date_to")
	}
	limit := DefaultListLimit
	if v := q.Get("limit"); v != "" || q.Has("limit") {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > MaxListLimit {
			bad("limit", "must be an integer in 1..200")
		}
		limit = n
	}
	s.mu.Lock()
	n := len(s.ledger.entries)
	s.mu.Unlock()
	start := n
	if c := q.Get("cursor"); c != "" || q.Has("cursor") {
		before, ok := decodeCursor(c)
		if !ok || before > n {
			bad("cursor", "invalid cursor")
		}
		start = before
	}
	if len(details) > 0 {
		fail(http.StatusBadRequest, CodeParametreInvalide, "invalid query parameter: "+details[0].Field, details)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	start = min(start, len(s.ledger.entries))
	match := func(e *comptentra.Entry) bool {
		return (journal == "" || e.Journal == journal) &&
			(pieceRef == "" || e.PieceRef == pieceRef) &&
			(from == "" || e.Date >= from) &&
			(to == "" || e.Date <= to)
	}
	page := comptentra.EntryPage{Data: []comptentra.Entry{}}
	last := -1
	for i := start - 1; i >= 0; i-- {
		e := &s.ledger.entries[i]
		if !match(e) {
			continue
		}
		if len(page.Data) == limit {
			c := encodeCursor(last)
			page.NextCursor = &c
			break
		}
		page.Data = append(page.Data, cloneEntry(*e))
		last = i
	}
	writeJSON(w, http.StatusOK, page)
}

func (s *Server) listTiers(w http.ResponseWriter, r *http.Request) {
	email := strings.ToLower(strings.TrimSpace(r.URL.Query().Get("email")))
	ref := strings.TrimSpace(r.URL.Query().Get("ref"))
	s.mu.Lock()
	out := []comptentra.Tiers{}
	for _, t := range s.ledger.tiers {
		if (email == "" || t.Email == email) && (ref == "" || t.Ref == ref) {
			out = append(out, t)
		}
	}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"data": out})
}
