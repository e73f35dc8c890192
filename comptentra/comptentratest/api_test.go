package comptentratest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/servolution/stripe-comptentra-sync/comptentra"
)

func TestCreateEntry(t *testing.T) {
	s, _ := newTest(t)
	r := post(t, s, sale())
	wantStatus(t, r, http.StatusCreated, "")
	e := r.entry(t)
	if !strings.HasPrefix(e.ID, "ecr_") || len(e.ID) != 4+26 {
		t.Errorf("id %q", e.ID)
	}
	if e.Numero != "VTE-000001" || e.Journal != "VTE" || e.Date != "2026-03-14" || e.PieceRef != "ch_1" {
		t.Errorf("entry %+v", e)
	}
	if !e.CreatedAt.Equal(time.Date(2026, 3, 14, 10, 1, 2, 0, time.UTC)) {
		t.Errorf("created_at %v", e.CreatedAt)
	}
	if got := r.header.Get("Location"); got != "/api/v1/ecritures/"+e.ID {
		t.Errorf("Location %q", got)
	}
	l0, l1, l2 := e.Lignes[0], e.Lignes[1], e.Lignes[2]
	if l0.CompteAuxiliaire != "411CUS_Q1" || !strings.HasPrefix(l0.TiersID, "tie_") {
		t.Errorf("tiers line %+v", l0)
	}
	if l1.CompteAuxiliaire != "" || l1.TiersID != "" {
		t.Errorf("non-customer line got tiers: %+v", l1)
	}
	if l0.Libelle != "Paiement Stripe ch_1" || l1.Libelle != "Paiement Stripe ch_1" || l2.Libelle != "TVA 20 %" {
		t.Errorf("line libelles %q %q %q", l0.Libelle, l1.Libelle, l2.Libelle)
	}
	// GET /ecritures/{id} returns the same entry; the sandbox sees it too.
	g := call(t, s, http.MethodGet, "/ecritures/"+e.ID, testROKey, nil)
	wantStatus(t, g, http.StatusOK, "")
	if string(g.body) != string(r.body) {
		t.Errorf("GET differs:\n%s\n%s", g.body, r.body)
	}
	if all := s.Entries(); len(all) != 1 || all[0].ID != e.ID {
		t.Errorf("Entries() = %+v", all)
	}
	tb := s.TrialBalance()
	if tb["411000"] != 12000 || tb["707000"] != -10000 || tb["445712"] != -2000 {
		t.Errorf("trial balance %v", tb)
	}
	if ab := s.AuxBalance(); ab["411CUS_Q1"] != 12000 || len(ab) != 1 {
		t.Errorf("aux balance %v", ab)
	}
}

func TestValidationCodes(t *testing.T) {
	long := strings.Repeat("é", 256)
	tests := []struct {
		name  string
		mod   func(e *comptentra.NewEntry)
		code  string
		field string
	}{
		{"unbalanced", func(e *comptentra.NewEntry) { e.Lignes[1].CreditCents = 9999 }, comptentra.CodeDesequilibre, "lignes"},
		{"one line", func(e *comptentra.NewEntry) { e.Lignes = e.Lignes[:1] }, comptentra.CodeLigneInvalide, "lignes"},
		{"no lines", func(e *comptentra.NewEntry) { e.Lignes = nil }, comptentra.CodeLigneInvalide, "lignes"},
		{"debit and credit", func(e *comptentra.NewEntry) { e.Lignes[1].DebitCents = 1 }, comptentra.CodeLigneInvalide, "lignes[1]"},
		{"both zero", func(e *comptentra.NewEntry) { e.Lignes = append(e.Lignes, comptentra.Line{Compte: "707000"}) }, comptentra.CodeLigneInvalide, "lignes[3]"},
		{"negative", func(e *comptentra.NewEntry) {
			e.Lignes[1].CreditCents = -10000
		}, comptentra.CodeLigneInvalide, "lignes[1].credit_cents"},
		{"too large", func(e *comptentra.NewEntry) {
			e.Lignes[0].DebitCents = MaxAmountCents + 1
			e.Lignes[1].CreditCents = MaxAmountCents + 1 - 2000
		}, comptentra.CodeLigneInvalide, "lignes[0].debit_cents"},
		{"unknown account", func(e *comptentra.NewEntry) { e.Lignes[1].Compte = "707999" }, comptentra.CodeCompteInconnu, "lignes[1].compte"},
		{"empty account", func(e *comptentra.NewEntry) { e.Lignes[2].Compte = "" }, comptentra.CodeCompteInconnu, "lignes[2].compte"},
		{"unknown journal", func(e *comptentra.NewEntry) { e.Journal = "XYZ" }, comptentra.CodeJournalInconnu, "journal"},
		{"lower-case journal", func(e *comptentra.NewEntry) { e.Journal = "vte" }, comptentra.CodeJournalInconnu, "journal"},
		{"not a date", func(e *comptentra.NewEntry) { e.Date = "14/03/2026" }, comptentra.CodeDateInvalide, "date"},
		{"impossible date", func(e *comptentra.NewEntry) { e.Date = "2026-02-30" }, comptentra.CodeDateInvalide, "date"},
		{"empty date", func(e *comptentra.NewEntry) { e.Date = "" }, comptentra.CodeDateInvalide, "date"},
		{"out of fiscal years", func(e *comptentra.NewEntry) { e.Date = "2027-01-01" }, comptentra.CodeHorsExercice, "date"},
		{"before fiscal years", func(e *comptentra.NewEntry) { e.Date = "2024-12-31" }, comptentra.CodeHorsExercice, "date"},
		{"closed year", func(e *comptentra.NewEntry) { e.Date = "2025-12-31" }, comptentra.CodeExerciceClos, "date"},
		{"no tiers", func(e *comptentra.NewEntry) {
			e.Lignes[0].TiersEmail, e.Lignes[0].TiersRef = "", " "
		}, comptentra.CodeTiersRequis, "lignes[0].tiers_ref"},
		{"416 without tiers", func(e *comptentra.NewEntry) {
			e.Lignes[0] = comptentra.Line{Compte: "416000", DebitCents: 12000}
		}, comptentra.CodeTiersRequis, "lignes[0].tiers_ref"},
		{"empty libelle", func(e *comptentra.NewEntry) { e.Libelle = "  " }, comptentra.CodeLibelleRequis, "libelle"},
		{"long libelle", func(e *comptentra.NewEntry) { e.Libelle = long }, comptentra.CodeLibelleRequis, "libelle"},
		{"long line libelle", func(e *comptentra.NewEntry) { e.Lignes[2].Libelle = long }, comptentra.CodeLibelleRequis, "lignes[2].libelle"},
		{"lower-case devise", func(e *comptentra.NewEntry) {
			e.Lignes[0].Devise, e.Lignes[0].MontantDeviseCents = "usd", 12000
		}, comptentra.CodeDeviseInvalide, "lignes[0].devise"},
		{"4-letter devise", func(e *comptentra.NewEntry) {
			e.Lignes[0].Devise, e.Lignes[0].MontantDeviseCents = "USDT", 12000
		}, comptentra.CodeDeviseInvalide, "lignes[0].devise"},
		{"devise without amount", func(e *comptentra.NewEntry) { e.Lignes[0].Devise = "USD" }, comptentra.CodeDeviseInvalide, "lignes[0].montant_devise_cents"},
		{"amount without devise", func(e *comptentra.NewEntry) { e.Lignes[0].MontantDeviseCents = 5 }, comptentra.CodeDeviseInvalide, "lignes[0].devise"},
		{"long piece_ref", func(e *comptentra.NewEntry) { e.PieceRef = strings.Repeat("x", 65) }, CodePieceRefInvalide, "piece_ref"},
	}
	s, _ := newTest(t)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := sale()
			tc.mod(&e)
			r := post(t, s, e)
			wantStatus(t, r, http.StatusUnprocessableEntity, tc.code)
			eb := r.errBody(t)
			if eb.Error.Message == "" {
				t.Error("empty message")
			}
			found := false
			for _, d := range eb.Error.Details {
				found = found || d.Field == tc.field
			}
			if !found {
				t.Errorf("details %+v do not name %q", eb.Error.Details, tc.field)
			}
			if n := len(s.Entries()); n != 0 {
				t.Fatalf("%d entries stored after a rejection", n)
			}
		})
	}
	// Limits that are allowed.
	ok := []struct {
		name string
		mod  func(e *comptentra.NewEntry)
	}{
		{"255-char libelle", func(e *comptentra.NewEntry) { e.Libelle = strings.Repeat("é", 255) }},
		{"64-char piece_ref", func(e *comptentra.NewEntry) { e.PieceRef = strings.Repeat("x", 64) }},
		{"max amount", func(e *comptentra.NewEntry) {
			e.Lignes[0].DebitCents, e.Lignes[1].CreditCents = MaxAmountCents, MaxAmountCents-2000
		}},
		{"devise", func(e *comptentra.NewEntry) { e.Lignes[0].Devise, e.Lignes[0].MontantDeviseCents = "JPY", 5000 }},
		{"email-only tiers", func(e *comptentra.NewEntry) { e.Lignes[0].TiersRef = "" }},
		{"ref-only tiers", func(e *comptentra.NewEntry) { e.Lignes[0].TiersEmail = "" }},
		{"last day of open year", func(e *comptentra.NewEntry) { e.Date = "2026-12-31" }},
	}
	for _, tc := range ok {
		t.Run("ok "+tc.name, func(t *testing.T) {
			e := sale()
			tc.mod(&e)
			wantStatus(t, post(t, s, e), http.StatusCreated, "")
		})
	}
	st := s.Stats()
	if st.Rejections[comptentra.CodeLigneInvalide] != 6 || st.Rejections[comptentra.CodeDeviseInvalide] != 4 {
		t.Errorf("rejections %v", st.Rejections)
	}
}

func TestAuth(t *testing.T) {
	s, _ := newTest(t)
	tests := []struct {
		name, method, path, key string
		status                  int
		code                    string
	}{
		{"missing key", http.MethodGet, "/ecritures", "", 401, comptentra.CodeUnauthorized},
		{"unknown key", http.MethodGet, "/comptes", "nope", 401, comptentra.CodeUnauthorized},
		{"missing key on post", http.MethodPost, "/ecritures", "", 401, comptentra.CodeUnauthorized},
		{"read-only post", http.MethodPost, "/ecritures", testROKey, 403, comptentra.CodeForbiddenScope},
		{"read-only get", http.MethodGet, "/ecritures", testROKey, 200, ""},
		{"read-write get", http.MethodGet, "/exercices", testKey, 200, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var body any
			if tc.method == http.MethodPost {
				body = sale()
			}
			wantStatus(t, call(t, s, tc.method, tc.path, tc.key, body), tc.status, tc.code)
		})
	}
	if len(s.Entries()) != 0 {
		t.Error("entry stored without write scope")
	}
}

func TestBodyErrors(t *testing.T) {
	s, _ := newTest(t)
	big := `{"libelle":"` + strings.Repeat("a", MaxBodyBytes) + `"}`
	tests := []struct {
		name   string
		body   string
		status int
		code   string
	}{
		{"too large", big, 413, comptentra.CodePayloadTooLarge},
		{"syntax", `{"date":`, 400, comptentra.CodeJSONInvalide},
		{"empty", ``, 400, comptentra.CodeJSONInvalide},
		{"array", `[]`, 400, comptentra.CodeJSONInvalide},
		{"string amount", `{"date":"2026-03-14","journal":"VTE","libelle":"x","lignes":[{"compte":"707000","debit_cents":"1"}]}`, 400, comptentra.CodeJSONInvalide},
		{"float amount", `{"date":"2026-03-14","journal":"VTE","libelle":"x","lignes":[{"compte":"707000","debit_cents":1.5}]}`, 400, comptentra.CodeJSONInvalide},
		{"trailing data", `{"libelle":"x"} {}`, 400, comptentra.CodeJSONInvalide},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			wantStatus(t, post(t, s, tc.body), tc.status, tc.code)
		})
	}
	t.Run("unknown fields are accepted", func(t *testing.T) {
		b, _ := json.Marshal(sale())
		body := `{"extra": {"x": 1},` + string(b[1:])
		wantStatus(t, post(t, s, body), http.StatusCreated, "")
	})
}

func TestRoutingErrors(t *testing.T) {
	s, _ := newTest(t)
	e := post(t, s, sale()).entry(t)
	tests := []struct {
		name, method, path string
		status             int
		code, allow        string
	}{
		{"PUT entry", http.MethodPut, "/ecritures/" + e.ID, 405, comptentra.CodeMethodNotAllowed, "GET"},
		{"PATCH entry", http.MethodPatch, "/ecritures/" + e.ID, 405, comptentra.CodeMethodNotAllowed, "GET"},
		{"DELETE entry", http.MethodDelete, "/ecritures/" + e.ID, 405, comptentra.CodeMethodNotAllowed, "GET"},
		{"DELETE collection", http.MethodDelete, "/ecritures", 405, comptentra.CodeMethodNotAllowed, "GET, POST"},
		{"PUT collection", http.MethodPut, "/ecritures", 405, comptentra.CodeMethodNotAllowed, "GET, POST"},
		{"POST comptes", http.MethodPost, "/comptes", 405, comptentra.CodeMethodNotAllowed, "GET"},
		{"unknown id", http.MethodGet, "/ecritures/ecr_nope", 404, comptentra.CodeNotFound, ""},
		{"unknown path", http.MethodGet, "/factures", 404, comptentra.CodeNotFound, ""},
		{"outside the API", http.MethodGet, "/", 404, comptentra.CodeNotFound, ""},
		{"unknown sandbox control", http.MethodGet, "/_sandbox/nope", 404, comptentra.CodeNotFound, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := call(t, s, tc.method, tc.path, testKey, nil)
			wantStatus(t, r, tc.status, tc.code)
			if got := r.header.Get("Allow"); got != tc.allow {
				t.Errorf("Allow %q, want %q", got, tc.allow)
			}
		})
	}
	if len(s.Entries()) != 1 {
		t.Error("entries changed")
	}
}

func TestReadEndpoints(t *testing.T) {
	s, _ := newTest(t)
	var ex struct{ Data []comptentra.FiscalYear }
	if err := json.Unmarshal(call(t, s, http.MethodGet, "/exercices", testROKey, nil).body, &ex); err != nil {
		t.Fatal(err)
	}
	want := []comptentra.FiscalYear{
		{ID: "ex_2025", DateDebut: "2025-01-01", DateFin: "2025-12-31", Statut: "clos"},
		{ID: "ex_2026", DateDebut: "2026-01-01", DateFin: "2026-12-31", Statut: "ouvert"},
	}
	if fmt.Sprint(ex.Data) != fmt.Sprint(want) {
		t.Errorf("exercices %+v", ex.Data)
	}
	var co struct{ Data []comptentra.Account }
	if err := json.Unmarshal(call(t, s, http.MethodGet, "/comptes", testROKey, nil).body, &co); err != nil {
		t.Fatal(err)
	}
	if len(co.Data) != len(DefaultAccounts()) || co.Data[0].Libelle == "" {
		t.Errorf("comptes: %d accounts", len(co.Data))
	}
}

func TestDefaultAccountsCoverBookingRules(t *testing.T) {
	have := map[string]string{}
	for _, a := range DefaultAccounts() {
		if a.Libelle == "" {
			t.Errorf("%s has no libelle", a.Numero)
		}
		have[a.Numero] = a.Libelle
	}
	for _, n := range []string{"411000", "416000", "707000", "706000", "709000", "445712", "445711", "445713",
		"627800", "517100", "580000", "512000", "656000", "756000", "654000", "666000", "766000", "607000", "658000", "758000"} {
		if have[n] == "" {
			t.Errorf("default chart lacks %s", n)
		}
	}
	if err := validateAccounts(DefaultAccounts()); err != nil {
		t.Error(err)
	}
}

func TestTiersResolution(t *testing.T) {
	s, _ := newTest(t)
	withTiers := func(compte, ref, email string) comptentra.NewEntry {
		e := sale()
		e.Lignes[0] = comptentra.Line{Compte: compte, TiersRef: ref, TiersEmail: email, DebitCents: 12000}
		return e
	}
	aux := func(e comptentra.NewEntry) (string, string) {
		t.Helper()
		r := post(t, s, e)
		wantStatus(t, r, http.StatusCreated, "")
		l := r.entry(t).Lignes[0]
		return l.CompteAuxiliaire, l.TiersID
	}
	a1, id1 := aux(withTiers("411000", "cus_Q1", ""))
	a2, id2 := aux(withTiers("411000", "cus_Q1", "late@example.com")) // same ref → same tiers
	a3, id3 := aux(withTiers("416000", "cus_Q1", ""))                 // disputed: same customer
	if a1 != "411CUS_Q1" || a1 != a2 || a1 != a3 || id1 != id2 || id1 != id3 {
		t.Errorf("same ref gave %s/%s %s/%s %s/%s", a1, id1, a2, id2, a3, id3)
	}
	b1, jd1 := aux(withTiers("411000", "", "Solo@Example.com"))
	b2, jd2 := aux(withTiers("411000", "", "solo@example.com"))
	if b1 != b2 || jd1 != jd2 || b1 == a1 || !strings.HasPrefix(b1, "411") {
		t.Errorf("email-only gave %s/%s and %s/%s", b1, jd1, b2, jd2)
	}
	// The email learnt on the second cus_Q1 line resolves to cus_Q1.
	if c, _ := aux(withTiers("411000", "", "late@example.com")); c != a1 {
		t.Errorf("email of cus_Q1 resolved to %s", c)
	}
	// A ref that sanitizes to an existing auxiliary account gets a distinct one.
	if d, _ := aux(withTiers("411000", "cus-q1", "")); d == a1 || !strings.HasPrefix(d, "411CUS_Q1") {
		t.Errorf("colliding ref got %s", d)
	}
	var page struct{ Data []comptentra.Tiers }
	if err := json.Unmarshal(call(t, s, http.MethodGet, "/tiers?ref=cus_Q1", testROKey, nil).body, &page); err != nil {
		t.Fatal(err)
	}
	if len(page.Data) != 1 || page.Data[0].CompteAuxiliaire != a1 || page.Data[0].Email != "late@example.com" || page.Data[0].ID != id1 {
		t.Errorf("GET /tiers?ref= %+v", page.Data)
	}
	if err := json.Unmarshal(call(t, s, http.MethodGet, "/tiers?email=SOLO@example.com", testROKey, nil).body, &page); err != nil {
		t.Fatal(err)
	}
	if len(page.Data) != 1 || page.Data[0].CompteAuxiliaire != b1 {
		t.Errorf("GET /tiers?email= %+v", page.Data)
	}
	if err := json.Unmarshal(call(t, s, http.MethodGet, "/tiers?email=nobody@example.com", testROKey, nil).body, &page); err != nil {
		t.Fatal(err)
	}
	if len(page.Data) != 0 {
		t.Errorf("unknown email found %+v", page.Data)
	}
	if len(s.Tiers()) != 3 {
		t.Errorf("%d tiers", len(s.Tiers()))
	}
	if ab := s.AuxBalance(); ab[a1] != 48000 {
		t.Errorf("aux balance %v", ab)
	}
}

func TestNumeroPerJournal(t *testing.T) {
	s, _ := newTest(t)
	journals := []string{"VTE", "STR", "VTE", "BQ", "VTE", "STR", "OD", "ACH"}
	want := []string{"VTE-000001", "STR-000001", "VTE-000002", "BQ-000001", "VTE-000003", "STR-000002", "OD-000001", "ACH-000001"}
	bad := sale()
	bad.Lignes[1].CreditCents = 1
	for i, j := range journals {
		wantStatus(t, post(t, s, func() comptentra.NewEntry { b := bad; b.Journal = j; return b }()), 422, comptentra.CodeDesequilibre)
		e := sale()
		e.Journal = j
		r := post(t, s, e)
		wantStatus(t, r, 201, "")
		if got := r.entry(t).Numero; got != want[i] {
			t.Errorf("entry %d: numero %s, want %s", i, got, want[i])
		}
	}
	ids := map[string]bool{}
	prev := ""
	for _, e := range s.Entries() {
		if ids[e.ID] || e.ID <= prev {
			t.Errorf("ids not unique and sorted: %s after %s", e.ID, prev)
		}
		ids[e.ID], prev = true, e.ID
	}
}

func TestListEntries(t *testing.T) {
	s, c := newTest(t)
	// 12 entries: journals alternate VTE/STR, dates 2026-03-01..12, piece refs p0..p3.
	var created []comptentra.Entry
	for i := 0; i < 12; i++ {
		e := sale()
		e.Journal = []string{"VTE", "STR"}[i%2]
		e.Date = fmt.Sprintf("2026-03-%02d", i+1)
		e.PieceRef = fmt.Sprintf("p%d", i%4)
		created = append(created, post(t, s, e).entry(t))
		c.Add(time.Second)
	}
	list := func(t *testing.T, q string) ([]string, *string) {
		t.Helper()
		r := call(t, s, http.MethodGet, "/ecritures"+q, testROKey, nil)
		wantStatus(t, r, 200, "")
		var p comptentra.EntryPage
		if err := json.Unmarshal(r.body, &p); err != nil {
			t.Fatal(err)
		}
		if p.Data == nil {
			t.Fatalf("data is null: %s", r.body)
		}
		var ns []string
		for _, e := range p.Data {
			ns = append(ns, e.Numero)
		}
		return ns, p.NextCursor
	}
	tests := []struct {
		name, q string
		want    []string
	}{
		{"all newest first", "", []string{"STR-000006", "VTE-000006", "STR-000005", "VTE-000005", "STR-000004", "VTE-000004", "STR-000003", "VTE-000003", "STR-000002", "VTE-000002", "STR-000001", "VTE-000001"}},
		{"journal", "?journal=VTE", []string{"VTE-000006", "VTE-000005", "VTE-000004", "VTE-000003", "VTE-000002", "VTE-000001"}},
		{"piece_ref", "?piece_ref=p1", []string{"STR-000005", "STR-000003", "STR-000001"}},
		{"date range inclusive", "?date_from=2026-03-03&date_to=2026-03-05", []string{"VTE-000003", "STR-000002", "VTE-000002"}},
		{"date_from", "?date_from=2026-03-11", []string{"STR-000006", "VTE-000006"}},
		{"date_to", "?date_to=2026-03-02", []string{"STR-000001", "VTE-000001"}},
		{"combined", "?journal=STR&piece_ref=p3&date_to=2026-03-08", []string{"STR-000004", "STR-000002"}},
		{"none", "?journal=BQ", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, next := list(t, tc.q)
			if fmt.Sprint(got) != fmt.Sprint(tc.want) || next != nil {
				t.Errorf("got %v (next %v), want %v", got, next, tc.want)
			}
		})
	}
	t.Run("cursor pages", func(t *testing.T) {
		var all []string
		q := "?journal=VTE&limit=4"
		pages := 0
		for {
			got, next := list(t, q)
			all = append(all, got...)
			pages++
			if next == nil {
				break
			}
			q = "?journal=VTE&limit=4&cursor=" + *next
		}
		if pages != 2 || fmt.Sprint(all) != "[VTE-000006 VTE-000005 VTE-000004 VTE-000003 VTE-000002 VTE-000001]" {
			t.Errorf("%d pages: %v", pages, all)
		}
	})
	t.Run("exact page has no next cursor", func(t *testing.T) {
		if got, next := list(t, "?journal=VTE&limit=6"); len(got) != 6 || next != nil {
			t.Errorf("%v next %v", got, next)
		}
	})
	t.Run("default limit 50", func(t *testing.T) {
		for i := 0; i < 45; i++ {
			post(t, s, sale())
		}
		got, next := list(t, "")
		if len(got) != 50 || next == nil {
			t.Fatalf("%d entries, next %v", len(got), next)
		}
		rest, next2 := list(t, "?cursor="+*next)
		if len(rest) != 7 || next2 != nil || rest[6] != created[0].Numero {
			t.Errorf("second page %v next %v", rest, next2)
		}
		if got, _ := list(t, "?limit=200"); len(got) != 57 {
			t.Errorf("limit 200 gave %d", len(got))
		}
	})
	bad := []struct{ name, q, field string }{
		{"limit 0", "?limit=0", "limit"},
		{"limit 201", "?limit=201", "limit"},
		{"limit text", "?limit=ten", "limit"},
		{"limit empty", "?limit=", "limit"},
		{"cursor garbage", "?cursor=!!!", "cursor"},
		{"cursor not ours", "?cursor=eyJ4IjoxfQ", "cursor"},
		{"cursor empty", "?cursor=", "cursor"},
		{"bad date_from", "?date_from=2026-13-01", "date_from"},
		{"bad date_to", "?date_to=yesterday", "date_to"},
		{"from after to", "?date_from=2026-03-05&date_to=2026-03-04", "date_from"},
		{"unknown journal", "?journal=ZZZ", "journal"},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			r := call(t, s, http.MethodGet, "/ecritures"+tc.q, testROKey, nil)
			wantStatus(t, r, 400, CodeParametreInvalide)
			if d := r.errBody(t).Error.Details; len(d) == 0 || d[0].Field != tc.field {
				t.Errorf("details %+v, want field %s", d, tc.field)
			}
		})
	}
}

func TestParseFiscalYears(t *testing.T) {
	good := []struct {
		spec string
		want []comptentra.FiscalYear
	}{
		{"2025=clos,2026=ouvert", []comptentra.FiscalYear{
			{ID: "ex_2025", DateDebut: "2025-01-01", DateFin: "2025-12-31", Statut: "clos"},
			{ID: "ex_2026", DateDebut: "2026-01-01", DateFin: "2026-12-31", Statut: "ouvert"}}},
		{" 2026=ouvert , 2025=clos ", []comptentra.FiscalYear{
			{ID: "ex_2025", DateDebut: "2025-01-01", DateFin: "2025-12-31", Statut: "clos"},
			{ID: "ex_2026", DateDebut: "2026-01-01", DateFin: "2026-12-31", Statut: "ouvert"}}},
		{"2025-07-01..2026-06-30=ouvert", []comptentra.FiscalYear{
			{ID: "ex_20250701_20260630", DateDebut: "2025-07-01", DateFin: "2026-06-30", Statut: "ouvert"}}},
		{"2024-07-01..2025-06-30=clos,2025-07-01..2026-06-30=ouvert", []comptentra.FiscalYear{
			{ID: "ex_20240701_20250630", DateDebut: "2024-07-01", DateFin: "2025-06-30", Statut: "clos"},
			{ID: "ex_20250701_20260630", DateDebut: "2025-07-01", DateFin: "2026-06-30", Statut: "ouvert"}}},
		{"2026-01-01..2026-12-31=ouvert", []comptentra.FiscalYear{
			{ID: "ex_2026", DateDebut: "2026-01-01", DateFin: "2026-12-31", Statut: "ouvert"}}},
	}
	for _, tc := range good {
		t.Run(tc.spec, func(t *testing.T) {
			got, err := ParseFiscalYears(tc.spec)
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("got %+v", got)
			}
		})
	}
	for _, spec := range []string{
		"", "2025", "2025=open", "2025=Ouvert", "25=clos", "20x5=clos", "2025=clos,", "2025=clos,2025=ouvert",
		"2025-07-01..2026-06-30=ouvert,2026=ouvert", "2026-06-30..2025-07-01=ouvert", "2025-02-30..2025-12-31=clos",
		"2025-07-01-2026-06-30=ouvert", "2025-07-01..=clos",
	} {
		t.Run("bad "+spec, func(t *testing.T) {
			if got, err := ParseFiscalYears(spec); err == nil {
				t.Errorf("accepted: %+v", got)
			}
		})
	}
	t.Run("server uses them", func(t *testing.T) {
		fys, _ := ParseFiscalYears("2025-07-01..2026-06-30=clos,2026-07-01..2027-06-30=ouvert")
		s, _ := newTest(t, func(o *Options) { o.FiscalYears = fys })
		e := sale()
		wantStatus(t, post(t, s, e), 422, comptentra.CodeExerciceClos)
		e.Date = "2026-07-01"
		wantStatus(t, post(t, s, e), 201, "")
		e.Date = "2027-07-01"
		wantStatus(t, post(t, s, e), 422, comptentra.CodeHorsExercice)
	})
	t.Run("default follows the Paris clock", func(t *testing.T) {
		// 23:30 UTC on 31 December 2025 is already 2026 in Paris.
		fys := DefaultFiscalYears(time.Date(2025, 12, 31, 23, 30, 0, 0, time.UTC))
		if len(fys) != 2 || fys[1].ID != "ex_2026" || fys[1].Statut != "ouvert" || fys[0].ID != "ex_2025" || fys[0].Statut != "clos" {
			t.Errorf("%+v", fys)
		}
	})
}

func TestNewRejectsBadOptions(t *testing.T) {
	tests := []struct {
		name string
		opts Options
	}{
		{"same keys", Options{APIKey: "k1", ReadOnlyKey: "k1"}},
		{"key with space", Options{APIKey: "a b"}},
		{"bad fiscal year", Options{FiscalYears: []comptentra.FiscalYear{{DateDebut: "2026-01-01", DateFin: "2026-12-31", Statut: "open"}}}},
		{"empty fiscal years", Options{FiscalYears: []comptentra.FiscalYear{}}},
		{"empty chart", Options{Accounts: []comptentra.Account{}}},
		{"duplicate account", Options{Accounts: []comptentra.Account{{Numero: "411000"}, {Numero: "411000"}}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := New(tc.opts); err == nil {
				t.Error("accepted")
			}
		})
	}
	s, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(s.APIKey(), "ck_sandbox_") || len(s.APIKey()) < 20 || s.URL() != "" {
		t.Errorf("generated key %q, URL %q", s.APIKey(), s.URL())
	}
}
