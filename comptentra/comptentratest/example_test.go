package comptentratest_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"

	"github.com/servolution/stripe-comptentra-sync/comptentra"
	"github.com/servolution/stripe-comptentra-sync/comptentra/comptentratest"
)

func ExampleNewServer() {
	var t testing.TB = &testing.T{} // in a real test: the test's *testing.T (Close then runs on t.Cleanup)
	years, _ := comptentratest.ParseFiscalYears("2025=clos,2026=ouvert")
	srv := comptentratest.NewServer(t, comptentratest.Options{APIKey: "ck_example", FiscalYears: years})
	defer srv.Close()

	body, _ := json.Marshal(comptentra.NewEntry{
		Date: "2026-03-14", Journal: "VTE", Libelle: "Paiement Stripe ch_1", PieceRef: "ch_1",
		Lignes: []comptentra.Line{
			{Compte: "411000", TiersRef: "cus_Q1", TiersEmail: "client@example.com", DebitCents: 12000},
			{Compte: "707000", CreditCents: 10000},
			{Compte: "445712", CreditCents: 2000},
		},
	})
	req, _ := http.NewRequest(http.MethodPost, srv.URL()+"/ecritures", bytes.NewReader(body))
	req.Header.Set(comptentra.HeaderAPIKey, srv.APIKey())
	req.Header.Set(comptentra.HeaderIdempotencyKey, "ch_1:sale")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		panic(err)
	}
	res.Body.Close()
	fmt.Println(res.StatusCode)

	for _, e := range srv.Entries() {
		fmt.Println(e.Numero, e.Lignes[0].CompteAuxiliaire)
	}
	fmt.Println(srv.TrialBalance()["411000"])
	// Output:
	// 201
	// VTE-000001 411CUS_Q1
	// 12000
}

func ExampleStart() {
	// Outside tests (e.g. a dev command): Start, then Close.
	srv, err := comptentratest.Start(comptentratest.Options{})
	if err != nil {
		panic(err)
	}
	defer srv.Close()
	req, _ := http.NewRequest(http.MethodGet, srv.URL()+"/comptes", nil)
	req.Header.Set(comptentra.HeaderAPIKey, srv.APIKey())
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		panic(err)
	}
	var page struct{ Data []comptentra.Account }
	_ = json.NewDecoder(res.Body).Decode(&page)
	res.Body.Close()
	fmt.Println(res.StatusCode, page.Data[0].Numero)
	// Output: 200 101000
}
