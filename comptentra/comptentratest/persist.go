package comptentratest

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/servolution/stripe-comptentra-sync/comptentra"
)

// dataFileVersion is the version of the DataFile format.
const dataFileVersion = 1

// dataFile is the JSON shape of Options.DataFile.
type dataFile struct {
	Version     int                `json:"version"`
	Entries     []comptentra.Entry `json:"entries"`
	Tiers       []comptentra.Tiers `json:"tiers"`
	Idempotency []*idemRecord      `json:"idempotency"`
}

// load reads s.dataFile into the ledger; a missing file is an empty ledger.
func (s *Server) load() error {
	b, err := os.ReadFile(s.dataFile)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	var df dataFile
	if err := decodeStrict(b, &df, false); err != nil {
		return fmt.Errorf("invalid JSON: %w", err)
	}
	if df.Version != dataFileVersion {
		return fmt.Errorf("unsupported version %d (want %d)", df.Version, dataFileVersion)
	}
	l := &s.ledger
	l.init()
	for _, t := range df.Tiers {
		if t.ID == "" || t.CompteAuxiliaire == "" || l.auxUsed[t.CompteAuxiliaire] {
			return fmt.Errorf("invalid or duplicate tiers %q", t.ID)
		}
		l.addTiers(t)
	}
	for i, e := range df.Entries {
		if e.ID == "" || e.Journal == "" {
			return fmt.Errorf("entry %d: missing id or journal", i)
		}
		if _, dup := l.byID[e.ID]; dup {
			return fmt.Errorf("entry %d: duplicate id %s", i, e.ID)
		}
		n, err := strconv.Atoi(strings.TrimPrefix(e.Numero, e.Journal+"-"))
		if err != nil || !strings.HasPrefix(e.Numero, e.Journal+"-") {
			return fmt.Errorf("entry %s: invalid numero %q", e.ID, e.Numero)
		}
		l.counters[e.Journal] = max(l.counters[e.Journal], n)
		l.byID[e.ID] = len(l.entries)
		l.entries = append(l.entries, e)
		if ms := e.CreatedAt.UnixMilli(); ms > l.lastMS {
			l.lastMS = ms
		}
	}
	for _, r := range df.Idempotency {
		if r == nil || r.Key == "" || r.Hash == "" {
			continue
		}
		l.idem[idemMapKey(r.Scope, r.Key)] = r
	}
	return nil
}

// persistLocked writes the ledger to s.dataFile atomically (temp file + rename). Caller holds s.mu.
func (s *Server) persistLocked() error {
	if s.dataFile == "" {
		return nil
	}
	l := &s.ledger
	df := dataFile{Version: dataFileVersion, Entries: l.entries, Tiers: l.tiers, Idempotency: []*idemRecord{}}
	if df.Entries == nil {
		df.Entries = []comptentra.Entry{}
	}
	if df.Tiers == nil {
		df.Tiers = []comptentra.Tiers{}
	}
	now := s.now()
	for _, r := range l.idem {
		if !r.inProgress && now.Sub(r.CreatedAt) < IdempotencyWindow {
			df.Idempotency = append(df.Idempotency, r)
		}
	}
	b, err := json.Marshal(df) // not indented: idempotency bodies are replayed byte for byte
	if err != nil {
		return err
	}
	dir, base := filepath.Split(s.dataFile)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, "."+base+".tmp*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, werr := f.Write(b)
	if werr == nil {
		werr = f.Sync()
	}
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr == nil {
		werr = os.Rename(tmp, s.dataFile)
	}
	if werr != nil {
		_ = os.Remove(tmp)
		return werr
	}
	return nil
}
