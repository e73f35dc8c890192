package comptentra_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"

	"github.com/servolution/stripe-comptentra-sync/comptentra"
)

func ExampleClient_CreateEntry() {
	// A stand-in for Comptentra that remembers idempotency keys.
	var mu sync.Mutex
	byKey := map[string]comptentra.Entry{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Request-Id", fmt.Sprintf("req_%d", len(byKey)+1))
		key := r.Header.Get("Idempotency-Key")
		if e, ok := byKey[key]; ok {
			w.Header().Set("Idempotent-Replayed", "true")
			w.WriteHeader(http.StatusCreated)
			json.NewEncoder(w).Encode(e)
			return
		}
		var in comptentra.NewEntry
		json.NewDecoder(r.Body).Decode(&in)
		if in.Date < "2026-01-01" {
			w.WriteHeader(http.StatusUnprocessableEntity)
			json.NewEncoder(w).Encode(comptentra.ErrorBody{Error: comptentra.ErrorDetail{
				Code: comptentra.CodeExerciceClos, Message: "exercice 2025 clos"}})
			return
		}
		e := comptentra.Entry{ID: "ecr_1", Numero: "VTE-000001", Date: in.Date, Journal: in.Journal,
			Libelle: in.Libelle, PieceRef: in.PieceRef, Lignes: in.Lignes}
		byKey[key] = e
		w.WriteHeader(http.StatusCreated)
		json.NewEncoder(w).Encode(e)
	}))
	defer srv.Close()

	c, err := comptentra.NewClient(srv.URL+"/api/v1", "sk_test_example")
	if err != nil {
		panic(err)
	}
	entry := comptentra.NewEntry{
		Date: "2026-03-14", Journal: "VTE", Libelle: "Paiement Stripe ch_1", PieceRef: "ch_1",
		Lignes: []comptentra.Line{
			{Compte: "411000", TiersRef: "cus_Q1", DebitCents: 12000},
			{Compte: "707000", CreditCents: 10000},
			{Compte: "445712", CreditCents: 2000},
		},
	}
	ctx := context.Background()
	for range 2 { // the second call replays the first: nothing is booked twice
		e, created, err := c.CreateEntry(ctx, entry, "evt_1:ch_1")
		if err != nil {
			panic(err)
		}
		fmt.Println(e.Numero, "replayed:", created.Replayed)
	}

	entry.Date = "2025-12-31"
	_, _, err = c.CreateEntry(ctx, entry, "evt_2:ch_2")
	fmt.Println(errors.Is(err, comptentra.ErrExerciceClos), comptentra.IsTemporary(err))
	fmt.Println(err)
	// Output:
	// VTE-000001 replayed: false
	// VTE-000001 replayed: true
	// true false
	// comptentra: 422 exercice_clos: exercice 2025 clos (request req_2)
}
