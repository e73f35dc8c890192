package ingest_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/servolution/stripe-comptentra-sync/eventtask"
	"github.com/servolution/stripe-comptentra-sync/ingest"
	"github.com/servolution/stripe-comptentra-sync/internal/metricstest"
)

const (
	webhooksTotal   = "stripe_sync_webhooks_total"
	webhookDuration = "stripe_sync_webhook_duration_seconds"
	enqueueFailures = "stripe_sync_enqueue_failures_total"
)

// wk is the key of one stripe_sync_webhooks_total series in the maps of series().
func wk(typ, outcome, reason string) string {
	return fmt.Sprintf("outcome=%s,reason=%s,type=%s", outcome, reason, typ)
}

// scrape GETs /metrics on h and parses the Prometheus text it answers.
func scrape(t *testing.T, h http.Handler) (map[string]*dto.MetricFamily, string) {
	t.Helper()
	rec := get(h, ingest.MetricsPath)
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /metrics = %d %s", rec.Code, rec.Body)
	}
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") || !strings.Contains(ct, "version=0.0.4") {
		t.Fatalf("GET /metrics Content-Type %q, want the Prometheus text format", ct)
	}
	text := rec.Body.String()
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(strings.NewReader(text))
	if err != nil {
		t.Fatalf("GET /metrics is not Prometheus text: %v\n%s", err, text)
	}
	return mfs, text
}

// nonzero drops the series still at 0.
func nonzero(m map[string]float64) map[string]float64 {
	out := map[string]float64{}
	for k, v := range m {
		if v != 0 {
			out[k] = v
		}
	}
	return out
}

// allSeries are the series of stripe_sync_webhooks_total and of the duration
// histogram that exist from the start (at 0), and the only ones that may ever exist.
func allSeries() (webhooks, durations map[string]float64) {
	webhooks, durations = map[string]float64{}, map[string]float64{}
	for _, typ := range eventtask.HandledTypes {
		for _, o := range []string{"accepted", "duplicate", "enqueue_failed"} {
			webhooks[wk(typ, o, "")] = 0
		}
	}
	webhooks[wk("other", "ignored", "")] = 0
	for _, r := range allowedReasons[1:] {
		webhooks[wk("unknown", "rejected", r)] = 0
	}
	for _, o := range allowedOutcomes {
		durations["outcome="+o] = 0
	}
	return webhooks, durations
}

func sameKeys(a, b map[string]float64) bool {
	return slices.Equal(slices.Sorted(maps.Keys(a)), slices.Sorted(maps.Keys(b)))
}

func formatSeries(m map[string]float64) string {
	keys := slices.Sorted(maps.Keys(m))
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "\n  {%s} %g", k, m[k])
	}
	return b.String()
}

// allowed label values of stripe_sync_webhooks_total.
var (
	allowedTypes    = append([]string{ingest.TypeOther, ingest.TypeUnknown}, eventtask.HandledTypes...)
	allowedOutcomes = []string{ingest.OutcomeAccepted, ingest.OutcomeDuplicate, ingest.OutcomeIgnored, ingest.OutcomeRejected, ingest.OutcomeEnqueueFailed}
	allowedReasons  = []string{"", ingest.CodeSignatureMissing, ingest.CodeSignatureMalformed, ingest.CodeSignatureInvalid,
		ingest.CodeSignatureExpired, ingest.CodeEventInvalid, ingest.CodeBodyTooLarge, ingest.CodeBodyUnreadable}
)

type metricsReq struct {
	body     []byte
	sig      string
	chunked  bool // no Content-Length
	bodyErr  bool // the body fails while being read
	status   int
	wantCode string // error code of the answer, "" for 2xx
}

func (r metricsReq) do(h http.Handler) *httptest.ResponseRecorder {
	if !r.chunked && !r.bodyErr {
		return post(h, r.body, r.sig)
	}
	var body io.Reader = io.MultiReader(bytes.NewReader(r.body))
	if r.bodyErr {
		body = io.MultiReader(bytes.NewReader(r.body[:len(r.body)/2]), iotest.ErrReader(errors.New("connection reset by peer")))
	}
	req := httptest.NewRequest(http.MethodPost, ingest.WebhookPath, body)
	req.ContentLength = -1
	if r.sig != "" {
		req.Header.Set(ingest.SignatureHeader, r.sig)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func TestWebhookMetrics(t *testing.T) {
	now := time.Now()
	valid := fixture(t, "charge.succeeded.json") // charge.succeeded, evt_3NvKgBIGBnsLynRr0pJJqudS
	unhandled := fixture(t, "object-event.json") // setup_intent.created
	payout := event("evt_metrics_payout", "payout.paid", "2023-10-16")
	secretType := event("evt_metrics_secret", secret, "2023-10-16") // a signed event whose type is the secret
	noID := []byte(`{"type":"charge.succeeded"}`)                   // signed, handled type, no id
	notJSON := []byte(`{"id":"evt_1","type":"charge.succeeded"`)
	const maxBody = 8192 // the fixture is smaller; the padded body is not
	oversized := []byte(`{"id":"evt_big","type":"charge.succeeded","pad":"` + strings.Repeat("x", maxBody) + `"}`)

	ok := func(body []byte) metricsReq { return metricsReq{body: body, sig: sign(body, secret), status: 200} }
	bad := func(body []byte, sig string, status int, code string) metricsReq {
		return metricsReq{body: body, sig: sig, status: status, wantCode: code}
	}

	cases := []struct {
		name            string
		redisDown       bool
		reqs            []metricsReq
		want            map[string]float64 // stripe_sync_webhooks_total, every series
		wantDurations   map[string]float64 // stripe_sync_webhook_duration_seconds sample counts by outcome
		enqueueFailures float64
	}{
		{
			name: "valid events accepted",
			reqs: []metricsReq{ok(valid), ok(payout)},
			want: map[string]float64{
				wk("charge.succeeded", "accepted", ""): 1,
				wk("payout.paid", "accepted", ""):      1,
			},
			wantDurations: map[string]float64{"outcome=accepted": 2},
		},
		{
			name: "redelivery counted as duplicate",
			reqs: []metricsReq{
				ok(valid),
				{body: valid, sig: ingest.SignPayload(valid, secret, now.Add(-10*time.Second)), status: 200},
				ok(valid),
			},
			want: map[string]float64{
				wk("charge.succeeded", "accepted", ""):  1,
				wk("charge.succeeded", "duplicate", ""): 2,
			},
			wantDurations: map[string]float64{"outcome=accepted": 1, "outcome=duplicate": 2},
		},
		{
			name: "unhandled types ignored as other, even one named like the secret",
			reqs: []metricsReq{ok(unhandled), ok(unhandled), ok(secretType)},
			want: map[string]float64{
				wk("other", "ignored", ""): 3,
			},
			wantDurations: map[string]float64{"outcome=ignored": 3},
		},
		{
			name: "bad signatures rejected with type unknown",
			reqs: []metricsReq{
				bad(valid, "", 400, ingest.CodeSignatureMissing),
				bad(valid, "garbage", 400, ingest.CodeSignatureMalformed),
				bad(valid, secret, 400, ingest.CodeSignatureMalformed), // the secret itself as the header
				bad(valid, sign(valid, otherSecr), 400, ingest.CodeSignatureInvalid),
				bad(secretType, sign(secretType, otherSecr), 400, ingest.CodeSignatureInvalid),
				bad(valid, ingest.SignPayload(valid, secret, now.Add(-time.Hour)), 400, ingest.CodeSignatureExpired),
			},
			want: map[string]float64{
				wk("unknown", "rejected", "signature_missing"):   1,
				wk("unknown", "rejected", "signature_malformed"): 2,
				wk("unknown", "rejected", "signature_invalid"):   2,
				wk("unknown", "rejected", "signature_expired"):   1,
			},
			wantDurations: map[string]float64{"outcome=rejected": 6},
		},
		{
			name: "signed bodies that are not events rejected",
			reqs: []metricsReq{
				bad(notJSON, sign(notJSON, secret), 400, ingest.CodeEventInvalid),
				bad(noID, sign(noID, secret), 400, ingest.CodeEventInvalid),
			},
			want: map[string]float64{
				wk("unknown", "rejected", "event_invalid"): 2,
			},
			wantDurations: map[string]float64{"outcome=rejected": 2},
		},
		{
			name: "oversized and unreadable bodies rejected",
			reqs: []metricsReq{
				bad(oversized, sign(oversized, secret), 413, ingest.CodeBodyTooLarge),
				{body: oversized, sig: sign(oversized, secret), chunked: true, status: 413, wantCode: ingest.CodeBodyTooLarge},
				{body: valid, sig: sign(valid, secret), bodyErr: true, status: 400, wantCode: ingest.CodeBodyUnreadable},
				ok(valid), // a body under the cap still goes through
			},
			want: map[string]float64{
				wk("unknown", "rejected", "body_too_large"):  2,
				wk("unknown", "rejected", "body_unreadable"): 1,
				wk("charge.succeeded", "accepted", ""):       1,
			},
			wantDurations: map[string]float64{"outcome=rejected": 3, "outcome=accepted": 1},
		},
		{
			name:      "Redis down",
			redisDown: true,
			reqs: []metricsReq{
				bad(valid, sign(valid, secret), 503, ingest.CodeEnqueueFailed),
				bad(payout, sign(payout, secret), 503, ingest.CodeEnqueueFailed),
				ok(unhandled), // ignored needs no Redis
				bad(valid, sign(valid, otherSecr), 400, ingest.CodeSignatureInvalid),
			},
			want: map[string]float64{
				wk("charge.succeeded", "enqueue_failed", ""):   1,
				wk("payout.paid", "enqueue_failed", ""):        1,
				wk("other", "ignored", ""):                     1,
				wk("unknown", "rejected", "signature_invalid"): 1,
			},
			wantDurations:   map[string]float64{"outcome=enqueue_failed": 2, "outcome=ignored": 1, "outcome=rejected": 1},
			enqueueFailures: 2,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := ingest.NewMetrics(nil)
			var h http.Handler
			if tc.redisDown {
				srv, err := ingest.New(ingest.Config{
					Secrets:        []string{secret, secret2},
					EnqueueTimeout: 300 * time.Millisecond,
					MaxBodyBytes:   maxBody,
					Metrics:        m,
					Logger:         slog.New(slog.NewJSONHandler(io.Discard, nil)),
				}, closedRedisClient(t), func(context.Context) error { return errors.New("down") })
				if err != nil {
					t.Fatal(err)
				}
				h = srv.Handler()
			} else {
				h = setup(t, func(c *ingest.Config) {
					c.Secrets = []string{secret, secret2}
					c.MaxBodyBytes = maxBody
					c.Metrics = m
				}).h
			}

			for i, r := range tc.reqs {
				rec := r.do(h)
				if rec.Code != r.status {
					t.Fatalf("request #%d: status %d, want %d: %s", i+1, rec.Code, r.status, rec.Body)
				}
				if r.wantCode != "" {
					if b := decode(t, rec); b.Error == nil || b.Error.Code != r.wantCode {
						t.Fatalf("request #%d: body %s, want error code %s", i+1, rec.Body, r.wantCode)
					}
				}
			}

			got := metricstest.Gather(t, m.Registry())
			allWebhooks, allDurations := allSeries()
			s := metricstest.Series(t, got, webhooksTotal)
			if !maps.Equal(nonzero(s), tc.want) {
				t.Errorf("%s:%s\nwant:%s", webhooksTotal, formatSeries(nonzero(s)), formatSeries(tc.want))
			}
			if !sameKeys(s, allWebhooks) {
				t.Errorf("%s label sets:%s\nwant exactly:%s", webhooksTotal, formatSeries(s), formatSeries(allWebhooks))
			}
			s = metricstest.Series(t, got, webhookDuration)
			if !maps.Equal(nonzero(s), tc.wantDurations) {
				t.Errorf("%s sample counts:%s\nwant:%s", webhookDuration, formatSeries(nonzero(s)), formatSeries(tc.wantDurations))
			}
			if !sameKeys(s, allDurations) {
				t.Errorf("%s label sets:%s\nwant exactly:%s", webhookDuration, formatSeries(s), formatSeries(allDurations))
			}
			if s := metricstest.Series(t, got, enqueueFailures); !maps.Equal(s, map[string]float64{"": tc.enqueueFailures}) {
				t.Errorf("%s:%s, want %g", enqueueFailures, formatSeries(s), tc.enqueueFailures)
			}
			checkLabelValues(t, got)

			// The scrape tells the same, and holds no secret.
			scraped, text := scrape(t, h)
			for _, name := range []string{webhooksTotal, webhookDuration, enqueueFailures} {
				if a, b := metricstest.Series(t, scraped, name), metricstest.Series(t, got, name); !maps.Equal(a, b) {
					t.Errorf("GET /metrics %s:%s\nregistry:%s", name, formatSeries(a), formatSeries(b))
				}
			}
			checkLabelValues(t, scraped)
			checkNoSecret(t, text, tc.reqs)
		})
	}
}

// checkLabelValues checks every label value of the webhook metrics is one of the bounded set.
func checkLabelValues(t *testing.T, mfs map[string]*dto.MetricFamily) {
	t.Helper()
	allowed := map[string][]string{"type": allowedTypes, "outcome": allowedOutcomes, "reason": allowedReasons}
	for _, name := range []string{webhooksTotal, webhookDuration} {
		for _, m := range mfs[name].GetMetric() {
			var outcome, reason string
			for _, lp := range m.GetLabel() {
				vals, ok := allowed[lp.GetName()]
				if !ok {
					t.Errorf("%s: unexpected label %s", name, lp.GetName())
					continue
				}
				if !slices.Contains(vals, lp.GetValue()) {
					t.Errorf("%s: label %s=%q outside the bounded set", name, lp.GetName(), lp.GetValue())
				}
				switch lp.GetName() {
				case "outcome":
					outcome = lp.GetValue()
				case "reason":
					reason = lp.GetValue()
				}
			}
			if name == webhooksTotal && (outcome == ingest.OutcomeRejected) != (reason != "") {
				t.Errorf("%s: outcome %q with reason %q: want a reason exactly for rejections", name, outcome, reason)
			}
		}
	}
}

// checkNoSecret checks the scraped text shows no signing secret nor a signature sent.
func checkNoSecret(t *testing.T, text string, reqs []metricsReq) {
	t.Helper()
	forbidden := []string{secret, secret2, otherSecr, "whsec_"}
	for _, r := range reqs {
		for _, part := range strings.Split(r.sig, ",") {
			if v, ok := strings.CutPrefix(part, "v1="); ok && len(v) >= 16 {
				forbidden = append(forbidden, v)
			}
		}
	}
	for _, s := range forbidden {
		if strings.Contains(text, s) {
			t.Errorf("GET /metrics shows %q:\n%s", s, text)
		}
	}
}

func TestMetricsEndpoint(t *testing.T) {
	t.Run("served with the registry when Config.Metrics is set", func(t *testing.T) {
		reg := prometheus.NewRegistry()
		reg.MustRegister(collectors.NewGoCollector())
		m := ingest.NewMetrics(reg)
		e := setup(t, func(c *ingest.Config) { c.Metrics = m })

		// Before any delivery: the families with HELP and TYPE, the plain counter at 0.
		_, text := scrape(t, e.h)
		for _, want := range []string{
			"# TYPE " + webhooksTotal + " counter",
			"# TYPE " + webhookDuration + " histogram",
			"# TYPE " + enqueueFailures + " counter",
			"# HELP " + webhooksTotal + " ",
			enqueueFailures + " 0\n",
			webhooksTotal + `{outcome="rejected",reason="signature_invalid",type="unknown"} 0` + "\n",
			webhookDuration + `_count{outcome="enqueue_failed"} 0` + "\n",
			"go_goroutines ", // the rest of the registry is served too
		} {
			if !strings.Contains(text, want) {
				t.Errorf("GET /metrics lacks %q:\n%s", want, text)
			}
		}

		body := fixture(t, "charge.succeeded.json")
		if rec := post(e.h, body, sign(body, secret)); rec.Code != 200 {
			t.Fatalf("webhook: %d %s", rec.Code, rec.Body)
		}
		if rec := post(e.h, body, "t=1,v1="+strings.Repeat("ab", 32)); rec.Code != 400 {
			t.Fatalf("bad signature: %d %s", rec.Code, rec.Body)
		}
		_, text = scrape(t, e.h)
		for _, want := range []string{
			webhooksTotal + `{outcome="accepted",reason="",type="charge.succeeded"} 1` + "\n",
			webhooksTotal + `{outcome="rejected",reason="signature_expired",type="unknown"} 1` + "\n",
			webhookDuration + `_bucket{outcome="accepted",le="+Inf"} 1` + "\n",
			webhookDuration + `_count{outcome="rejected"} 1` + "\n",
		} {
			if !strings.Contains(text, want) {
				t.Errorf("GET /metrics lacks %q:\n%s", want, text)
			}
		}
		checkNoSecret(t, text, nil)

		// Scrapes, health checks and unknown paths are not webhook deliveries.
		get(e.h, ingest.HealthPath)
		get(e.h, "/nope")
		scrape(t, e.h)
		want := map[string]float64{
			wk("charge.succeeded", "accepted", ""):         1,
			wk("unknown", "rejected", "signature_expired"): 1,
		}
		if s := nonzero(metricstest.Series(t, metricstest.Gather(t, reg), webhooksTotal)); !maps.Equal(s, want) {
			t.Errorf("scrapes or other paths counted as deliveries:%s\nwant:%s", formatSeries(s), formatSeries(want))
		}
	})

	t.Run("not served without Config.Metrics, deliveries still work", func(t *testing.T) {
		e := setup(t, nil)
		rec := get(e.h, ingest.MetricsPath)
		if rec.Code != http.StatusNotFound || !strings.Contains(rec.Body.String(), `"code":"not_found"`) {
			t.Fatalf("GET /metrics without metrics = %d %s, want the JSON 404", rec.Code, rec.Body)
		}
		body := fixture(t, "charge.succeeded.json")
		if rec := post(e.h, body, sign(body, secret)); rec.Code != 200 {
			t.Fatalf("webhook with the private registry: %d %s", rec.Code, rec.Body)
		}
	})

	t.Run("POST /metrics is refused", func(t *testing.T) {
		e := setup(t, func(c *ingest.Config) { c.Metrics = ingest.NewMetrics(nil) })
		req := httptest.NewRequest(http.MethodPost, ingest.MetricsPath, strings.NewReader("x"))
		rec := httptest.NewRecorder()
		e.h.ServeHTTP(rec, req)
		if rec.Code != http.StatusMethodNotAllowed {
			t.Fatalf("POST /metrics = %d %s, want 405", rec.Code, rec.Body)
		}
	})
}

// TestMetricsTypeLabelIsBounded sends signed events of many types: only the handled
// ones get their own series; everything else shares "other".
func TestMetricsTypeLabelIsBounded(t *testing.T) {
	m := ingest.NewMetrics(nil)
	e := setup(t, func(c *ingest.Config) { c.Metrics = m })
	types := append([]string{"customer.created", "invoice.paid", "charge.succeeded ", "Charge.Succeeded",
		`charge.succeeded"} 1` + "\n" + `evil{a="b`, strings.Repeat("z", 5000)}, eventtask.HandledTypes...)
	for i, typ := range types {
		b := event(fmt.Sprintf("evt_bound_%d", i), typ, "2023-10-16")
		if rec := post(e.h, b, sign(b, secret)); rec.Code != 200 {
			t.Fatalf("%q: %d %s", typ, rec.Code, rec.Body)
		}
	}
	s := nonzero(metricstest.Series(t, metricstest.Gather(t, m.Registry()), webhooksTotal))
	want := map[string]float64{wk("other", "ignored", ""): float64(len(types) - len(eventtask.HandledTypes))}
	for _, typ := range eventtask.HandledTypes {
		want[wk(typ, "accepted", "")] = 1
	}
	if !maps.Equal(s, want) {
		t.Errorf("%s:%s\nwant:%s", webhooksTotal, formatSeries(s), formatSeries(want))
	}
}
