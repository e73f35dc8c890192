package worker

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/stripe/stripe-go/v76"

	"github.com/servolution/stripe-comptentra-sync/comptentra/comptentratest"
)

// FuzzPlan feeds arbitrary event payloads to the worker's decoding and planning: it
// must never panic, and every entry it plans must balance.
func FuzzPlan(f *testing.F) {
	paths, _ := filepath.Glob(filepath.Join("testdata", "fixtures", "*.json"))
	for _, p := range paths {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte(`{"id":"evt_1","type":"charge.refunded","data":{"object":{"id":"ch_1","captured":true,"amount_captured":100,"amount_refunded":-5,"currency":"eur"},"previous_attributes":{"amount_refunded":"x"}}}`))
	f.Add([]byte(`{"id":"evt_2","type":"charge.dispute.closed","data":{"object":{"id":"du_1","status":"lost","charge":"ch_x","balance_transactions":[{"amount":5,"fee":-9}]}}}`))
	f.Add([]byte(`{"id":"evt_3","type":"payout.paid","data":{"object":{"id":"po_1","amount":-100,"currency":"eur"}}}`))
	w := newHarness(f, comptentratest.Options{}).worker()
	f.Fuzz(func(t *testing.T, payload []byte) {
		var evt stripe.Event
		if err := json.Unmarshal(payload, &evt); err != nil || evt.Data == nil {
			return
		}
		entries, err := w.handler.plan(context.Background(), &evt)
		if err != nil {
			return
		}
		for _, e := range entries {
			if err := e.Validate(); err != nil {
				t.Fatalf("planned an invalid entry from %s: %v", payload, err)
			}
		}
	})
}
