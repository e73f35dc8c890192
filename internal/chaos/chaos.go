// Package chaos proves the service's promise — every Stripe fact booked exactly once,
// no acknowledged event lost — with real processes and real faults.
//
// Run builds the programs (ingest, worker, comptentra-sandbox), starts them on free
// 127.0.0.1 ports next to a redis-server of its own (AOF, noeviction), generates a
// Stripe history (internal/history) plus a few poison events that must end up held
// for an operator, and delivers every event signed to ingest, some several times,
// shuffled, from concurrent senders that retry like Stripe. Meanwhile the Comptentra
// sandbox injects 5xx, 429 and latency and commits then fails; workers are SIGKILLed
// and started again, ingest is restarted, Redis is restarted. Once every delivery is
// acknowledged the faults stop, the run waits for the queue to drain and the books to
// be stable, and compares the sandbox's ledger with what the history says it must
// hold (Summary).
//
// Everything listens on 127.0.0.1, lives in one temporary directory, and is bounded
// in count and time; Run stops every process it started before it returns.
package chaos

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/servolution/stripe-comptentra-sync/comptentra"
	"github.com/servolution/stripe-comptentra-sync/comptentra/comptentratest"
	"github.com/servolution/stripe-comptentra-sync/eventtask"
	"github.com/servolution/stripe-comptentra-sync/ingest"
	"github.com/servolution/stripe-comptentra-sync/internal/history"
	"github.com/servolution/stripe-comptentra-sync/internal/stripeevent"
	"github.com/servolution/stripe-comptentra-sync/worker"
)

// ModulePath is the module whose programs a run builds.
const ModulePath = "github.com/servolution/stripe-comptentra-sync"

// Programs are the binaries a run needs (in BinDir, or built).
var Programs = []string{"ingest", "worker", "comptentra-sandbox"}

// DefaultFaults are the sandbox faults injected while events are delivered.
var DefaultFaults = comptentratest.Faults{
	ErrorRate: 0.1, ErrorStatus: 503, RateLimitRate: 0.05, RetryAfterS: 1,
	LatencyMS: 20, CommitThenFailRate: 0.05,
}

// Config shapes a run. Zero fields take the defaults given.
type Config struct {
	Events  int     // distinct events, poison included, approximately (default 2000)
	Workers int     // worker processes, at least 2 (default 2)
	Seed    uint64  // seed of the history, deliveries and chaos (0 → from the clock)
	Dup     float64 // share of events delivered 2 to 4 times (0 → none)
	Poison  int     // events invalid for the books, which must end up held (0 → none)

	DurationLimit time.Duration // bound of the whole run (default 10m)
	Keep          bool          // keep the temporary directory (logs, AOF, ledger)
	BinDir        string        // prebuilt ingest, worker, comptentra-sandbox ("" → go build)
	ModuleDir     string        // checkout to build from ("" → from the working directory)
	RedisServer   string        // redis-server binary ("" → from PATH)

	Senders     int           // concurrent webhook senders (default 4)
	DeliverOver time.Duration // spread the deliveries over this long (default 10 ms per event, 5s..60s)
	KillEvery   time.Duration // SIGKILL a worker this often while delivering (default 3s)
	MaxKills    int           // bound of the worker kills (0 → no bound but time)
	// IngestRestarts and RedisRestarts while delivering (0 → 1; negative → none).
	IngestRestarts, RedisRestarts int
	RedisDowntime                 time.Duration // how long Redis stays down (default 2s: past ingest's Redis retries, so deliveries get 503)
	Faults                        *comptentratest.Faults
	// NoIdempotency runs the sandbox with Idempotency-Key ignored, as a Comptentra that
	// does not honour it: exactly-once must then rest on the worker's own layers.
	NoIdempotency bool
	Quiet         time.Duration // the books must be stable this long (default 3s)

	// AfterCheck, when set, runs once the books are compared, while Redis still runs
	// (for instance the operator's "failed list").
	AfterCheck func(ctx context.Context, redisURL, keyPrefix, queue string) error
}

// Summary is the outcome of a run.
type Summary struct {
	Seed       uint64
	Events     int // distinct events (history + poison)
	Deliveries int // deliveries sent (duplicates included)
	Poison     int
	Expected   int // entries the books must hold
	Posted     int // entries in the books
	Duplicates int // keys booked more than once
	Lost       int // expected keys missing
	Failed     int // events in the failure store
	Unexpected int // keys booked that nothing expected

	DuplicateKeys, LostKeys, UnexpectedKeys []string
	Mismatches                              []string // keys booked once with a wrong total
	MissingPoison                           []string // poison events not in the failure store
	UnexpectedFailures                      []string // failures of events that are not poison: "evt: error"

	Unacknowledged  int            // deliveries never acknowledged with a 2xx
	SenderRetries   int            // deliveries retried after a non-2xx or a transport error
	SenderErrors    map[string]int // what the retried attempts got ("503", "transport"…)
	WorkerKills     int
	IngestRestarts  int
	RedisRestarts   int
	UnexpectedExits int
	Sandbox         comptentratest.Stats
	Converged       bool // the queue drained and the books were stable before the limit
	Duration        time.Duration
	Dir             string // the temporary directory (removed unless Keep; logs in Dir/logs)
}

// OK reports whether the promise held: nothing booked twice, nothing lost, exactly
// the poison events held, every delivery acknowledged, and nothing unexpected.
func (s Summary) OK() bool {
	return s.Converged && s.Duplicates == 0 && s.Lost == 0 && s.Failed == s.Poison &&
		len(s.MissingPoison) == 0 && len(s.UnexpectedFailures) == 0 && s.Unacknowledged == 0 &&
		s.Unexpected == 0 && len(s.Mismatches) == 0
}

// Line is the one-line summary.
func (s Summary) Line() string {
	return fmt.Sprintf("events %d, expected entries %d, posted %d, duplicates %d, lost %d, failed %d",
		s.Events, s.Expected, s.Posted, s.Duplicates, s.Lost, s.Failed)
}

// FaultLine counts the faults of the run.
func (s Summary) FaultLine() string {
	var errs []string
	for k, v := range s.SenderErrors {
		errs = append(errs, fmt.Sprintf("%s×%d", k, v))
	}
	sort.Strings(errs)
	detail := ""
	if len(errs) > 0 {
		detail = " (" + strings.Join(errs, " ") + ")"
	}
	rej := make([]string, 0, len(s.Sandbox.Rejections))
	for k, v := range s.Sandbox.Rejections {
		rej = append(rej, fmt.Sprintf("%s=%d", k, v))
	}
	sort.Strings(rej)
	return fmt.Sprintf("faults: worker kills %d, ingest restarts %d, redis restarts %d, sender retries %d%s, unexpected exits %d; "+
		"sandbox: requests %d, entries created %d, idempotent replays %d, faults injected %d, rejections {%s}",
		s.WorkerKills, s.IngestRestarts, s.RedisRestarts, s.SenderRetries, detail, s.UnexpectedExits,
		s.Sandbox.Requests, s.Sandbox.EntriesCreated, s.Sandbox.IdempotentReplays, s.Sandbox.FaultsInjected, strings.Join(rej, " "))
}

func (c Config) withDefaults() (Config, error) {
	if c.Events == 0 {
		c.Events = 2000
	}
	if c.Events < 1 || c.Events > 100_000 {
		return c, fmt.Errorf("chaos: events %d outside 1..100000", c.Events)
	}
	if c.Workers == 0 {
		c.Workers = 2
	}
	if c.Workers < 2 || c.Workers > 16 {
		return c, fmt.Errorf("chaos: workers %d outside 2..16", c.Workers)
	}
	if c.Seed == 0 {
		c.Seed = uint64(time.Now().UnixNano())
	}
	if c.Dup < 0 || c.Dup > 1 {
		return c, fmt.Errorf("chaos: dup %v outside 0..1", c.Dup)
	}
	if c.Poison < 0 || c.Poison > 100 {
		return c, fmt.Errorf("chaos: poison %d outside 0..100", c.Poison)
	}
	if c.DurationLimit == 0 {
		c.DurationLimit = 10 * time.Minute
	}
	if c.DurationLimit < 10*time.Second || c.DurationLimit > 2*time.Hour {
		return c, fmt.Errorf("chaos: duration limit %v outside 10s..2h", c.DurationLimit)
	}
	if c.Senders <= 0 {
		c.Senders = 4
	}
	c.Senders = min(c.Senders, 32)
	if c.DeliverOver <= 0 {
		c.DeliverOver = min(max(time.Duration(c.Events)*10*time.Millisecond, 5*time.Second), time.Minute)
	}
	if c.KillEvery <= 0 {
		c.KillEvery = 3 * time.Second
	}
	if c.IngestRestarts == 0 {
		c.IngestRestarts = 1
	}
	if c.RedisRestarts == 0 {
		c.RedisRestarts = 1
	}
	c.IngestRestarts, c.RedisRestarts = max(c.IngestRestarts, 0), max(c.RedisRestarts, 0)
	if c.RedisDowntime <= 0 {
		c.RedisDowntime = 2 * time.Second
	}
	if c.Faults == nil {
		f := DefaultFaults
		c.Faults = &f
	}
	if err := c.Faults.Validate(); err != nil {
		return c, fmt.Errorf("chaos: faults: %w", err)
	}
	if c.Quiet <= 0 {
		c.Quiet = 3 * time.Second
	}
	if c.RedisServer == "" {
		p, err := exec.LookPath("redis-server")
		if err != nil {
			return c, fmt.Errorf("chaos: redis-server is not installed (apt-get install redis-server): %w", err)
		}
		c.RedisServer = p
	}
	return c, nil
}

// Plan is the generated workload of a run.
type Plan struct {
	History    history.History
	Poison     []stripeevent.Event
	Deliveries []stripeevent.Event // shuffled, duplicates included
	// Expected maps every business key the books must hold to its total: the
	// history's, without the settlement entries (they need the Stripe API, and a chaos
	// run has no Stripe key).
	Expected map[string]int64
}

// NewPlan generates the workload of cfg: a history of about cfg.Events − cfg.Poison
// events without foreign charges (their rate needs the Stripe API), cfg.Poison charges whose
// metadata vat_rate is "abc" (a permanent failure), and the deliveries.
func NewPlan(cfg Config) Plan {
	opts := func(charges int) history.Options {
		return history.Options{Seed: cfg.Seed, Charges: charges, ForeignShare: -1}
	}
	// The largest number of charges whose history, with the poison events, has at
	// most cfg.Events events.
	target := max(cfg.Events-cfg.Poison, 1)
	lo, hi := 1, target
	for lo < hi {
		mid := (lo + hi + 1) / 2
		if len(history.Generate(opts(mid)).Events) <= target {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	h := history.Generate(opts(lo))
	p := Plan{History: h, Expected: map[string]int64{}}
	for k, v := range h.Expected.Keys {
		if !strings.HasSuffix(k, ":settlement") {
			p.Expected[k] = v
		}
	}
	rng := rand.New(rand.NewPCG(cfg.Seed, 0xc4a05))
	for i := 0; i < cfg.Poison; i++ {
		at := h.Options.Start.Add(time.Duration(1+rng.IntN(24*max(h.Options.Days-1, 1))) * time.Hour)
		ch := stripeevent.Charge{
			ID: fmt.Sprintf("ch_chaospoison%02d%s", i, randID(rng, 10)), Amount: int64(1000 + rng.IntN(90000)),
			Currency: "eur", Captured: true, Created: at, VATRate: "abc",
			Email: fmt.Sprintf("poison%d@example.com", i), BalanceTransaction: "txn_chaospoison" + randID(rng, 12),
		}
		evt := ch.Succeeded(at)
		evt.ID = fmt.Sprintf("evt_chaospoison%02d%s", i, randID(rng, 10))
		p.Poison = append(p.Poison, evt)
	}
	p.Deliveries = append(h.Deliveries(cfg.Seed, cfg.Dup), p.Poison...)
	rng.Shuffle(len(p.Deliveries), func(i, j int) { p.Deliveries[i], p.Deliveries[j] = p.Deliveries[j], p.Deliveries[i] })
	return p
}

func randID(rng *rand.Rand, n int) string {
	const alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	b := make([]byte, n)
	for i := range b {
		b[i] = alphabet[rng.IntN(len(alphabet))]
	}
	return string(b)
}

// run is the state of one run.
type run struct {
	cfg   Config
	out   io.Writer
	outMu sync.Mutex
	dir   string
	rng   *rand.Rand

	redisPort int
	redisURL  string
	sandbox   string // http://127.0.0.1:port
	ingestURL string
	apiKey    string
	secret    string

	redis, sandboxP, ingestP *proc
	workers                  []*proc
	insp                     *asynq.Inspector

	workerKills, ingestRestarts, redisRestarts atomic.Int64
	senderRetries, unacked                     atomic.Int64
	errMu                                      sync.Mutex
	senderErrors                               map[string]int
}

func (r *run) logf(format string, args ...any) {
	r.outMu.Lock()
	defer r.outMu.Unlock()
	fmt.Fprintf(r.out, "chaos: "+format+"\n", args...)
}

// Write lets procs report through logf's lock.
func (r *run) Write(b []byte) (int, error) {
	r.outMu.Lock()
	defer r.outMu.Unlock()
	return r.out.Write(b)
}

// Run runs the chaos suite (see the package documentation) and returns its summary.
// An error means the run could not be carried out (a build, a process that does not
// start); the promise is judged by Summary.OK.
func Run(ctx context.Context, cfg Config, out io.Writer) (Summary, error) {
	began := time.Now()
	cfg, err := cfg.withDefaults()
	if err != nil {
		return Summary{}, err
	}
	r := &run{cfg: cfg, out: out, rng: rand.New(rand.NewPCG(cfg.Seed, 0xfa17)), senderErrors: map[string]int{}}
	sum := Summary{Seed: cfg.Seed, Poison: cfg.Poison}

	runCtx, cancel := context.WithTimeout(ctx, cfg.DurationLimit)
	defer cancel()
	// Reading the books and stopping the processes go on after an interrupt or the limit.
	bg := context.WithoutCancel(ctx)

	r.dir, err = os.MkdirTemp("", "syncctl-chaos-")
	if err != nil {
		return sum, err
	}
	sum.Dir = r.dir
	if !cfg.Keep {
		defer os.RemoveAll(r.dir)
	}
	for _, d := range []string{"bin", "logs", "redis", "sandbox"} {
		if err := os.MkdirAll(filepath.Join(r.dir, d), 0o700); err != nil {
			return sum, err
		}
	}
	r.logf("seed %d, directory %s", cfg.Seed, r.dir)

	bin := cfg.BinDir
	if bin == "" {
		bin = filepath.Join(r.dir, "bin")
		if err := build(runCtx, cfg.ModuleDir, bin, r); err != nil {
			return sum, err
		}
	}
	for _, p := range Programs {
		if _, err := os.Stat(filepath.Join(bin, p)); err != nil {
			return sum, fmt.Errorf("chaos: program %s: %w", p, err)
		}
	}

	plan := NewPlan(cfg)
	sum.Events = len(plan.History.Events) + len(plan.Poison)
	sum.Deliveries = len(plan.Deliveries)
	sum.Expected = len(plan.Expected)
	r.logf("%d events (%d charges' history + %d poison), %d deliveries, %d expected entries",
		sum.Events, plan.History.Options.Charges, len(plan.Poison), sum.Deliveries, sum.Expected)

	defer r.stopAll()
	defer func() {
		if r.insp != nil {
			r.insp.Close()
		}
	}()
	if err := r.startAll(runCtx, bin, plan); err != nil {
		return sum, err
	}

	if err := r.setFaults(runCtx, cfg.Faults); err != nil {
		return sum, err
	}
	r.logf("sandbox faults on: %+v", *cfg.Faults)

	// Deliver, with chaos alongside.
	delivered := make(chan struct{})
	go func() {
		r.deliver(runCtx, plan.Deliveries)
		close(delivered)
	}()
	r.chaos(runCtx, delivered)
	<-delivered
	r.logf("deliveries done: %d sent, %d retried, %d unacknowledged", len(plan.Deliveries), r.senderRetries.Load(), r.unacked.Load())
	if err := r.clearFaults(bg); err != nil {
		r.logf("clear faults: %v", err)
	}
	r.logf("sandbox faults off; waiting for the queue to drain and the books to be stable")

	rdb := redis.NewClient(&redis.Options{Addr: r.redisAddr()})
	defer rdb.Close()
	store := worker.NewFailureStore(rdb, worker.DefaultKeyPrefix)
	sum.Converged = r.waitQuiet(runCtx, store)

	// Judge.
	cctx, ccancel := context.WithTimeout(bg, time.Minute)
	defer ccancel()
	entries, err := r.entries(cctx)
	if err != nil {
		return sum, fmt.Errorf("chaos: read the books: %w", err)
	}
	l := Compare(entries, plan.Expected)
	sum.Posted, sum.Duplicates, sum.Lost, sum.Unexpected = l.Posted, len(l.Duplicates), len(l.Lost), len(l.Unexpected)
	sum.DuplicateKeys, sum.LostKeys, sum.UnexpectedKeys, sum.Mismatches = l.Duplicates, l.Lost, l.Unexpected, l.Mismatches
	fails, err := store.List(cctx)
	if err != nil {
		return sum, fmt.Errorf("chaos: read the failure store: %w", err)
	}
	sum.Failed = len(fails)
	poison := map[string]bool{}
	for _, e := range plan.Poison {
		poison[e.ID] = true
	}
	held := map[string]bool{}
	for _, f := range fails {
		held[f.EventID] = true
		if !poison[f.EventID] {
			sum.UnexpectedFailures = append(sum.UnexpectedFailures, f.EventID+": "+f.Error)
		}
	}
	for _, e := range plan.Poison {
		if !held[e.ID] {
			sum.MissingPoison = append(sum.MissingPoison, e.ID)
		}
	}
	if st, err := r.stats(cctx); err == nil {
		sum.Sandbox = st
	}
	sum.Unacknowledged = int(r.unacked.Load())
	sum.SenderRetries = int(r.senderRetries.Load())
	r.errMu.Lock()
	sum.SenderErrors = copyMap(r.senderErrors)
	r.errMu.Unlock()
	sum.WorkerKills, sum.IngestRestarts, sum.RedisRestarts = int(r.workerKills.Load()), int(r.ingestRestarts.Load()), int(r.redisRestarts.Load())
	for _, p := range r.procs() {
		sum.UnexpectedExits += p.unexpectedExits()
	}
	if cfg.AfterCheck != nil {
		if err := cfg.AfterCheck(cctx, r.redisURL, worker.DefaultKeyPrefix, eventtask.DefaultQueue); err != nil {
			r.logf("after check: %v", err)
		}
	}
	sum.Duration = time.Since(began)
	return sum, nil
}

func copyMap(m map[string]int) map[string]int {
	out := make(map[string]int, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// build compiles the programs into bin.
func build(ctx context.Context, moduleDir, bin string, r *run) error {
	if moduleDir == "" {
		var err error
		if moduleDir, err = findModule(ctx); err != nil {
			return err
		}
	}
	pkgs := make([]string, 0, len(Programs))
	for _, p := range Programs {
		pkgs = append(pkgs, "./cmd/"+p)
	}
	r.logf("building %s in %s", strings.Join(Programs, ", "), moduleDir)
	cmd := exec.CommandContext(ctx, "go", append([]string{"build", "-o", bin + string(filepath.Separator)}, pkgs...)...)
	cmd.Dir = moduleDir
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("chaos: go build: %v\n%s", err, stderr.String())
	}
	return nil
}

// findModule returns the root of the checkout of ModulePath around the working directory.
func findModule(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("chaos: go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("chaos: not inside the stripe-comptentra-sync checkout (give --bin-dir, or run from the checkout)")
	}
	b, err := os.ReadFile(gomod)
	if err != nil {
		return "", err
	}
	if !strings.Contains(string(b), "module "+ModulePath+"\n") {
		return "", fmt.Errorf("chaos: %s is not the module %s", gomod, ModulePath)
	}
	return filepath.Dir(gomod), nil
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

func (r *run) redisAddr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(r.redisPort)) }

func (r *run) procs() []*proc {
	var ps []*proc
	for _, p := range append([]*proc{r.redis, r.sandboxP, r.ingestP}, r.workers...) {
		if p != nil {
			ps = append(ps, p)
		}
	}
	return ps
}

// baseEnv is the environment every child gets: nothing of ours (no Stripe key, no
// REDIS_URL of the caller) beyond what a program needs to run.
func baseEnv(extra ...string) []string {
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "TMPDIR=" + os.TempDir(), "LOG_FORMAT=json", "LOG_LEVEL=info"}
	return append(env, extra...)
}

func (r *run) startAll(ctx context.Context, bin string, plan Plan) error {
	logs := filepath.Join(r.dir, "logs")
	var err error
	ports := make([]int, 3+r.cfg.Workers)
	for i := range ports {
		if ports[i], err = freePort(); err != nil {
			return err
		}
	}
	r.redisPort = ports[0]
	r.redisURL = fmt.Sprintf("redis://%s/0", r.redisAddr())
	r.sandbox = fmt.Sprintf("http://127.0.0.1:%d", ports[1])
	r.ingestURL = fmt.Sprintf("http://127.0.0.1:%d", ports[2])
	r.apiKey = "ck_sandbox_chaos_" + randID(r.rng, 24)
	r.secret = "whsec_chaos_" + randID(r.rng, 32)

	// Redis with AOF, its data in the run's directory.
	r.redis, err = newProc("redis", r.cfg.RedisServer, []string{
		"--port", strconv.Itoa(r.redisPort), "--bind", "127.0.0.1", "--dir", filepath.Join(r.dir, "redis"),
		"--appendonly", "yes", "--appendfsync", "everysec", "--maxmemory-policy", "noeviction", "--save", "",
		"--daemonize", "no", "--logfile", "",
	}, baseEnv(), filepath.Join(logs, "redis.log"), r)
	if err != nil {
		return err
	}
	if err := r.redis.start(); err != nil {
		return err
	}
	if err := r.waitRedis(ctx); err != nil {
		return err
	}
	r.insp = asynq.NewInspector(asynq.RedisClientOpt{Addr: r.redisAddr()})

	// The sandbox, its ledger persisted, its fiscal years covering the history.
	from := plan.History.Options.Start.Year()
	to := plan.History.Options.Start.AddDate(0, 0, plan.History.Options.Days+8).Year()
	var years []string
	for y := from; y <= to; y++ {
		years = append(years, fmt.Sprintf("%d=ouvert", y))
	}
	r.sandboxP, err = newProc("comptentra-sandbox", filepath.Join(bin, "comptentra-sandbox"), nil, baseEnv(
		"SANDBOX_ADDR="+strings.TrimPrefix(r.sandbox, "http://"),
		"SANDBOX_API_KEY="+r.apiKey,
		"SANDBOX_DATA_FILE="+filepath.Join(r.dir, "sandbox", "ledger.json"),
		"SANDBOX_FISCAL_YEARS="+strings.Join(years, ","),
		"SANDBOX_SEED="+strconv.FormatUint(r.cfg.Seed%(1<<62), 10),
		"SANDBOX_DISABLE_IDEMPOTENCY="+strconv.FormatBool(r.cfg.NoIdempotency),
	), filepath.Join(logs, "sandbox.log"), r)
	if err != nil {
		return err
	}
	if err := r.sandboxP.start(); err != nil {
		return err
	}
	if err := waitHTTP(ctx, r.sandbox+"/_sandbox/stats"); err != nil {
		return fmt.Errorf("chaos: sandbox: %w (see %s)", err, r.sandboxP.log.Name())
	}

	r.ingestP, err = newProc("ingest", filepath.Join(bin, "ingest"), nil, baseEnv(
		"INGEST_ADDR="+strings.TrimPrefix(r.ingestURL, "http://"),
		"REDIS_URL="+r.redisURL,
		"STRIPE_WEBHOOK_SECRET="+r.secret,
	), filepath.Join(logs, "ingest.log"), r)
	if err != nil {
		return err
	}
	if err := r.ingestP.start(); err != nil {
		return err
	}

	for i := 0; i < r.cfg.Workers; i++ {
		name := fmt.Sprintf("worker-%d", i+1)
		w, err := newProc(name, filepath.Join(bin, "worker"), nil, baseEnv(
			"REDIS_URL="+r.redisURL,
			"COMPTENTRA_URL="+r.sandbox+"/api/v1",
			"COMPTENTRA_API_KEY="+r.apiKey,
			fmt.Sprintf("WORKER_ADDR=127.0.0.1:%d", ports[3+i]),
			"WORKER_CONCURRENCY=10",
			"WORKER_RETRY_BASE=200ms",
			"WORKER_RETRY_MAX=2s",
			"WORKER_TASK_TIMEOUT=10s",
			"WORKER_SHUTDOWN_TIMEOUT=15s",
		), filepath.Join(logs, name+".log"), r)
		if err != nil {
			return err
		}
		r.workers = append(r.workers, w)
		if err := w.start(); err != nil {
			return err
		}
	}
	if err := waitHTTP(ctx, r.ingestURL+ingest.HealthPath); err != nil {
		return fmt.Errorf("chaos: ingest: %w (see %s)", err, r.ingestP.log.Name())
	}
	for i, w := range r.workers {
		if err := waitHTTP(ctx, fmt.Sprintf("http://127.0.0.1:%d/healthz", ports[3+i])); err != nil {
			return fmt.Errorf("chaos: %s: %w (see %s)", w.name, err, w.log.Name())
		}
	}
	// Each answer came from our own processes (not from a program that took a port
	// between freePort and the bind), and the sandbox takes the run's key.
	for _, p := range r.procs() {
		if !p.running() {
			return fmt.Errorf("chaos: %s exited at start (port taken?); see %s", p.name, p.log.Name())
		}
	}
	if err := r.preflight(ctx); err != nil {
		return err
	}
	for _, p := range r.procs() {
		p.setSupervised(true)
	}
	r.logf("started redis %s, sandbox %s, ingest %s, %d workers", r.redisAddr(), r.sandbox, r.ingestURL, len(r.workers))
	return nil
}

// stopAll stops every process: workers and ingest first, then the sandbox, Redis last.
func (r *run) stopAll() {
	var wg sync.WaitGroup
	for _, p := range append([]*proc{r.ingestP}, r.workers...) {
		if p == nil {
			continue
		}
		wg.Add(1)
		go func() { defer wg.Done(); p.close(20 * time.Second) }()
	}
	wg.Wait()
	if r.sandboxP != nil {
		r.sandboxP.close(12 * time.Second)
	}
	if r.redis != nil {
		r.redis.close(10 * time.Second)
	}
}

func (r *run) waitRedis(ctx context.Context) error {
	c := redis.NewClient(&redis.Options{Addr: r.redisAddr(), MaxRetries: -1})
	defer c.Close()
	deadline := time.Now().Add(15 * time.Second)
	for {
		pctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
		err := c.Ping(pctx).Err()
		cancel()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("chaos: redis-server on %s does not answer: %v (see %s)", r.redisAddr(), err, r.redis.log.Name())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

var httpc = &http.Client{Timeout: 15 * time.Second}

func waitHTTP(ctx context.Context, url string) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		resp, err := httpc.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode/100 == 2 {
				return nil
			}
			err = fmt.Errorf("%s answered %s", url, resp.Status)
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("not ready: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (r *run) sandboxDo(ctx context.Context, method, path string, body any, into any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, r.sandbox+path, rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := httpc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 256<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, bytes.TrimSpace(b))
	}
	if into != nil {
		return json.Unmarshal(b, into)
	}
	return nil
}

// preflight checks that the sandbox is the run's own: its ledger is empty and it
// gives the run's key the read scope.
func (r *run) preflight(ctx context.Context) error {
	st, err := r.stats(ctx)
	if err != nil {
		return fmt.Errorf("chaos: sandbox: %w", err)
	}
	if st.Entries != 0 {
		return fmt.Errorf("chaos: the sandbox on %s already holds %d entries: not ours", r.sandbox, st.Entries)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.sandbox+"/api/v1/comptes", nil)
	if err != nil {
		return err
	}
	req.Header.Set(comptentra.HeaderAPIKey, r.apiKey)
	resp, err := httpc.Do(req)
	if err != nil {
		return fmt.Errorf("chaos: sandbox: %w", err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("chaos: the sandbox answers %s to the run's API key (see %s)", resp.Status, r.sandboxP.log.Name())
	}
	return nil
}

func (r *run) setFaults(ctx context.Context, f *comptentratest.Faults) error {
	return r.sandboxDo(ctx, http.MethodPost, "/_sandbox/faults", f, nil)
}

func (r *run) clearFaults(ctx context.Context) error {
	return r.sandboxDo(ctx, http.MethodDelete, "/_sandbox/faults", nil, nil)
}

func (r *run) stats(ctx context.Context) (comptentratest.Stats, error) {
	var st comptentratest.Stats
	err := r.sandboxDo(ctx, http.MethodGet, "/_sandbox/stats", nil, &st)
	return st, err
}

func (r *run) entries(ctx context.Context) ([]comptentra.Entry, error) {
	var page struct {
		Data []comptentra.Entry `json:"data"`
	}
	err := r.sandboxDo(ctx, http.MethodGet, "/_sandbox/entries", nil, &page)
	return page.Data, err
}

// deliver sends every delivery, paced over DeliverOver, from Senders goroutines.
func (r *run) deliver(ctx context.Context, deliveries []stripeevent.Event) {
	jobs := make(chan []byte)
	var wg sync.WaitGroup
	client := &http.Client{Timeout: 15 * time.Second, Transport: &http.Transport{
		MaxIdleConnsPerHost: r.cfg.Senders, IdleConnTimeout: 30 * time.Second,
	}}
	defer client.CloseIdleConnections()
	for i := 0; i < r.cfg.Senders; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(r.cfg.Seed, uint64(i)))
			for body := range jobs {
				if !r.send(ctx, client, rng, body) {
					r.unacked.Add(1)
				}
			}
		}()
	}
	start := time.Now()
	step := r.cfg.DeliverOver / time.Duration(max(len(deliveries), 1))
	progress := time.Now()
	for i, d := range deliveries {
		if wait := time.Until(start.Add(time.Duration(i) * step)); wait > 0 {
			select {
			case <-time.After(wait):
			case <-ctx.Done():
			}
		}
		select {
		case jobs <- d.JSON():
		case <-ctx.Done():
			// Too late: what is left is never acknowledged.
			r.unacked.Add(int64(len(deliveries) - i))
			close(jobs)
			wg.Wait()
			return
		}
		if time.Since(progress) > 5*time.Second {
			progress = time.Now()
			r.logf("delivered %d/%d (retries so far %d)", i, len(deliveries), r.senderRetries.Load())
		}
	}
	close(jobs)
	wg.Wait()
}

// send delivers one event until ingest acknowledges it with a 2xx, retrying like
// Stripe (with a much shorter backoff), at most 200 attempts or until ctx ends. Every
// attempt is signed anew, as Stripe signs each delivery.
func (r *run) send(ctx context.Context, client *http.Client, rng *rand.Rand, body []byte) bool {
	backoff := 100 * time.Millisecond
	for attempt := 0; attempt < 200; attempt++ {
		if attempt > 0 {
			r.senderRetries.Add(1)
			d := backoff/2 + time.Duration(rng.Int64N(int64(backoff)))
			select {
			case <-time.After(d):
			case <-ctx.Done():
				return false
			}
			backoff = min(backoff*2, 2*time.Second)
		}
		if ctx.Err() != nil {
			return false
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.ingestURL+ingest.WebhookPath, bytes.NewReader(body))
		if err != nil {
			return false
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Stripe-Signature", ingest.SignPayload(body, r.secret, time.Now()))
		resp, err := client.Do(req)
		if err != nil {
			r.noteError("transport")
			continue
		}
		io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
		if resp.StatusCode/100 == 2 {
			return true
		}
		r.noteError(strconv.Itoa(resp.StatusCode))
	}
	return false
}

func (r *run) noteError(kind string) {
	r.errMu.Lock()
	r.senderErrors[kind]++
	r.errMu.Unlock()
}

// chaos kills workers every KillEvery and restarts ingest and Redis at set points of
// the delivery window, until the deliveries are done and every restart happened.
func (r *run) chaos(ctx context.Context, delivered <-chan struct{}) {
	start := time.Now()
	w := r.cfg.DeliverOver
	type op struct {
		at   time.Duration
		name string
	}
	var ops []op
	for k := 0; k < r.cfg.IngestRestarts; k++ {
		ops = append(ops, op{time.Duration(float64(w) * (0.1 + 0.8*(float64(k)+0.3)/float64(r.cfg.IngestRestarts))), "ingest"})
	}
	for k := 0; k < r.cfg.RedisRestarts; k++ {
		ops = append(ops, op{time.Duration(float64(w) * (0.1 + 0.8*(float64(k)+0.7)/float64(r.cfg.RedisRestarts))), "redis"})
	}
	sort.Slice(ops, func(i, j int) bool { return ops[i].at < ops[j].at })
	nextKill := r.cfg.KillEvery / 2
	done := false
	for {
		killsLeft := !done && (r.cfg.MaxKills == 0 || int(r.workerKills.Load()) < r.cfg.MaxKills)
		if len(ops) == 0 && !killsLeft {
			return
		}
		next := time.Duration(1<<62 - 1)
		if killsLeft {
			next = nextKill
		}
		if len(ops) > 0 && ops[0].at < next {
			next = ops[0].at
		}
		timer := time.NewTimer(max(time.Until(start.Add(next)), 0))
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case <-delivered:
			timer.Stop()
			done = true
			delivered = nil
			// Restarts not yet done happen now: the run promises at least one of each.
			for i := range ops {
				ops[i].at = min(ops[i].at, time.Since(start))
			}
			continue
		case <-timer.C:
		}
		if len(ops) > 0 && ops[0].at <= next {
			o := ops[0]
			ops = ops[1:]
			switch o.name {
			case "ingest":
				r.restartIngest()
			case "redis":
				r.restartRedis(ctx)
			}
			continue
		}
		r.killWorker()
		nextKill += r.cfg.KillEvery
	}
}

func (r *run) killWorker() {
	w := r.workers[r.rng.IntN(len(r.workers))]
	n := r.workerKills.Add(1)
	active := "?"
	if qi, err := r.insp.GetQueueInfo(eventtask.DefaultQueue); err == nil {
		active = strconv.Itoa(qi.Active)
	}
	r.logf("SIGKILL %s (kill #%d; %s tasks active in the queue)", w.name, n, active)
	w.kill()
	time.Sleep(time.Duration(100+r.rng.IntN(400)) * time.Millisecond)
	if err := w.start(); err != nil {
		r.logf("restart %s: %v", w.name, err)
	}
}

func (r *run) restartIngest() {
	n := r.ingestRestarts.Add(1)
	r.logf("SIGTERM ingest, then start it again (restart #%d)", n)
	r.ingestP.stop(25 * time.Second)
	if err := r.ingestP.start(); err != nil {
		r.logf("restart ingest: %v", err)
	}
}

func (r *run) restartRedis(ctx context.Context) {
	n := r.redisRestarts.Add(1)
	r.logf("SIGTERM redis, down for %v, then start it again on the same port and AOF (restart #%d)", r.cfg.RedisDowntime, n)
	r.redis.stop(10 * time.Second)
	time.Sleep(r.cfg.RedisDowntime)
	if err := r.redis.start(); err != nil {
		r.logf("restart redis: %v", err)
		return
	}
	if err := r.waitRedis(ctx); err != nil {
		r.logf("%v", err)
	}
}

// waitQuiet waits until the queue has no pending, active, scheduled or retry task and
// the books and the failure store have not changed for Quiet, or ctx ends.
func (r *run) waitQuiet(ctx context.Context, store *worker.FailureStore) bool {
	insp := r.insp
	var last string
	var since time.Time
	progress := time.Now()
	for {
		state, busy := r.state(ctx, insp, store)
		switch {
		case busy:
			last, since = "", time.Time{}
		case state != last:
			last, since = state, time.Now()
		case time.Since(since) >= r.cfg.Quiet:
			r.logf("quiet: %s", state)
			return true
		}
		if time.Since(progress) >= 5*time.Second {
			progress = time.Now()
			r.logf("waiting: %s", state)
		}
		select {
		case <-ctx.Done():
			r.logf("duration limit reached before the system was quiet: %s", state)
			return false
		case <-time.After(250 * time.Millisecond):
		}
	}
}

func (r *run) state(ctx context.Context, insp *asynq.Inspector, store *worker.FailureStore) (string, bool) {
	qctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	qi, err := insp.GetQueueInfo(eventtask.DefaultQueue)
	if err != nil {
		return "queue: " + err.Error(), true
	}
	st, err := r.stats(qctx)
	if err != nil {
		return "sandbox: " + err.Error(), true
	}
	fails, err := store.List(qctx)
	if err != nil {
		return "failures: " + err.Error(), true
	}
	busy := qi.Pending+qi.Active+qi.Scheduled+qi.Retry+qi.Aggregating > 0
	return fmt.Sprintf("pending %d, active %d, scheduled %d, retry %d, archived %d, completed %d; entries %d; failures %d",
		qi.Pending, qi.Active, qi.Scheduled, qi.Retry, qi.Archived, qi.Completed, st.Entries, len(fails)), busy
}
