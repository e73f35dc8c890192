package comptentra_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/servolution/stripe-comptentra-sync/comptentra"
)

// TestAPIKeyNeverLeaks collects every kind of error and printed value the package
// produces, including from a hostile server echoing the key, and checks none holds it.
func TestAPIKeyNeverLeaks(t *testing.T) {
	var mu sync.Mutex
	var seenURLs []string
	var badHeaders []string
	c, srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seenURLs = append(seenURLs, r.RequestURI, r.URL.String())
		for name, vs := range r.Header {
			for _, v := range vs {
				if name != "X-Api-Key" && strings.Contains(v, testKey) {
					badHeaders = append(badHeaders, name)
				}
			}
		}
		mu.Unlock()
		if r.Header.Get("X-API-Key") != testKey {
			t.Errorf("key not sent in X-API-Key")
		}
		echo := r.Header.Get("X-API-Key")
		switch r.URL.Path {
		case "/api/v1/comptes": // JSON error echoing the key everywhere
			w.Header().Set(comptentra.HeaderRequestID, "req_"+echo)
			writeJSON(w, 401, comptentra.ErrorBody{Error: comptentra.ErrorDetail{
				Code: "unauthorized", Message: "bad key " + echo,
				Details: []comptentra.FieldDetail{{Field: "X-API-Key=" + echo, Issue: echo}},
			}})
		case "/api/v1/exercices": // HTML echoing the key
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(502)
			io.WriteString(w, "<html>"+echo+"</html>")
		case "/api/v1/tiers": // slow: per-call timeout / cancel
			blockUntilCancelled(w, r)
		default: // 2xx with garbage echoing the key
			w.Header().Set(comptentra.HeaderRequestID, echo)
			io.WriteString(w, `{"data": "`+echo)
		}
	}, comptentra.WithTimeout(100*time.Millisecond))

	ctx := context.Background()
	var errs []error
	add := func(err error) {
		if err == nil {
			t.Errorf("expected an error (#%d)", len(errs))
		}
		errs = append(errs, err)
	}
	_, err := c.Accounts(ctx)
	add(err)
	_, err = c.FiscalYears(ctx)
	add(err)
	_, err = c.FindTiers(ctx, "x@example.com", "") // per-call timeout
	add(err)
	cctx, cancel := context.WithCancel(ctx)
	time.AfterFunc(20*time.Millisecond, cancel)
	_, err = c.FindTiers(cctx, "x@example.com", "") // caller cancel
	add(err)
	_, err = c.ListEntries(ctx, comptentra.ListEntriesParams{Journal: "VTE"}) // decode error
	add(err)
	_, err = c.GetEntry(ctx, "ecr_1")
	add(err)
	_, _, err = c.CreateEntry(ctx, sampleEntry, "idem")
	add(err)
	_, err = refusedClient(t).Accounts(ctx) // connection refused (url.Error path)
	add(err)
	_, err = comptentra.NewClient(testKey, srv.URL) // arguments swapped
	add(err)
	_, err = comptentra.NewClient("http://h/"+testKey+"?q=1", testKey)
	add(err)
	_, err = comptentra.NewClient("http://"+testKey+":x@h/", testKey)
	add(err)
	_, err = comptentra.NewClient("%zz"+testKey, testKey)
	add(err)
	_, err = comptentra.NewClient("http://h", testKey+"\n")
	add(err)

	var out []string
	for _, err := range errs {
		if err == nil {
			continue
		}
		out = append(out, err.Error(), fmt.Sprintf("%v|%+v|%#v|%s|%q", err, err, err, err, err))
	}
	type holder struct {
		c  comptentra.Client
		pc *comptentra.Client
	}
	out = append(out,
		fmt.Sprintf("%v|%+v|%#v|%s|%q", c, c, c, c, c),
		fmt.Sprintf("%v|%+v|%#v", *c, *c, *c),
		fmt.Sprintf("%v|%+v|%#v", holder{*c, c}, holder{*c, c}, holder{*c, c}),
	)
	var logs bytes.Buffer
	slog.New(slog.NewTextHandler(&logs, nil)).Info("x", "client", c, "value", *c, "err", errs[0])
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("x", "client", c, "value", *c, "err", errs[0])
	js, _ := json.Marshal(c)
	out = append(out, logs.String(), string(js))

	for i, s := range out {
		if strings.Contains(s, testKey) {
			t.Errorf("output #%d contains the API key: %s", i, s)
		}
	}
	// The hostile echoes really reached the errors (so redaction, not luck, hid the key).
	if !strings.Contains(errs[0].Error(), "[REDACTED]") {
		t.Errorf("echoed key not redacted visibly: %v", errs[0])
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seenURLs) == 0 {
		t.Fatal("server saw no request")
	}
	for _, u := range seenURLs {
		if strings.Contains(u, testKey) {
			t.Errorf("key in request URL %q", u)
		}
	}
	if len(badHeaders) > 0 {
		t.Errorf("key in headers %v", badHeaders)
	}
}
