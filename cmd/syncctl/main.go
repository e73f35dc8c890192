// Command syncctl is the toolbox of stripe-comptentra-sync: the whole stack in one
// process for development (dev), an offline `stripe trigger` (trigger), and the
// operator's commands (failed). Run `syncctl help` for the list.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

const usage = `syncctl — stripe-comptentra-sync toolbox

usage:
  syncctl dev                         run sandbox + ingest + worker in one process
  syncctl trigger <event-type> [...]  sign and send a realistic Stripe event to ingest
  syncctl failed list                 events held for an operator (permanent failures)
  syncctl failed retry <event-id>|--all   send them through the pipeline again
  syncctl backfill --since <when> [--until <when>] [--types a,b] [--clamp]
                                      enqueue Stripe events of a window (≤ 30 days) missed by webhooks
  syncctl dashboard                   asynqmon under /monitoring/, behind basic auth
  syncctl probe <url>                 exit 0 when the URL answers 2xx (container health checks)
  syncctl reconcile --from D --to D [--format text|json|csv] [--csv-out F]
                                      compare Stripe's balance transactions with the books (exit 1 when they differ)
  syncctl chaos [--events N] [--workers N] [--seed N] [--dup F] [--poison N] [--duration-limit D] [--keep]
                                      real processes and faults: prove every event is booked exactly once
  syncctl help

Every command reads its settings from the environment (see README.md);
"syncctl <command> -h" lists the command's flags.
`

// errUsage asks main to print the usage and exit 2.
var errUsage = errors.New("usage")

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	switch {
	case err == nil:
	case errors.Is(err, errUsage):
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	default:
		fmt.Fprintln(os.Stderr, "syncctl:", err)
		var ec exitCode
		if errors.As(err, &ec) {
			os.Exit(int(ec))
		}
		os.Exit(1)
	}
}

// flagError is what a command returns when its flags do not parse: nothing more to
// say after -h (the flag package printed the command's help), the usage otherwise.
func flagError(err error) error {
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	return errUsage
}

// exitCode is an error that asks for a specific exit status.
type exitCode int

func (e exitCode) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return errUsage
	}
	switch args[0] {
	case "dev":
		return runDev(ctx, args[1:], getenv, stdout, stderr)
	case "trigger":
		return runTrigger(ctx, args[1:], getenv, stdout)
	case "failed":
		return runFailed(ctx, args[1:], getenv, stdout)
	case "backfill":
		return runBackfill(ctx, args[1:], getenv, stdout)
	case "dashboard":
		return runDashboard(ctx, args[1:], getenv, stderr)
	case "probe":
		return runProbe(ctx, args[1:], stdout)
	case "reconcile":
		return runReconcile(ctx, args[1:], getenv, stdout)
	case "chaos":
		return runChaos(ctx, args[1:], getenv, stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	default:
		return fmt.Errorf("unknown command %q: %w", args[0], errUsage)
	}
}
