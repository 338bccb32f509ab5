package sim

import (
	"container/heap"
	"context"
	"math"
	"time"
)

// step is a scheduled piece of a scenario, run at simulated time at.
type step struct {
	at  time.Duration
	seq uint64
	fn  func()
}

// steps is a min-heap of steps ordered by (at, seq): the order is
// deterministic for a given seed.
type steps []*step

func (h steps) Len() int { return len(h) }
func (h steps) Less(i, j int) bool {
	if h[i].at != h[j].at {
		return h[i].at < h[j].at
	}
	return h[i].seq < h[j].seq
}
func (h steps) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *steps) Push(x any)   { *h = append(*h, x.(*step)) }
func (h *steps) Pop() any {
	old := *h
	n := len(old)
	x := old[n-1]
	old[n-1] = nil
	*h = old[:n-1]
	return x
}

// sched is the scenario scheduler of a pbx.
type sched struct {
	h   steps
	seq uint64
}

// after runs fn d after the current simulated time.
func (p *pbx) after(d time.Duration, fn func()) {
	p.sched.seq++
	heap.Push(&p.sched.h, &step{at: p.now + max(d, 0), seq: p.sched.seq, fn: fn})
}

// advance runs every step due up to simulated time to, in order, with the
// clock set to each step's time.
func (p *pbx) advance(to time.Duration) {
	for len(p.sched.h) > 0 && p.sched.h[0].at <= to {
		st := heap.Pop(&p.sched.h).(*step)
		if st.at > p.now {
			p.now = st.at
		}
		st.fn()
	}
	if to > p.now {
		p.now = to
	}
}

// restart drops all scheduled steps and calls (see resetCalls) and starts
// the arrival process again.
func (p *pbx) restart() {
	p.sched = sched{}
	for _, e := range p.extList {
		e.reachable = true
	}
	p.trunkUnregistered = false
	p.resetCalls()
	p.bootedAt = time.Now()
	p.reloadedAt = p.bootedAt
	p.restarts++
	if p.cfg.CallsPerSecond > 0 {
		p.scheduleArrival()
	}
}

// expDur draws an exponentially distributed duration with the given mean,
// clamped to [mean/10, 4*mean].
func (p *pbx) expDur(mean time.Duration) time.Duration {
	d := time.Duration(p.rng.ExpFloat64() * float64(mean))
	return min(max(d, mean/10), 4*mean)
}

// uniDur draws a duration uniformly in [lo, hi] times mean.
func (p *pbx) uniDur(mean time.Duration, lo, hi float64) time.Duration {
	return time.Duration((lo + (hi-lo)*p.rng.Float64()) * float64(mean))
}

// scheduleArrival schedules the next scenario start (Poisson arrivals).
func (p *pbx) scheduleArrival() {
	mean := time.Duration(float64(time.Second) / p.cfg.CallsPerSecond)
	d := time.Duration(math.Min(p.rng.ExpFloat64(), 20) * float64(mean))
	p.after(d, func() {
		p.calls++
		p.startScenario()
		p.scheduleArrival()
	})
}

// runGenerator advances the simulated clock with the real one every tick
// while not paused. A stall longer than a second is not caught up.
func (s *Server) runGenerator(ctx context.Context) {
	const tick = 10 * time.Millisecond
	t := time.NewTicker(tick)
	defer t.Stop()
	last := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			d := min(now.Sub(last), time.Second)
			last = now
			s.mu.Lock()
			if !s.paused && !s.closed {
				s.pbx.advance(s.pbx.now + d)
			}
			s.mu.Unlock()
		}
	}
}
