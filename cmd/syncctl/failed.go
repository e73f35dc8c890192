package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/servolution/stripe-comptentra-sync/cmd/internal/settings"
	"github.com/servolution/stripe-comptentra-sync/eventtask"
	"github.com/servolution/stripe-comptentra-sync/worker"
)

// runFailed lists the events held for an operator and sends them back through the
// pipeline once their cause is fixed.
func runFailed(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	if len(args) == 0 {
		return fmt.Errorf("failed needs list or retry: %w", errUsage)
	}
	fs := flag.NewFlagSet("failed "+args[0], flag.ContinueOnError)
	fs.SetOutput(stdout)
	asJSON := fs.Bool("json", false, "list: print JSON lines")
	all := fs.Bool("all", false, "retry: every recorded failure")
	if err := fs.Parse(args[1:]); err != nil {
		return flagError(err)
	}
	_, redisOpt, ropt, err := settings.Redis(getenv)
	if err != nil {
		return err
	}
	prefix := envOr(getenv, "REDIS_KEY_PREFIX", worker.DefaultKeyPrefix)
	rdb := redis.NewClient(ropt)
	defer rdb.Close()
	store := worker.NewFailureStore(rdb, prefix)

	switch args[0] {
	case "list":
		list, err := store.List(ctx)
		if err != nil {
			return fmt.Errorf("read failures: %w", err)
		}
		if *asJSON {
			enc := json.NewEncoder(stdout)
			for _, f := range list {
				f.Payload = nil
				if err := enc.Encode(f); err != nil {
					return err
				}
			}
			return nil
		}
		tw := tabwriter.NewWriter(stdout, 2, 8, 2, ' ', 0)
		fmt.Fprintln(tw, "EVENT\tFAILED AT\tRETRIED\tCODE\tERROR")
		for _, f := range list {
			fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\n", f.EventID, f.FailedAt.Format("2006-01-02 15:04:05Z"), f.Retried, orDash(f.Code), oneLine(f.Error))
		}
		tw.Flush()
		fmt.Fprintf(stdout, "%d failed event(s)\n", len(list))
		return nil
	case "retry":
		var ids []string
		if *all {
			list, err := store.List(ctx)
			if err != nil {
				return fmt.Errorf("read failures: %w", err)
			}
			for _, f := range list {
				ids = append(ids, f.EventID)
			}
		} else {
			ids = fs.Args()
		}
		if len(ids) == 0 {
			return fmt.Errorf("failed retry needs event ids or --all: %w", errUsage)
		}
		insp := asynq.NewInspector(redisOpt)
		defer insp.Close()
		client := asynq.NewClient(redisOpt)
		defer client.Close()
		opts := eventtask.Options{Queue: getenv("WORKER_QUEUE")}
		var failed int
		for _, id := range ids {
			if err := store.Retry(ctx, insp, client, id, opts); err != nil {
				fmt.Fprintf(stdout, "%s: %v\n", id, err)
				failed++
				continue
			}
			fmt.Fprintf(stdout, "%s: re-enqueued with a fresh retry budget\n", id)
		}
		if failed > 0 {
			return exitCode(1)
		}
		return nil
	default:
		return fmt.Errorf("failed %q: want list or retry: %w", args[0], errUsage)
	}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func oneLine(s string) string {
	s = strings.ReplaceAll(s, "\n", " ")
	if len(s) > 160 {
		s = s[:157] + "..."
	}
	return s
}
