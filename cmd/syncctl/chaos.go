package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"time"

	"github.com/servolution/stripe-comptentra-sync/internal/chaos"
)

// runChaos runs the chaos suite (package internal/chaos): real processes, real faults,
// and a check that every Stripe fact is booked exactly once. It exits 1 unless the
// books hold no duplicate, lose nothing, and hold exactly the poison events for an
// operator.
func runChaos(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("chaos", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg chaos.Config
	fs.IntVar(&cfg.Events, "events", 2000, "distinct Stripe events of the generated history (approximately)")
	fs.IntVar(&cfg.Workers, "workers", 2, "worker processes (≥ 2)")
	fs.Uint64Var(&cfg.Seed, "seed", 0, "seed of the history, the deliveries and the chaos (0: from the clock)")
	fs.Float64Var(&cfg.Dup, "dup", 0.2, "share of events delivered 2 to 4 times")
	fs.IntVar(&cfg.Poison, "poison", 3, "events invalid for the books that must end up held for an operator")
	fs.DurationVar(&cfg.DurationLimit, "duration-limit", 10*time.Minute, "bound of the whole run")
	fs.BoolVar(&cfg.NoIdempotency, "no-idempotency", false, "the sandbox ignores Idempotency-Key, like a Comptentra that does not honour it")
	fs.BoolVar(&cfg.Keep, "keep", false, "keep the temporary directory (process logs, AOF, ledger) and print its path")
	fs.StringVar(&cfg.BinDir, "bin-dir", "", "directory with prebuilt ingest, worker and comptentra-sandbox (default: go build them)")
	fs.IntVar(&cfg.Senders, "senders", 4, "concurrent webhook senders")
	fs.DurationVar(&cfg.DeliverOver, "deliver-over", 0, "spread the deliveries over this long (default: 10ms per event, 5s..1m)")
	fs.DurationVar(&cfg.KillEvery, "kill-every", 3*time.Second, "SIGKILL a worker this often while delivering")
	fs.IntVar(&cfg.MaxKills, "max-kills", 0, "bound of the worker kills (0: as many as the delivery window allows)")
	fs.IntVar(&cfg.IngestRestarts, "ingest-restarts", 1, "ingest restarts while delivering")
	fs.IntVar(&cfg.RedisRestarts, "redis-restarts", 1, "Redis restarts while delivering")
	if err := fs.Parse(args); err != nil {
		return flagError(err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("chaos takes no arguments: %w", errUsage)
	}
	if cfg.Events < 1 {
		return fmt.Errorf("chaos: --events must be at least 1: %w", errUsage)
	}
	if cfg.Poison < 0 {
		return fmt.Errorf("chaos: --poison must not be negative: %w", errUsage)
	}
	if cfg.Dup < 0 || cfg.Dup > 1 {
		return fmt.Errorf("chaos: --dup must be within 0..1: %w", errUsage)
	}
	for _, n := range []*int{&cfg.IngestRestarts, &cfg.RedisRestarts} {
		if *n < 1 {
			*n = -1 // Config: negative is none
		}
	}
	cfg.AfterCheck = func(ctx context.Context, redisURL, prefix, queue string) error {
		fmt.Fprintln(stdout, "chaos: syncctl failed list:")
		env := map[string]string{"REDIS_URL": redisURL, "REDIS_KEY_PREFIX": prefix, "WORKER_QUEUE": queue}
		return runFailed(ctx, []string{"list"}, func(k string) string { return env[k] }, stdout)
	}

	sum, err := chaos.Run(ctx, cfg, stdout)
	if err != nil {
		if cfg.Keep && sum.Dir != "" {
			fmt.Fprintf(stdout, "chaos: kept %s (process logs in %s)\n", sum.Dir, filepath.Join(sum.Dir, "logs"))
		}
		return err
	}
	if cfg.Keep {
		fmt.Fprintf(stdout, "chaos: kept %s (process logs in %s)\n", sum.Dir, filepath.Join(sum.Dir, "logs"))
	}
	fmt.Fprintln(stdout, sum.Line())
	fmt.Fprintln(stdout, sum.FaultLine())
	fmt.Fprintf(stdout, "duration %s, seed %d, deliveries %d\n", sum.Duration.Round(100*time.Millisecond), sum.Seed, sum.Deliveries)
	details := func(title string, list []string) {
		if len(list) == 0 {
			return
		}
		fmt.Fprintf(stdout, "%s (%d):\n", title, len(list))
		for i, s := range list {
			if i == 50 {
				fmt.Fprintf(stdout, "  … and %d more\n", len(list)-i)
				break
			}
			fmt.Fprintf(stdout, "  %s\n", s)
		}
	}
	details("duplicated keys", sum.DuplicateKeys)
	details("lost keys", sum.LostKeys)
	details("unexpected keys", sum.UnexpectedKeys)
	details("entries with a wrong total", sum.Mismatches)
	details("poison events not held", sum.MissingPoison)
	details("failures of valid events", sum.UnexpectedFailures)
	if sum.Unacknowledged > 0 {
		fmt.Fprintf(stdout, "deliveries never acknowledged: %d\n", sum.Unacknowledged)
	}
	if !sum.Converged {
		fmt.Fprintln(stdout, "the system was not quiet before --duration-limit")
	}
	if !sum.OK() {
		fmt.Fprintln(stdout, "FAIL: the promise did not hold")
		return exitCode(1)
	}
	fmt.Fprintln(stdout, "OK: every fact booked exactly once, nothing acknowledged lost, the poison events held")
	return nil
}
