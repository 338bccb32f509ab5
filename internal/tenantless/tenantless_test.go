package tenantless

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestTenantlessGatherer: with metrics_per_tenant false every series is
// summed over its tenant label (counters, gauges, histograms), series
// without a tenant label are untouched, and the other labels stay apart.
func TestTenantlessGatherer(t *testing.T) {
	reg := prometheus.NewRegistry()
	f := promauto.With(reg)
	owned := f.NewGaugeVec(prometheus.GaugeOpts{Name: "lease_owned", Help: "h"}, []string{"tenant"})
	cmds := f.NewCounterVec(prometheus.CounterOpts{Name: "commands_total", Help: "h"}, []string{"tenant", "result"})
	snap := f.NewHistogramVec(prometheus.HistogramOpts{Name: "snapshot_seconds", Help: "h", Buckets: []float64{0.1, 1}}, []string{"tenant"})
	up := f.NewGauge(prometheus.GaugeOpts{Name: "up", Help: "h"})
	up.Set(1)
	for i, id := range []string{"a", "b", "c"} {
		owned.WithLabelValues(id).Set(float64(i % 2)) // a 0, b 1, c 0
		cmds.WithLabelValues(id, "ok").Add(float64(i + 1))
		snap.WithLabelValues(id).Observe([]float64{0.0625, 0.0625, 0.5}[i])
	}
	cmds.WithLabelValues("a", "error").Inc()
	snap.WithLabelValues("c").Observe(5)

	want := `
# HELP commands_total h
# TYPE commands_total counter
commands_total{result="error"} 1
commands_total{result="ok"} 6
# HELP lease_owned h
# TYPE lease_owned gauge
lease_owned 1
# HELP snapshot_seconds h
# TYPE snapshot_seconds histogram
snapshot_seconds_bucket{le="0.1"} 2
snapshot_seconds_bucket{le="1"} 3
snapshot_seconds_bucket{le="+Inf"} 4
snapshot_seconds_sum 5.625
snapshot_seconds_count 4
# HELP up h
# TYPE up gauge
up 1
`
	if err := testutil.GatherAndCompare(Gatherer{reg}, strings.NewReader(want)); err != nil {
		t.Fatal(err)
	}
	// The registry itself is untouched (per-tenant series still there).
	if n := testutil.CollectAndCount(owned); n != 3 {
		t.Fatalf("lease_owned has %d series in the registry, want 3", n)
	}
}
