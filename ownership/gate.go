package ownership

import (
	"context"
	"time"

	"github.com/ctiws/ctiws/internal/periodic"
)

// StartGate bounds how many ownership terms a node starts per second (lease,
// AMI connection and snapshot), so that a cold start or the death of a node
// does not hit Redis and the PBXs all at once, and a node that sees itself
// alone for a moment cannot grab every lease at once. It is a token bucket:
// up to burst starts at once, then one every 1/rate. An owner takes a token
// before trying a lease and gives it back when the lease was not free.
type StartGate struct {
	tokens chan struct{}
	every  time.Duration
}

// NewStartGate returns a gate for rate starts per second (at least one
// per second) with the given burst (at least 1). Run must be running for
// tokens to refill.
func NewStartGate(rate float64, burst int) *StartGate {
	rate = max(rate, 1)
	burst = max(burst, 1)
	g := &StartGate{tokens: make(chan struct{}, burst), every: time.Duration(float64(time.Second) / rate)}
	for range burst {
		g.tokens <- struct{}{}
	}
	return g
}

// Run refills the bucket until ctx ends.
func (g *StartGate) Run(ctx context.Context) {
	periodic.Every(ctx, g.every, func(context.Context) {
		select {
		case g.tokens <- struct{}{}:
		default:
		}
	})
}

// Take takes a token, waiting for one at most wait (or until ctx ends).
func (g *StartGate) Take(ctx context.Context, wait time.Duration) bool {
	select {
	case <-g.tokens:
		return true
	default:
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-g.tokens:
		return true
	case <-t.C:
		return false
	case <-ctx.Done():
		return false
	}
}

// Put gives back a token taken for a start that did not happen (the lease
// was held by another node).
func (g *StartGate) Put() {
	select {
	case g.tokens <- struct{}{}:
	default:
	}
}
