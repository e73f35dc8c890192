package worker

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/servolution/stripe-comptentra-sync/comptentra"
	"github.com/servolution/stripe-comptentra-sync/ledger"
)

// Books is the part of the Comptentra API the worker needs; *comptentra.Client has it.
type Books interface {
	CreateEntry(ctx context.Context, e comptentra.NewEntry, idempotencyKey string) (comptentra.Entry, comptentra.Created, error)
	ListEntries(ctx context.Context, p comptentra.ListEntriesParams) (comptentra.EntryPage, error)
}

// ErrBusy means another worker holds the lock on a business key; the task is retried soon.
var ErrBusy = errors.New("worker: business key is being posted by another worker")

// Outcome says what posting an entry did.
type Outcome string

const (
	Posted   Outcome = "posted"   // created in Comptentra by this call
	Recorded Outcome = "recorded" // already in the Redis record: nothing sent
	Found    Outcome = "found"    // already in Comptentra (found by piece_ref), record repaired
	Replayed Outcome = "replayed" // Comptentra answered with an idempotent replay
)

// poster posts ledger entries exactly once per business key.
//
// Three layers keep a fact from being booked twice, because each alone has a hole:
//  1. a durable Redis record key → Comptentra entry id, checked first (cheap, survives restarts);
//  2. a lock with a lease per key, so two workers never post the same key at once;
//  3. before any POST that might be a retry, a lookup in Comptentra by piece_ref and journal
//     for an entry whose libellé carries the key: it covers a crash (or a lost 502 response)
//     after Comptentra stored the entry but before the record was written, even on a
//     Comptentra that does not honour Idempotency-Key. The key is also sent as
//     Idempotency-Key for a Comptentra that does.
type poster struct {
	books    Books
	redis    redis.UniversalClient
	prefix   string
	lockTTL  time.Duration
	lockWait time.Duration
	now      func() time.Time
	// alwaysLookUp looks in Comptentra before every POST, not only after an earlier try.
	alwaysLookUp bool
}

func (p *poster) recordKey(key string) string  { return p.prefix + "posted:" + key }
func (p *poster) lockKey(key string) string    { return p.prefix + "lock:" + key }
func (p *poster) attemptKey(key string) string { return p.prefix + "attempt:" + key }

// KeyTag is how a business key appears in a Comptentra libellé, so that an entry can be
// recognised among those sharing its piece_ref (a sale, its settlement, its refunds).
func KeyTag(key string) string { return "[" + key + "]" }

// posted returns the Comptentra entry id recorded for key, or "" when none is.
func (p *poster) posted(ctx context.Context, key string) (string, error) {
	id, err := p.redis.Get(ctx, p.recordKey(key)).Result()
	if errors.Is(err, redis.Nil) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("worker: read record of %s: %w", key, err)
	}
	return id, nil
}

var unlockScript = redis.NewScript(`if redis.call("get", KEYS[1]) == ARGV[1] then return redis.call("del", KEYS[1]) else return 0 end`)

// lock takes the lease on key, waiting up to lockWait for another holder to finish.
func (p *poster) lock(ctx context.Context, key, token string) (func(), error) {
	deadline := p.now().Add(p.lockWait)
	for {
		ok, err := p.redis.SetNX(ctx, p.lockKey(key), token, p.lockTTL).Result()
		if err != nil {
			return nil, fmt.Errorf("worker: lock %s: %w", key, err)
		}
		if ok {
			return func() {
				// A fresh context: the lock must be released even when the task's was cancelled.
				c, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
				defer cancel()
				unlockScript.Run(c, p.redis, []string{p.lockKey(key)}, token)
			}, nil
		}
		if p.now().After(deadline) {
			return nil, fmt.Errorf("%w: %s", ErrBusy, key)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Post books e exactly once and returns the Comptentra entry id.
// today is used only when the entry's date falls in a closed fiscal year.
func (p *poster) Post(ctx context.Context, e ledger.Entry, token string) (string, Outcome, error) {
	if id, err := p.posted(ctx, e.Key); err != nil || id != "" {
		return id, Recorded, err
	}
	unlock, err := p.lock(ctx, e.Key, token)
	if err != nil {
		return "", "", err
	}
	defer unlock()
	// Another worker may have finished while we waited for the lock.
	if id, err := p.posted(ctx, e.Key); err != nil || id != "" {
		return id, Recorded, err
	}
	// An attempt marker left by an earlier try means a POST may have reached Comptentra
	// without its answer reaching us: look before posting again. A first try skips the
	// lookup, which keeps the common path to one Comptentra call.
	tried, err := p.redis.Exists(ctx, p.attemptKey(e.Key)).Result()
	if err != nil {
		return "", "", fmt.Errorf("worker: read attempt marker of %s: %w", e.Key, err)
	}
	if tried > 0 || p.alwaysLookUp {
		if id, err := p.find(ctx, e); err != nil {
			return "", "", err
		} else if id != "" {
			return id, Found, p.record(ctx, e.Key, id)
		}
	}
	if err := p.redis.Set(ctx, p.attemptKey(e.Key), p.now().UTC().Format(time.RFC3339), 0).Err(); err != nil {
		return "", "", fmt.Errorf("worker: write attempt marker of %s: %w", e.Key, err)
	}

	body := newEntry(e)
	got, created, err := p.books.CreateEntry(ctx, body, e.Key)
	if errors.Is(err, comptentra.ErrExerciceClos) {
		// booking-rules.md: never lose the entry; book it today, saying the original date.
		e = e.Rebooked(ledger.DateOf(p.now()))
		body = newEntry(e)
		got, created, err = p.books.CreateEntry(ctx, body, e.Key)
	}
	if err != nil {
		return "", "", err
	}
	outcome := Posted
	if created.Replayed {
		outcome = Replayed
	}
	return got.ID, outcome, p.record(ctx, e.Key, got.ID)
}

func (p *poster) record(ctx context.Context, key, id string) error {
	// Written even if the task's context ends now: Comptentra holds the entry already.
	c, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := p.redis.Set(c, p.recordKey(key), id, 0).Err(); err != nil {
		return fmt.Errorf("worker: record %s → %s: %w", key, id, err)
	}
	p.redis.Del(c, p.attemptKey(key)) // the record supersedes it; a leftover is harmless
	return nil
}

// find looks for an entry already booked for e's key in Comptentra.
func (p *poster) find(ctx context.Context, e ledger.Entry) (string, error) {
	tag := KeyTag(e.Key)
	params := comptentra.ListEntriesParams{Journal: e.Journal, PieceRef: e.PieceRef, Limit: 200}
	for {
		page, err := p.books.ListEntries(ctx, params)
		if err != nil {
			return "", fmt.Errorf("worker: look up %s in Comptentra: %w", e.Key, err)
		}
		for _, got := range page.Data {
			if strings.Contains(got.Libelle, tag) {
				return got.ID, nil
			}
		}
		if page.NextCursor == nil || *page.NextCursor == "" {
			return "", nil
		}
		params.Cursor = *page.NextCursor
	}
}

// newEntry is the Comptentra form of a ledger entry. The libellé carries the business
// key (see KeyTag).
func newEntry(e ledger.Entry) comptentra.NewEntry {
	label := e.Label
	tag := " " + KeyTag(e.Key)
	if max := 255 - len(tag); len(label) > max {
		label = truncateUTF8(label, max)
	}
	out := comptentra.NewEntry{
		Date:     e.Date.String(),
		Journal:  e.Journal,
		Libelle:  label + tag,
		PieceRef: e.PieceRef,
		Lignes:   make([]comptentra.Line, 0, len(e.Lines)),
	}
	for _, l := range e.Lines {
		cl := comptentra.Line{
			Compte:             l.Account,
			Libelle:            l.Label,
			DebitCents:         l.Debit,
			CreditCents:        l.Credit,
			Devise:             l.Currency,
			MontantDeviseCents: l.CurrencyAmount,
		}
		if l.Tiers != nil {
			cl.TiersRef, cl.TiersEmail, cl.TiersNom = l.Tiers.Ref, l.Tiers.Email, l.Tiers.Name
		}
		out.Lignes = append(out.Lignes, cl)
	}
	return out
}

func truncateUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

func utf8RuneStart(b byte) bool { return b&0xC0 != 0x80 }
