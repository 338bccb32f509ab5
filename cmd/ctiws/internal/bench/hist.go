package bench

import (
	"math"
	"math/bits"
	"sort"
	"sync/atomic"
	"time"
)

// Histogram records durations in log-linear buckets (HDR style: 2^subBits
// linear sub-buckets per power of two, relative error below 1/2^subBits).
// Record is safe for concurrent use and lock-free.
type Histogram struct {
	counts [histBuckets]atomic.Uint64
	total  atomic.Uint64
	max    atomic.Int64
	neg    atomic.Uint64
}

const (
	subBits     = 6
	subCount    = 1 << subBits
	histBuckets = (64 - subBits + 1) * subCount
)

// bucketOf maps a non-negative value (nanoseconds) to its bucket.
func bucketOf(v uint64) int {
	if v < subCount {
		return int(v)
	}
	exp := bits.Len64(v) - subBits // >= 1
	sub := v >> uint(exp-1)        // in [subCount/1 .. 2*subCount)
	return exp*subCount + int(sub) - subCount
}

// bucketUpper is the largest value that falls into bucket b.
func bucketUpper(b int) uint64 {
	if b < subCount {
		return uint64(b)
	}
	exp := b / subCount
	sub := uint64(b%subCount + subCount)
	return (sub+1)<<uint(exp-1) - 1
}

// Record adds one duration. Negative durations (clock skew) are counted
// apart and recorded as zero.
func (h *Histogram) Record(d time.Duration) {
	if d < 0 {
		h.neg.Add(1)
		d = 0
	}
	h.counts[bucketOf(uint64(d))].Add(1)
	h.total.Add(1)
	for {
		m := h.max.Load()
		if int64(d) <= m || h.max.CompareAndSwap(m, int64(d)) {
			break
		}
	}
}

// Count is the number of recorded values.
func (h *Histogram) Count() uint64 { return h.total.Load() }

// Max is the largest recorded value.
func (h *Histogram) Max() time.Duration { return time.Duration(h.max.Load()) }

// Negative counts values recorded below zero.
func (h *Histogram) Negative() uint64 { return h.neg.Load() }

// Quantile returns the value at quantile q (0..1): the upper bound of the
// bucket holding the ceil(q·n)-th value, capped at Max. Zero when empty.
func (h *Histogram) Quantile(q float64) time.Duration {
	n := h.total.Load()
	if n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(n)))
	rank = min(max(rank, 1), n)
	var cum uint64
	for b := range h.counts {
		cum += h.counts[b].Load()
		if cum >= rank {
			return min(time.Duration(bucketUpper(b)), h.Max())
		}
	}
	return h.Max()
}

// Merge adds o's values to h (o must not be recorded into meanwhile).
func (h *Histogram) Merge(o *Histogram) {
	for b := range o.counts {
		if n := o.counts[b].Load(); n > 0 {
			h.counts[b].Add(n)
		}
	}
	h.total.Add(o.total.Load())
	h.neg.Add(o.neg.Load())
	for {
		m := h.max.Load()
		if o.max.Load() <= m || h.max.CompareAndSwap(m, o.max.Load()) {
			break
		}
	}
}

// Reset clears the histogram (not concurrently with Record).
func (h *Histogram) Reset() {
	for b := range h.counts {
		h.counts[b].Store(0)
	}
	h.total.Store(0)
	h.max.Store(0)
	h.neg.Store(0)
}

// Percentile returns the nearest-rank percentile q (0..1) of values,
// sorting a copy; zero for no values.
func Percentile(values []time.Duration, q float64) time.Duration {
	if len(values) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), values...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	rank := int(math.Ceil(q * float64(len(s))))
	rank = min(max(rank, 1), len(s))
	return s[rank-1]
}

// Median returns the median of xs (the mean of the middle two for an even
// count); zero for none.
func Median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
