// Package tenantless serves a Prometheus registry's metrics without their
// "tenant" label (metrics_per_tenant: false), so /metrics does not grow
// with the number of tenants.
package tenantless

import (
	"sort"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// Gatherer serves the registry G's metrics with the "tenant" label
// dropped and the series it separated summed (metrics_per_tenant: false):
// counters, gauges and histograms keep their node-wide totals (e.g. the
// sum of ctiws_lease_owned is the number of leases the node holds), and
// /metrics no longer grows with the number of tenants. Summaries keep
// count and sum only (quantiles cannot be added up).
type Gatherer struct{ G prometheus.Gatherer }

// Gather merges every family's series over their tenant label.
func (t Gatherer) Gather() ([]*dto.MetricFamily, error) {
	mfs, err := t.G.Gather()
	for _, mf := range mfs {
		merged := map[string]*dto.Metric{}
		var keys []string
		for _, m := range mf.Metric {
			labels := make([]*dto.LabelPair, 0, len(m.Label))
			for _, l := range m.Label {
				if l.GetName() != "tenant" {
					labels = append(labels, l)
				}
			}
			if len(labels) == len(m.Label) {
				// No tenant label: nothing to merge with.
				key := "\x00" + labelKey(labels)
				merged[key], keys = m, append(keys, key)
				continue
			}
			key := labelKey(labels)
			if cur, ok := merged[key]; ok {
				addMetric(cur, m, mf.GetType())
				continue
			}
			merged[key], keys = cloneMetric(m, labels, mf.GetType()), append(keys, key)
		}
		sort.Strings(keys)
		out := make([]*dto.Metric, 0, len(keys))
		for _, k := range keys {
			out = append(out, merged[k])
		}
		mf.Metric = out
	}
	return mfs, err
}

// labelKey identifies a label set (names and values, in the given order,
// which the registry keeps sorted).
func labelKey(labels []*dto.LabelPair) string {
	var b strings.Builder
	for _, l := range labels {
		b.WriteString(l.GetName())
		b.WriteByte(0)
		b.WriteString(l.GetValue())
		b.WriteByte(0)
	}
	return b.String()
}

// cloneMetric copies m's values under labels (no timestamps, exemplars or
// quantiles: they do not add up).
func cloneMetric(m *dto.Metric, labels []*dto.LabelPair, typ dto.MetricType) *dto.Metric {
	out := &dto.Metric{Label: labels}
	switch typ {
	case dto.MetricType_COUNTER:
		out.Counter = &dto.Counter{Value: new(float64)}
	case dto.MetricType_GAUGE:
		out.Gauge = &dto.Gauge{Value: new(float64)}
	case dto.MetricType_UNTYPED:
		out.Untyped = &dto.Untyped{Value: new(float64)}
	case dto.MetricType_HISTOGRAM, dto.MetricType_GAUGE_HISTOGRAM:
		h := &dto.Histogram{SampleCount: new(uint64), SampleSum: new(float64)}
		for _, b := range m.GetHistogram().GetBucket() {
			h.Bucket = append(h.Bucket, &dto.Bucket{UpperBound: b.UpperBound, CumulativeCount: new(uint64)})
		}
		out.Histogram = h
	case dto.MetricType_SUMMARY:
		out.Summary = &dto.Summary{SampleCount: new(uint64), SampleSum: new(float64)}
	}
	addMetric(out, m, typ)
	return out
}

// addMetric adds m's values to sum (same family, same bucket layout).
func addMetric(sum, m *dto.Metric, typ dto.MetricType) {
	switch typ {
	case dto.MetricType_COUNTER:
		*sum.Counter.Value += m.GetCounter().GetValue()
	case dto.MetricType_GAUGE:
		*sum.Gauge.Value += m.GetGauge().GetValue()
	case dto.MetricType_UNTYPED:
		*sum.Untyped.Value += m.GetUntyped().GetValue()
	case dto.MetricType_HISTOGRAM, dto.MetricType_GAUGE_HISTOGRAM:
		h := m.GetHistogram()
		*sum.Histogram.SampleCount += h.GetSampleCount()
		*sum.Histogram.SampleSum += h.GetSampleSum()
		for i, b := range h.GetBucket() {
			if i < len(sum.Histogram.Bucket) && sum.Histogram.Bucket[i].GetUpperBound() == b.GetUpperBound() {
				*sum.Histogram.Bucket[i].CumulativeCount += b.GetCumulativeCount()
			}
		}
	case dto.MetricType_SUMMARY:
		*sum.Summary.SampleCount += m.GetSummary().GetSampleCount()
		*sum.Summary.SampleSum += m.GetSummary().GetSampleSum()
	}
}
