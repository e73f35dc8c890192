package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"time"
)

// runProbe GETs a URL and succeeds on a 2xx: the health check of the container images,
// which have no shell, curl or wget.
func runProbe(ctx context.Context, args []string, stdout io.Writer) error {
	if len(args) != 1 {
		return fmt.Errorf("probe needs one URL: %w", errUsage)
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, args[0], nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	fmt.Fprintln(stdout, resp.Status)
	if resp.StatusCode/100 != 2 {
		return exitCode(1)
	}
	return nil
}
