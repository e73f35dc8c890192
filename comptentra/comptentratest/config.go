package comptentratest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
	_ "time/tzdata" // Europe/Paris even on hosts without a zoneinfo database

	"github.com/servolution/stripe-comptentra-sync/comptentra"
)

// DefaultAccounts is the default chart: every account the booking rules use by default
// (docs/booking-rules.md) plus common PCG accounts, with French labels, sorted by numero.
func DefaultAccounts() []comptentra.Account {
	accs := []comptentra.Account{
		{Numero: "101000", Libelle: "Capital"},
		{Numero: "106100", Libelle: "Réserve légale"},
		{Numero: "108000", Libelle: "Compte de l'exploitant"},
		{Numero: "120000", Libelle: "Résultat de l'exercice (bénéfice)"},
		{Numero: "129000", Libelle: "Résultat de l'exercice (perte)"},
		{Numero: "164000", Libelle: "Emprunts auprès des établissements de crédit"},
		{Numero: "218300", Libelle: "Matériel de bureau et matériel informatique"},
		{Numero: "401000", Libelle: "Fournisseurs"},
		{Numero: "404000", Libelle: "Fournisseurs d'immobilisations"},
		{Numero: "408000", Libelle: "Fournisseurs - Factures non parvenues"},
		{Numero: "409000", Libelle: "Fournisseurs débiteurs"},
		{Numero: "411000", Libelle: "Clients"},
		{Numero: "416000", Libelle: "Clients douteux ou litigieux"},
		{Numero: "418000", Libelle: "Clients - Produits non encore facturés"},
		{Numero: "419000", Libelle: "Clients créditeurs"},
		{Numero: "421000", Libelle: "Personnel - Rémunérations dues"},
		{Numero: "431000", Libelle: "Sécurité sociale"},
		{Numero: "445510", Libelle: "TVA à décaisser"},
		{Numero: "445620", Libelle: "TVA déductible sur immobilisations"},
		{Numero: "445660", Libelle: "TVA déductible sur autres biens et services"},
		{Numero: "445670", Libelle: "Crédit de TVA à reporter"},
		{Numero: "445710", Libelle: "TVA collectée"},
		{Numero: "445711", Libelle: "TVA collectée 20 %"},
		{Numero: "445712", Libelle: "TVA collectée (tous taux)"},
		{Numero: "445713", Libelle: "TVA collectée 10 %"},
		{Numero: "445714", Libelle: "TVA collectée 5,5 %"},
		{Numero: "445715", Libelle: "TVA collectée 2,1 %"},
		{Numero: "445800", Libelle: "TVA à régulariser ou en attente"},
		{Numero: "455000", Libelle: "Associés - Comptes courants"},
		{Numero: "467000", Libelle: "Autres comptes débiteurs ou créditeurs"},
		{Numero: "471000", Libelle: "Compte d'attente"},
		{Numero: "486000", Libelle: "Charges constatées d'avance"},
		{Numero: "487000", Libelle: "Produits constatés d'avance"},
		{Numero: "512000", Libelle: "Banque"},
		{Numero: "517000", Libelle: "Autres organismes financiers"},
		{Numero: "517100", Libelle: "Stripe - Solde"},
		{Numero: "530000", Libelle: "Caisse"},
		{Numero: "580000", Libelle: "Virements internes"},
		{Numero: "601000", Libelle: "Achats stockés - Matières premières"},
		{Numero: "604000", Libelle: "Achats d'études et prestations de services"},
		{Numero: "606000", Libelle: "Achats non stockés de matières et fournitures"},
		{Numero: "607000", Libelle: "Achats de marchandises"},
		{Numero: "611000", Libelle: "Sous-traitance générale"},
		{Numero: "613000", Libelle: "Locations"},
		{Numero: "616000", Libelle: "Primes d'assurances"},
		{Numero: "622600", Libelle: "Honoraires"},
		{Numero: "623000", Libelle: "Publicité, publications, relations publiques"},
		{Numero: "625100", Libelle: "Voyages et déplacements"},
		{Numero: "626000", Libelle: "Frais postaux et de télécommunications"},
		{Numero: "627000", Libelle: "Services bancaires et assimilés"},
		{Numero: "627800", Libelle: "Autres frais et commissions sur prestations de services"},
		{Numero: "635000", Libelle: "Autres impôts, taxes et versements assimilés"},
		{Numero: "641000", Libelle: "Rémunérations du personnel"},
		{Numero: "645000", Libelle: "Charges de sécurité sociale et de prévoyance"},
		{Numero: "651000", Libelle: "Redevances pour concessions, brevets, licences, logiciels"},
		{Numero: "654000", Libelle: "Pertes sur créances irrécouvrables"},
		{Numero: "656000", Libelle: "Pertes de change sur créances et dettes commerciales"},
		{Numero: "658000", Libelle: "Charges diverses de gestion courante"},
		{Numero: "661000", Libelle: "Charges d'intérêts"},
		{Numero: "666000", Libelle: "Pertes de change financières"},
		{Numero: "671000", Libelle: "Charges exceptionnelles sur opérations de gestion"},
		{Numero: "681100", Libelle: "Dotations aux amortissements des immobilisations"},
		{Numero: "701000", Libelle: "Ventes de produits finis"},
		{Numero: "706000", Libelle: "Prestations de services"},
		{Numero: "707000", Libelle: "Ventes de marchandises"},
		{Numero: "708000", Libelle: "Produits des activités annexes"},
		{Numero: "709000", Libelle: "Rabais, remises et ristournes accordés par l'entreprise"},
		{Numero: "741000", Libelle: "Subventions d'exploitation"},
		{Numero: "756000", Libelle: "Gains de change sur créances et dettes commerciales"},
		{Numero: "758000", Libelle: "Produits divers de gestion courante"},
		{Numero: "764000", Libelle: "Revenus des valeurs mobilières de placement"},
		{Numero: "766000", Libelle: "Gains de change financiers"},
		{Numero: "768000", Libelle: "Autres produits financiers"},
		{Numero: "771000", Libelle: "Produits exceptionnels sur opérations de gestion"},
	}
	sort.Slice(accs, func(i, j int) bool { return accs[i].Numero < accs[j].Numero })
	return accs
}

func validateAccounts(accs []comptentra.Account) error {
	if len(accs) == 0 {
		return errors.New("the chart of accounts is empty")
	}
	seen := map[string]bool{}
	var errs []error
	for i, a := range accs {
		switch {
		case a.Numero == "" || strings.TrimSpace(a.Numero) != a.Numero || strings.ContainsAny(a.Numero, " \t"):
			errs = append(errs, fmt.Errorf("account %d: numero %q is empty or has spaces", i, a.Numero))
		case len(a.Numero) > 20:
			errs = append(errs, fmt.Errorf("account %d: numero %q longer than 20 characters", i, a.Numero))
		case seen[a.Numero]:
			errs = append(errs, fmt.Errorf("account %d: duplicate numero %q", i, a.Numero))
		}
		seen[a.Numero] = true
	}
	return errors.Join(errs...)
}

// ParseChart parses a chart of accounts: either `[{"numero","libelle"}, ...]` or
// `{"data": [...]}` (the shape of GET /comptes).
func ParseChart(b []byte) ([]comptentra.Account, error) {
	b = bytes.TrimSpace(b)
	var accs []comptentra.Account
	if len(b) > 0 && b[0] == '{' {
		var wrap struct {
			Data *[]comptentra.Account `json:"data"`
		}
		if err := decodeStrict(b, &wrap, true); err != nil {
			return nil, fmt.Errorf("invalid chart JSON: %w", err)
		}
		if wrap.Data == nil {
			return nil, errors.New(`invalid chart JSON: object without "data"`)
		}
		accs = *wrap.Data
	} else if err := decodeStrict(b, &accs, true); err != nil {
		return nil, fmt.Errorf("invalid chart JSON: %w", err)
	}
	if err := validateAccounts(accs); err != nil {
		return nil, err
	}
	return accs, nil
}

// LoadChartFile reads a chart of accounts file (see ParseChart).
func LoadChartFile(path string) ([]comptentra.Account, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return ParseChart(b)
}

// ParisLocation is Europe/Paris.
func ParisLocation() *time.Location {
	loc, err := time.LoadLocation("Europe/Paris")
	if err != nil { // cannot happen with time/tzdata
		return time.UTC
	}
	return loc
}

// DefaultFiscalYears: the calendar year of now in Europe/Paris open, the previous one closed.
func DefaultFiscalYears(now time.Time) []comptentra.FiscalYear {
	y := now.In(ParisLocation()).Year()
	return []comptentra.FiscalYear{calendarYear(y-1, comptentra.StatutClos), calendarYear(y, comptentra.StatutOuvert)}
}

func calendarYear(y int, statut string) comptentra.FiscalYear {
	return comptentra.FiscalYear{
		ID:        fmt.Sprintf("ex_%04d", y),
		DateDebut: fmt.Sprintf("%04d-01-01", y),
		DateFin:   fmt.Sprintf("%04d-12-31", y),
		Statut:    statut,
	}
}

// ParseFiscalYears parses a comma-separated spec: "2025=clos,2026=ouvert" (calendar years)
// or "2025-07-01..2026-06-30=ouvert" (any period), statuses "ouvert" or "clos". Years must
// not overlap. The result is sorted by start date; ids are "ex_2026" for a calendar year,
// else "ex_20250701_20260630".
func ParseFiscalYears(spec string) ([]comptentra.FiscalYear, error) {
	if strings.TrimSpace(spec) == "" {
		return nil, errors.New("empty fiscal year spec")
	}
	var out []comptentra.FiscalYear
	for _, part := range strings.Split(spec, ",") {
		part = strings.TrimSpace(part)
		period, statut, ok := strings.Cut(part, "=")
		if !ok {
			return nil, fmt.Errorf("%q: want PERIOD=ouvert|clos", part)
		}
		period, statut = strings.TrimSpace(period), strings.TrimSpace(statut)
		if statut != comptentra.StatutOuvert && statut != comptentra.StatutClos {
			return nil, fmt.Errorf("%q: status %q is neither %q nor %q", part, statut, comptentra.StatutOuvert, comptentra.StatutClos)
		}
		if from, to, isRange := strings.Cut(period, ".."); isRange {
			from, to = strings.TrimSpace(from), strings.TrimSpace(to)
			if !validDate(from) || !validDate(to) {
				return nil, fmt.Errorf("%q: want YYYY-MM-DD..YYYY-MM-DD", part)
			}
			out = append(out, comptentra.FiscalYear{DateDebut: from, DateFin: to, Statut: statut})
			continue
		}
		if len(period) != 4 {
			return nil, fmt.Errorf("%q: want a 4-digit year or YYYY-MM-DD..YYYY-MM-DD", part)
		}
		y, err := strconv.Atoi(period)
		if err != nil || y < 1900 || y > 9998 {
			return nil, fmt.Errorf("%q: want a 4-digit year or YYYY-MM-DD..YYYY-MM-DD", part)
		}
		out = append(out, calendarYear(y, statut))
	}
	return normalizeFiscalYears(out)
}

// normalizeFiscalYears validates (dates, statuses, order, overlaps, unique ids), fills
// missing ids and sorts by start date.
func normalizeFiscalYears(in []comptentra.FiscalYear) ([]comptentra.FiscalYear, error) {
	if len(in) == 0 {
		return nil, errors.New("no fiscal year")
	}
	out := append([]comptentra.FiscalYear(nil), in...)
	for i := range out {
		fy := &out[i]
		if !validDate(fy.DateDebut) || !validDate(fy.DateFin) {
			return nil, fmt.Errorf("fiscal year %d: invalid dates %q..%q", i, fy.DateDebut, fy.DateFin)
		}
		if fy.DateDebut > fy.DateFin {
			return nil, fmt.Errorf("fiscal year %s..%s: starts after it ends", fy.DateDebut, fy.DateFin)
		}
		if fy.Statut != comptentra.StatutOuvert && fy.Statut != comptentra.StatutClos {
			return nil, fmt.Errorf("fiscal year %s..%s: status %q is neither ouvert nor clos", fy.DateDebut, fy.DateFin, fy.Statut)
		}
		if fy.ID == "" {
			if fy.DateDebut[4:] == "-01-01" && fy.DateFin[4:] == "-12-31" && fy.DateDebut[:4] == fy.DateFin[:4] {
				fy.ID = "ex_" + fy.DateDebut[:4]
			} else {
				fy.ID = "ex_" + strings.ReplaceAll(fy.DateDebut, "-", "") + "_" + strings.ReplaceAll(fy.DateFin, "-", "")
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].DateDebut < out[j].DateDebut })
	ids := map[string]bool{}
	for i, fy := range out {
		if ids[fy.ID] {
			return nil, fmt.Errorf("duplicate fiscal year id %q", fy.ID)
		}
		ids[fy.ID] = true
		if i > 0 && fy.DateDebut <= out[i-1].DateFin {
			return nil, fmt.Errorf("fiscal years %s and %s overlap", out[i-1].ID, fy.ID)
		}
	}
	return out, nil
}

// Environment variables read by ConfigFromEnv.
const (
	EnvAddr               = "SANDBOX_ADDR"
	EnvAPIKey             = "SANDBOX_API_KEY"
	EnvReadOnlyAPIKey     = "SANDBOX_READ_ONLY_API_KEY"
	EnvFiscalYears        = "SANDBOX_FISCAL_YEARS"
	EnvChartFile          = "SANDBOX_CHART_FILE"
	EnvDataFile           = "SANDBOX_DATA_FILE"
	EnvDisableIdempotency = "SANDBOX_DISABLE_IDEMPOTENCY"
	EnvSeed               = "SANDBOX_SEED"
	DefaultAddr           = ":8090"
)

// ConfigFromEnv reads the sandbox configuration (docs/comptentra-api.md, "The sandbox"):
// SANDBOX_ADDR (default ":8090"), SANDBOX_API_KEY ("" → generated by New),
// SANDBOX_READ_ONLY_API_KEY (optional read-only key), SANDBOX_FISCAL_YEARS (ParseFiscalYears),
// SANDBOX_CHART_FILE (ParseChart), SANDBOX_DATA_FILE (its directory must exist),
// SANDBOX_DISABLE_IDEMPOTENCY (strconv.ParseBool, default false), SANDBOX_SEED (int64).
// Every invalid setting is reported, each error naming its variable. Options.Now and
// Options.Logger are left for the caller.
func ConfigFromEnv(getenv func(string) string) (Options, string, error) {
	var opts Options
	var errs []error
	bad := func(name string, err error) { errs = append(errs, fmt.Errorf("%s: %w", name, err)) }

	addr := strings.TrimSpace(getenv(EnvAddr))
	if addr == "" {
		addr = DefaultAddr
	}
	if _, port, err := net.SplitHostPort(addr); err != nil {
		bad(EnvAddr, err)
	} else if p, err := strconv.Atoi(port); err != nil || p < 0 || p > 65535 {
		bad(EnvAddr, fmt.Errorf("invalid port %q", port))
	}
	if v := getenv(EnvAPIKey); v != "" {
		if err := validateKey(v); err != nil {
			bad(EnvAPIKey, err)
		}
		opts.APIKey = v
	}
	if v := getenv(EnvReadOnlyAPIKey); v != "" {
		if err := validateKey(v); err != nil {
			bad(EnvReadOnlyAPIKey, err)
		} else if v == opts.APIKey {
			bad(EnvReadOnlyAPIKey, errors.New("must differ from "+EnvAPIKey))
		}
		opts.ReadOnlyKey = v
	}
	if v := getenv(EnvFiscalYears); strings.TrimSpace(v) != "" {
		fys, err := ParseFiscalYears(v)
		if err != nil {
			bad(EnvFiscalYears, err)
		}
		opts.FiscalYears = fys
	}
	if v := strings.TrimSpace(getenv(EnvChartFile)); v != "" {
		accs, err := LoadChartFile(v)
		if err != nil {
			bad(EnvChartFile, err)
		}
		opts.Accounts = accs
	}
	if v := strings.TrimSpace(getenv(EnvDataFile)); v != "" {
		if st, err := os.Stat(filepath.Dir(v)); err != nil {
			bad(EnvDataFile, fmt.Errorf("directory: %w", err))
		} else if !st.IsDir() {
			bad(EnvDataFile, fmt.Errorf("%s is not a directory", filepath.Dir(v)))
		} else if st, err := os.Stat(v); err == nil && st.IsDir() {
			bad(EnvDataFile, fmt.Errorf("%s is a directory", v))
		}
		opts.DataFile = v
	}
	if v := strings.TrimSpace(getenv(EnvDisableIdempotency)); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			bad(EnvDisableIdempotency, fmt.Errorf("want a boolean, got %q", v))
		}
		opts.DisableIdempotency = b
	}
	if v := strings.TrimSpace(getenv(EnvSeed)); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			bad(EnvSeed, fmt.Errorf("want an integer, got %q", v))
		}
		opts.Seed = n
	}
	if err := errors.Join(errs...); err != nil {
		return Options{}, "", err
	}
	return opts, addr, nil
}

// decodeStrictNumber decodes one JSON value keeping numbers as json.Number.
func decodeStrictNumber(body []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("trailing data after the JSON value")
	}
	return nil
}
