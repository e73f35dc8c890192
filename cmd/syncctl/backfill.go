package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/hibiken/asynq"

	"github.com/servolution/stripe-comptentra-sync/backfill"
	"github.com/servolution/stripe-comptentra-sync/cmd/internal/settings"
	"github.com/servolution/stripe-comptentra-sync/eventtask"
	"github.com/servolution/stripe-comptentra-sync/ledger"
	"github.com/servolution/stripe-comptentra-sync/stripeapi"
)

// Progress lines are printed at most every progressInterval, and at least every
// progressEvery events.
var (
	progressInterval = time.Second
	progressEvery    = 1000
)

const backfillUsage = `usage: syncctl backfill --since <when> [--until <when>] [--types a,b] [--clamp]

Reads the Stripe events of a window from the Events API and enqueues the handled ones
like ingest enqueues webhooks (task id = event id): events the queue still knows are
counted as "already known", the others are booked by the worker, which deduplicates
them. Safe to re-run.

<when> is a date YYYY-MM-DD (midnight, Europe/Paris), an RFC 3339 time
(2026-03-14T10:00:00+01:00), or a duration back from now: 36h, 90m, 7d, 1d12h.

Stripe keeps events for 30 days: an older --since is refused, unless --clamp, which
starts at the 30-day limit instead.

environment: STRIPE_API_KEY (required; a restricted key with read access to events
is enough), STRIPE_API_URL, REDIS_URL, WORKER_QUEUE (default "stripe").

flags:
`

// runBackfill is `syncctl backfill`: catch up after downtime from Stripe's Events API.
func runBackfill(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	fs := flag.NewFlagSet("backfill", flag.ContinueOnError)
	fs.SetOutput(stdout)
	sinceFlag := fs.String("since", "", "start of the window (required): YYYY-MM-DD, RFC 3339, or a duration back from now (36h, 7d)")
	untilFlag := fs.String("until", "", "end of the window (default: now); same forms as --since")
	typesFlag := fs.String("types", "", "comma-separated event types (default: every handled type)")
	clamp := fs.Bool("clamp", false, "start at Stripe's 30-day limit when --since is older, instead of refusing")
	fs.Usage = func() {
		fmt.Fprint(stdout, backfillUsage)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return errUsage
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("backfill: unexpected argument %q: %w", fs.Arg(0), errUsage)
	}
	if *sinceFlag == "" {
		return fmt.Errorf("backfill needs --since (a date, an RFC 3339 time or a duration such as 7d): %w", errUsage)
	}

	now := time.Now()
	o := backfill.Options{Now: now, Clamp: *clamp}
	var err error
	if o.Since, err = parseWhen(*sinceFlag, now); err != nil {
		return fmt.Errorf("--since: %w", err)
	}
	if *untilFlag != "" {
		if o.Until, err = parseWhen(*untilFlag, now); err != nil {
			return fmt.Errorf("--until: %w", err)
		}
	}
	if *typesFlag != "" {
		for _, t := range strings.Split(*typesFlag, ",") {
			if t = strings.TrimSpace(t); t != "" {
				o.Types = append(o.Types, t)
			}
		}
	}
	since, until, clamped, err := o.Window()
	switch {
	case errors.Is(err, backfill.ErrTooOld):
		limit := backfill.Limit(now)
		return fmt.Errorf("--since %s is %s back, but Stripe's Events API keeps events for 30 days only: the oldest reachable is %s; pass --clamp to start there",
			*sinceFlag, days(now.Sub(o.Since)), paris(limit))
	case errors.Is(err, backfill.ErrNotHandled):
		return fmt.Errorf("--types: %v", err)
	case err != nil:
		return err
	}

	key := strings.TrimSpace(getenv("STRIPE_API_KEY"))
	if key == "" {
		return errors.New("STRIPE_API_KEY is required (a secret or restricted key with read access to events)")
	}
	src, err := stripeapi.New(stripeapi.Config{
		APIKey:     key,
		BaseURL:    getenv("STRIPE_API_URL"),
		HTTPClient: &http.Client{Timeout: 30 * time.Second},
	})
	if err != nil {
		return fmt.Errorf("STRIPE_API_KEY / STRIPE_API_URL: %w", err)
	}
	redisURL, redisOpt, _, err := settings.Redis(getenv)
	if err != nil {
		return err
	}
	o.Queue = envOr(getenv, "WORKER_QUEUE", eventtask.DefaultQueue)
	client := asynq.NewClient(redisOpt)
	defer client.Close()

	types := "every handled type"
	if len(o.Types) > 0 {
		types = strings.Join(o.Types, ", ")
	}
	if clamped {
		fmt.Fprintf(stdout, "Stripe keeps events for 30 days: starting at the limit, %s, instead of %s (--clamp)\n", paris(since), paris(o.Since))
	}
	fmt.Fprintf(stdout, "backfill %s → %s (%s) into queue %q on %s\n", paris(since), paris(until), types, o.Queue, settings.Redact(redisURL))

	last, lastN := time.Now(), 0
	o.Progress = func(p backfill.Progress) {
		n := p.Read + p.Enqueued + p.AlreadyKnown
		if time.Since(last) < progressInterval && n-lastN < progressEvery {
			return
		}
		last, lastN = time.Now(), n
		line := fmt.Sprintf("… read %d, enqueued %d, already known %d", p.Read, p.Enqueued, p.AlreadyKnown)
		if !p.Through.IsZero() {
			line += ", queued through " + paris(p.Through)
		}
		fmt.Fprintln(stdout, line)
	}

	sum, err := backfill.Run(ctx, src, client, o)
	fmt.Fprintln(stdout, sum.String())
	if sum.Skipped > 0 {
		fmt.Fprintf(stdout, "skipped %d event(s) of types not handled\n", sum.Skipped)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "done in %s\n", sum.Duration.Round(time.Millisecond))
	return nil
}

// parseWhen reads a point in time: YYYY-MM-DD (midnight in Europe/Paris), RFC 3339,
// or a positive duration back from now — Go's (36h, 90m) with an added d suffix for
// days of 24 hours (7d, 1d12h).
func parseWhen(s string, now time.Time) (time.Time, error) {
	s = strings.TrimSpace(s)
	if t, err := time.ParseInLocation(time.DateOnly, s, ledger.Paris); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	d, err := parseDuration(s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q: want a date YYYY-MM-DD, an RFC 3339 time or a duration such as 36h or 7d", s)
	}
	if d <= 0 {
		return time.Time{}, fmt.Errorf("%q: want a positive duration (how far back from now)", s)
	}
	return now.Add(-d), nil
}

// parseDuration is time.ParseDuration with a leading whole number of days ("7d",
// "1d12h").
func parseDuration(s string) (time.Duration, error) {
	var days int64
	if i := strings.IndexByte(s, 'd'); i > 0 {
		n, err := strconv.ParseInt(s[:i], 10, 32)
		if err != nil {
			return 0, err
		}
		days, s = n, s[i+1:]
		if s == "" {
			return time.Duration(days) * 24 * time.Hour, nil
		}
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, err
	}
	if days != 0 && d < 0 {
		return 0, errors.New("mixed signs")
	}
	return time.Duration(days)*24*time.Hour + d, nil
}

func paris(t time.Time) string { return t.In(ledger.Paris).Format("2006-01-02 15:04:05 MST") }

func days(d time.Duration) string {
	return strconv.FormatFloat(d.Hours()/24, 'f', 1, 64) + " days"
}
