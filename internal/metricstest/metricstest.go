// Package metricstest reads Prometheus metrics back in tests, as flat maps that are
// easy to compare: "label=value,…" (labels sorted by name, empty values kept) → value.
package metricstest

import (
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// Gather collects g's metric families by name.
func Gather(t testing.TB, g prometheus.Gatherer) map[string]*dto.MetricFamily {
	t.Helper()
	list, err := g.Gather()
	if err != nil {
		t.Fatalf("Gather: %v", err)
	}
	out := map[string]*dto.MetricFamily{}
	for _, mf := range list {
		out[mf.GetName()] = mf
	}
	return out
}

// Series flattens the family name of mfs; a histogram's value is its sample count.
// A family that is absent or has no series gives an empty map.
func Series(t testing.TB, mfs map[string]*dto.MetricFamily, name string) map[string]float64 {
	t.Helper()
	out := map[string]float64{}
	mf, ok := mfs[name]
	if !ok {
		return out
	}
	for _, m := range mf.GetMetric() {
		labels := map[string]string{}
		for _, lp := range m.GetLabel() {
			labels[lp.GetName()] = lp.GetValue()
		}
		var parts []string
		for _, n := range slices.Sorted(maps.Keys(labels)) {
			parts = append(parts, n+"="+labels[n])
		}
		key := strings.Join(parts, ",")
		switch mf.GetType() {
		case dto.MetricType_COUNTER:
			out[key] = m.GetCounter().GetValue()
		case dto.MetricType_GAUGE:
			out[key] = m.GetGauge().GetValue()
		case dto.MetricType_HISTOGRAM:
			out[key] = float64(m.GetHistogram().GetSampleCount())
		default:
			t.Fatalf("%s: unexpected metric type %s", name, mf.GetType())
		}
	}
	return out
}
