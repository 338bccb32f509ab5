package console

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// sample is what the status record takes from the node's metrics.
type sample struct {
	at                         time.Time
	cpu, rss, goroutines       float64
	owned, amiUp               map[string]float64 // by tenant
	amiReconnects, amiMessages map[string]float64 // by tenant, summed over other labels
}

// readSample gathers the node's registry (nil: an empty sample).
func readSample(g prometheus.Gatherer, now time.Time) sample {
	s := sample{at: now, owned: map[string]float64{}, amiUp: map[string]float64{},
		amiReconnects: map[string]float64{}, amiMessages: map[string]float64{}}
	if g == nil {
		return s
	}
	mfs, _ := g.Gather() // a partial answer is still worth showing
	byTenant := map[string]map[string]float64{
		"ctiws_lease_owned":          s.owned,
		"ctiws_ami_connected":        s.amiUp,
		"ctiws_ami_reconnects_total": s.amiReconnects,
		"ctiws_ami_messages_total":   s.amiMessages,
	}
	for _, mf := range mfs {
		switch name := mf.GetName(); name {
		case "process_cpu_seconds_total":
			s.cpu = total(mf)
		case "process_resident_memory_bytes":
			s.rss = total(mf)
		case "go_goroutines":
			s.goroutines = total(mf)
		default:
			if m, ok := byTenant[name]; ok {
				for _, x := range mf.GetMetric() {
					m[label(x, "tenant")] += value(x)
				}
			}
		}
	}
	return s
}

func total(mf *dto.MetricFamily) float64 {
	var v float64
	for _, m := range mf.GetMetric() {
		v += value(m)
	}
	return v
}

func value(m *dto.Metric) float64 {
	switch {
	case m.GetGauge() != nil:
		return m.GetGauge().GetValue()
	case m.GetCounter() != nil:
		return m.GetCounter().GetValue()
	case m.GetUntyped() != nil:
		return m.GetUntyped().GetValue()
	}
	return 0
}

func label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}
