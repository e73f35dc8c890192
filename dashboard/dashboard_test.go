package dashboard

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/hibiken/asynq"

	"github.com/servolution/stripe-comptentra-sync/internal/redistest"
)

func TestNoCredentialsNoDashboard(t *testing.T) {
	for _, o := range []Options{{}, {User: "admin"}, {Password: "secret"}} {
		if _, err := New(o); !errors.Is(err, ErrNoCredentials) {
			t.Errorf("New(%+v) = %v, want ErrNoCredentials", o, err)
		}
	}
}

func TestDashboardRequiresCredentials(t *testing.T) {
	r := redistest.New(t)
	opt, err := asynq.ParseRedisURI(r.URL)
	if err != nil {
		t.Fatal(err)
	}
	h, err := New(Options{Redis: opt, User: "admin", Password: "s3cret"})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	for _, tc := range []struct {
		name       string
		path       string
		user, pass string
		auth       bool
		want       int
	}{
		{"no credentials", "/monitoring/", "", "", false, http.StatusUnauthorized},
		{"wrong password", "/monitoring/", "admin", "guess", true, http.StatusUnauthorized},
		{"wrong user", "/monitoring/", "root", "s3cret", true, http.StatusUnauthorized},
		{"api without credentials", "/monitoring/api/queues", "", "", false, http.StatusUnauthorized},
		{"api delete without credentials", "/monitoring/api/queues/stripe", "", "", false, http.StatusUnauthorized},
		{"ui with credentials", "/monitoring/", "admin", "s3cret", true, http.StatusOK},
		{"api with credentials", "/monitoring/api/queues", "admin", "s3cret", true, http.StatusOK},
		{"root path redirects", "/monitoring", "admin", "s3cret", true, http.StatusMovedPermanently},
	} {
		t.Run(tc.name, func(t *testing.T) {
			method := http.MethodGet
			if strings.Contains(tc.name, "delete") {
				method = http.MethodDelete
			}
			req, _ := http.NewRequest(method, srv.URL+tc.path, nil)
			if tc.auth {
				req.SetBasicAuth(tc.user, tc.pass)
			}
			client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.want {
				t.Fatalf("%s %s: %d, want %d", method, tc.path, resp.StatusCode, tc.want)
			}
			if tc.want == http.StatusUnauthorized && !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Basic") {
				t.Errorf("401 without a Basic challenge")
			}
		})
	}
}
