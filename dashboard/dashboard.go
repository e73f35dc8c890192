// Package dashboard serves asynqmon, the web UI of the task queue, under /monitoring/
// behind HTTP basic auth. asynqmon has no authentication of its own and can delete or
// re-run tasks, so this package refuses to build a handler without credentials.
package dashboard

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"net/http"

	"github.com/hibiken/asynq"
	"github.com/hibiken/asynqmon"
)

// RootPath is where the dashboard lives.
const RootPath = "/monitoring"

// ErrNoCredentials is returned when no user or password is configured.
var ErrNoCredentials = errors.New("dashboard: DASHBOARD_USER and DASHBOARD_PASSWORD are required: asynqmon can delete and re-run tasks and has no authentication of its own")

// Options configure the dashboard.
type Options struct {
	Redis    asynq.RedisConnOpt
	User     string
	Password string
	ReadOnly bool // view only: no delete, run or archive buttons
}

// New returns the dashboard handler; it answers 401 to requests without the credentials.
func New(o Options) (http.Handler, error) {
	if o.User == "" || o.Password == "" {
		return nil, ErrNoCredentials
	}
	mon := asynqmon.New(asynqmon.Options{RootPath: RootPath, RedisConnOpt: o.Redis, ReadOnly: o.ReadOnly})
	mux := http.NewServeMux()
	mux.Handle(RootPath+"/", mon)
	mux.Handle(RootPath, http.RedirectHandler(RootPath+"/", http.StatusMovedPermanently))
	wantUser, wantPass := sha256.Sum256([]byte(o.User)), sha256.Sum256([]byte(o.Password))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, p, ok := r.BasicAuth()
		// Hashing first makes the comparison constant-time whatever the lengths.
		gotUser, gotPass := sha256.Sum256([]byte(u)), sha256.Sum256([]byte(p))
		if !ok || subtle.ConstantTimeCompare(gotUser[:], wantUser[:])&subtle.ConstantTimeCompare(gotPass[:], wantPass[:]) != 1 {
			w.Header().Set("WWW-Authenticate", `Basic realm="stripe-comptentra-sync dashboard", charset="UTF-8"`)
			http.Error(w, "authentication required", http.StatusUnauthorized)
			return
		}
		mux.ServeHTTP(w, r)
	}), nil
}
