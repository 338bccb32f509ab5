package bench

import (
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"
)

func TestBucketRoundTrip(t *testing.T) {
	prev := -1
	for _, v := range []uint64{0, 1, 63, 64, 65, 127, 128, 129, 1000, 1 << 20, 1<<40 + 12345, 1<<63 - 1, 1<<64 - 1} {
		b := bucketOf(v)
		if b < prev {
			t.Fatalf("bucketOf not monotonic at %d", v)
		}
		prev = b
		if b >= histBuckets {
			t.Fatalf("bucketOf(%d) = %d out of range", v, b)
		}
		if up := bucketUpper(b); up < v {
			t.Fatalf("bucketUpper(bucketOf(%d)) = %d < value", v, up)
		}
		if b > 0 && bucketUpper(b-1) >= v {
			t.Fatalf("value %d also fits the previous bucket", v)
		}
	}
}

func TestHistogramQuantileAccuracy(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var h Histogram
	var vals []time.Duration
	for range 100000 {
		// Latency-like: mostly 1-20 ms, a tail to 500 ms.
		d := time.Duration(r.ExpFloat64() * float64(5*time.Millisecond))
		vals = append(vals, d)
		h.Record(d)
	}
	for _, q := range []float64{0.5, 0.9, 0.99, 0.999, 1} {
		exact := Percentile(vals, q)
		got := h.Quantile(q)
		if got < exact || float64(got-exact) > float64(exact)/float64(subCount)+1 {
			t.Errorf("q%.3f: histogram %v, exact %v (more than 1/%d off)", q, got, exact, subCount)
		}
	}
	if h.Quantile(1) != h.Max() || h.Count() != 100000 {
		t.Fatalf("max %v, q1 %v, count %d", h.Max(), h.Quantile(1), h.Count())
	}
}

func TestHistogramEdges(t *testing.T) {
	var h Histogram
	if h.Quantile(0.99) != 0 || h.Max() != 0 {
		t.Fatal("empty histogram not zero")
	}
	h.Record(-time.Millisecond)
	h.Record(3 * time.Millisecond)
	if h.Negative() != 1 || h.Count() != 2 {
		t.Fatalf("negative %d count %d", h.Negative(), h.Count())
	}
	if h.Quantile(0.5) != 0 || h.Quantile(0) != 0 {
		t.Fatalf("p50 %v, want 0 (the negative one)", h.Quantile(0.5))
	}
	if h.Quantile(1) != 3*time.Millisecond {
		t.Fatalf("p100 %v", h.Quantile(1))
	}
	h.Reset()
	if h.Count() != 0 || h.Max() != 0 {
		t.Fatal("reset")
	}
}

func TestHistogramConcurrent(t *testing.T) {
	var h Histogram
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 1000 {
				h.Record(time.Duration(g*1000 + i))
			}
		}()
	}
	wg.Wait()
	if h.Count() != 8000 || h.Max() != 7999 {
		t.Fatalf("count %d max %d", h.Count(), h.Max())
	}
}

func TestPercentileAndMedian(t *testing.T) {
	v := []time.Duration{5, 1, 4, 2, 3}
	if p := Percentile(v, 0.5); p != 3 {
		t.Fatalf("p50 %v", p)
	}
	if p := Percentile(v, 0.99); p != 5 {
		t.Fatalf("p99 %v", p)
	}
	if p := Percentile(v, 0); p != 1 {
		t.Fatalf("p0 %v", p)
	}
	if v[0] != 5 {
		t.Fatal("Percentile sorted its input")
	}
	if Percentile(nil, 0.5) != 0 || Median(nil) != 0 {
		t.Fatal("empty")
	}
	if m := Median([]float64{3, 1, 2}); m != 2 {
		t.Fatalf("median %v", m)
	}
	if m := Median([]float64{4, 1, 2, 3}); m != 2.5 {
		t.Fatalf("median %v", m)
	}
}

func TestMedianIdle(t *testing.T) {
	idle := func(kib float64, sockets int) Result {
		return Result{Name: "idle", Idle: &IdleResult{RSSPerConnKiB: kib, Sockets: sockets}}
	}
	tests := []struct {
		name        string
		runs        []Result
		wantKiB     float64
		wantSockets int
		wantRuns    []float64
	}{
		{"one run", []Result{idle(9.1, 1)}, 9.1, 1, nil},
		{"three runs: the middle one", []Result{idle(9.04, 1), idle(8.32, 2), idle(8.71, 3)}, 8.71, 3, []float64{9.04, 8.32, 8.71}},
		{"two runs: the first of the nearest", []Result{idle(9.0, 1), idle(8.0, 2)}, 9.0, 1, []float64{9.0, 8.0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := medianIdle(tt.runs)
			if got.Idle.RSSPerConnKiB != tt.wantKiB || got.Idle.Sockets != tt.wantSockets || !slices.Equal(got.Idle.RunsKiB, tt.wantRuns) {
				t.Fatalf("medianIdle = %.2f KiB (sockets %d, runs %v), want %.2f (sockets %d, runs %v)",
					got.Idle.RSSPerConnKiB, got.Idle.Sockets, got.Idle.RunsKiB, tt.wantKiB, tt.wantSockets, tt.wantRuns)
			}
			if len(tt.runs) > 1 && tt.runs[0].Idle.RunsKiB != nil {
				t.Fatal("medianIdle changed its input")
			}
		})
	}
}

func TestHistogramMerge(t *testing.T) {
	var a, b Histogram
	for i := 1; i <= 50; i++ {
		a.Record(time.Duration(i) * time.Millisecond)
		b.Record(time.Duration(i+50) * time.Millisecond)
	}
	a.Merge(&b)
	if a.Count() != 100 || a.Max() != 100*time.Millisecond {
		t.Fatalf("merged: count %d max %v", a.Count(), a.Max())
	}
	if p := a.Quantile(0.99); p < 98*time.Millisecond || p > 100*time.Millisecond {
		t.Errorf("merged p99 = %v, want about 99 ms", p)
	}
}
