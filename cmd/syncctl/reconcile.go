package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/servolution/stripe-comptentra-sync/cmd/internal/settings"
	"github.com/servolution/stripe-comptentra-sync/comptentra"
	"github.com/servolution/stripe-comptentra-sync/ledger"
	"github.com/servolution/stripe-comptentra-sync/reconcile"
	"github.com/servolution/stripe-comptentra-sync/stripeapi"
)

const reconcileUsage = `usage: syncctl reconcile --from YYYY-MM-DD --to YYYY-MM-DD [--format text|json|csv] [--csv-out file.csv]

Compares the Stripe balance transactions created from --from 00:00 to --to 24:00
(Europe/Paris) with the entries of the Stripe and bank journals of Comptentra,
recognised by the business key at the end of their libellé.

  --format text   totals per category side by side, the differences, a verdict (default)
  --format json   the report as JSON, for machines
  --format csv    one row per Stripe transaction / entry pair, with a header row;
                  ';' separates the fields and amounts use a decimal comma (1234,56),
                  as French spreadsheets expect
  --csv-out FILE  also write that CSV to FILE (with any --format)

Environment: STRIPE_API_KEY (required; a restricted read-only key is enough),
STRIPE_API_URL, COMPTENTRA_URL, COMPTENTRA_API_KEY (required; read scope is enough),
and the ACCOUNT_* / JOURNAL_* settings of the worker, so that a custom chart is honoured.

Exit status: 0 Stripe and the books agree, 1 they differ, 2 usage or configuration
error, 3 Stripe or Comptentra could not be read.
`

// exitErr is an error that asks main for a given exit status.
type exitErr struct {
	err  error
	code exitCode
}

func (e exitErr) Error() string { return e.err.Error() }
func (e exitErr) Unwrap() error { return e.err }

// As lets main's errors.As(err, &exitCode) find the status.
func (e exitErr) As(target any) bool {
	if p, ok := target.(*exitCode); ok {
		*p = e.code
		return true
	}
	return false
}

func runReconcile(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	fs := flag.NewFlagSet("reconcile", flag.ContinueOnError)
	fs.SetOutput(stdout)
	fs.Usage = func() { fmt.Fprint(fs.Output(), reconcileUsage) }
	fromS := fs.String("from", "", "first day of the period, YYYY-MM-DD (Europe/Paris)")
	toS := fs.String("to", "", "last day of the period, YYYY-MM-DD (Europe/Paris)")
	format := fs.String("format", "text", "text, json or csv")
	csvOut := fs.String("csv-out", "", "also write the CSV report to this file")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return fmt.Errorf("reconcile: %v: %w", err, errUsage)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("reconcile: unexpected argument %q: %w", fs.Arg(0), errUsage)
	}
	if *fromS == "" || *toS == "" {
		return fmt.Errorf("reconcile needs --from and --to: %w", errUsage)
	}
	from, err := ledger.ParseDate(*fromS)
	if err != nil {
		return fmt.Errorf("reconcile --from: %v: %w", err, errUsage)
	}
	to, err := ledger.ParseDate(*toS)
	if err != nil {
		return fmt.Errorf("reconcile --to: %v: %w", err, errUsage)
	}
	if to.Before(from) {
		return fmt.Errorf("reconcile: --to %s is before --from %s: %w", to, from, errUsage)
	}
	switch *format {
	case "text", "json", "csv":
	default:
		return fmt.Errorf("reconcile --format %q: want text, json or csv: %w", *format, errUsage)
	}

	configErr := func(err error) error { return exitErr{err: err, code: 2} }
	rules, err := settings.Rules(getenv)
	if err != nil {
		return configErr(err)
	}
	stripeKey := strings.TrimSpace(getenv("STRIPE_API_KEY"))
	if stripeKey == "" {
		return configErr(errors.New("reconcile: STRIPE_API_KEY is required (a restricted read-only key is enough)"))
	}
	sc, err := stripeapi.New(stripeapi.Config{APIKey: stripeKey, BaseURL: strings.TrimSpace(getenv("STRIPE_API_URL"))})
	if err != nil {
		return configErr(err)
	}
	ckey := strings.TrimSpace(getenv("COMPTENTRA_API_KEY"))
	if ckey == "" {
		return configErr(errors.New("reconcile: COMPTENTRA_API_KEY is required (a key with read scope is enough)"))
	}
	curl := strings.TrimSpace(getenv("COMPTENTRA_URL"))
	if curl == "" {
		curl = comptentra.DefaultBaseURL
	}
	cc, err := comptentra.NewClient(curl, ckey)
	if err != nil {
		return configErr(err)
	}

	rep, err := reconcile.Compare(ctx, sc, cc, rules, from, to)
	if err != nil {
		return exitErr{err: err, code: 3}
	}
	switch *format {
	case "json":
		err = reconcile.WriteJSON(stdout, rep)
	case "csv":
		err = reconcile.WriteCSV(stdout, rep)
	default:
		err = reconcile.WriteText(stdout, rep)
	}
	if err != nil {
		return exitErr{err: err, code: 3}
	}
	if *csvOut != "" {
		if err := writeCSVFile(*csvOut, rep); err != nil {
			return exitErr{err: err, code: 3}
		}
	}
	if !rep.Agree {
		return exitCode(1)
	}
	return nil
}

func writeCSVFile(path string, rep reconcile.Report) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("reconcile --csv-out: %w", err)
	}
	if err := reconcile.WriteCSV(f, rep); err != nil {
		f.Close()
		return fmt.Errorf("reconcile --csv-out %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("reconcile --csv-out %s: %w", path, err)
	}
	return nil
}
