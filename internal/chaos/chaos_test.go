package chaos

import (
	"strings"
	"testing"

	"github.com/servolution/stripe-comptentra-sync/comptentra"
)

func TestChaosKeyOf(t *testing.T) {
	for in, want := range map[string]string{
		"Vente jeanne@example.com [ch_3Nv:sale]": "ch_3Nv:sale",
		"Remboursement [ch_1:refund:500:cash]":   "ch_1:refund:500:cash",
		"[po_1:payout]":                          "po_1:payout",
		"no key":                                 "",
		"broken [key":                            "",
		"":                                       "",
	} {
		if got := KeyOf(in); got != want {
			t.Errorf("KeyOf(%q) = %q, want %q", in, got, want)
		}
	}
}

func entry(key string, total int64) comptentra.Entry {
	return comptentra.Entry{Libelle: "x [" + key + "]", Lignes: []comptentra.Line{
		{Compte: "411000", DebitCents: total}, {Compte: "707000", CreditCents: total},
	}}
}

func TestChaosCompare(t *testing.T) {
	expected := map[string]int64{"a:sale": 100, "b:sale": 200, "c:sale": 300, "d:sale": 400}
	entries := []comptentra.Entry{
		entry("a:sale", 100),
		entry("b:sale", 200), entry("b:sale", 200), // duplicate
		entry("d:sale", 401),    // wrong total
		entry("poison:sale", 1), // unexpected
		{Libelle: "no key at all"},
	}
	l := Compare(entries, expected)
	if l.Posted != 6 || l.Untagged != 1 {
		t.Errorf("posted %d untagged %d, want 6 and 1", l.Posted, l.Untagged)
	}
	if strings.Join(l.Duplicates, ",") != "b:sale" {
		t.Errorf("duplicates %v", l.Duplicates)
	}
	if strings.Join(l.Lost, ",") != "c:sale" {
		t.Errorf("lost %v", l.Lost)
	}
	if strings.Join(l.Unexpected, ",") != "poison:sale" {
		t.Errorf("unexpected %v", l.Unexpected)
	}
	if len(l.Mismatches) != 1 || !strings.HasPrefix(l.Mismatches[0], "d:sale: got 401, want 400") {
		t.Errorf("mismatches %v", l.Mismatches)
	}
}

func TestChaosPlan(t *testing.T) {
	cfg := Config{Events: 200, Seed: 42, Dup: 0.2, Poison: 3}
	p := NewPlan(cfg)
	n := len(p.History.Events)
	if n > 197 || n < 150 {
		t.Errorf("history has %d events, want about 197 (200 − 3 poison, at most)", n)
	}
	if len(p.Poison) != 3 {
		t.Fatalf("poison %d, want 3", len(p.Poison))
	}
	if len(p.Deliveries) < n+3 {
		t.Errorf("%d deliveries for %d events", len(p.Deliveries), n+3)
	}
	ids := map[string]bool{}
	for _, d := range p.Deliveries {
		ids[d.ID] = true
	}
	if len(ids) != n+3 {
		t.Errorf("%d distinct events delivered, want %d", len(ids), n+3)
	}
	for _, e := range p.Poison {
		if !ids[e.ID] {
			t.Errorf("poison %s never delivered", e.ID)
		}
		if !strings.Contains(string(e.JSON()), `"vat_rate":"abc"`) {
			t.Errorf("poison %s is not poisonous: %s", e.ID, e.JSON())
		}
	}
	if len(p.Expected) == 0 {
		t.Fatal("nothing expected")
	}
	for k := range p.Expected {
		if strings.HasSuffix(k, ":settlement") {
			t.Errorf("settlement key %s expected without a Stripe API key", k)
		}
	}
	for _, e := range p.History.Events {
		if cur, _ := e.Object["currency"].(string); cur != "" && cur != "eur" {
			t.Errorf("event %s in %s: chaos runs without foreign charges", e.ID, cur)
		}
	}
	again := NewPlan(cfg)
	if len(again.Deliveries) != len(p.Deliveries) || again.Deliveries[0].ID != p.Deliveries[0].ID {
		t.Error("the same seed gave another plan")
	}
}
