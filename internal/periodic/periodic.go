// Package periodic runs a function at a fixed period until its context
// ends: the one ticker loop of the background work of a node (heartbeats,
// lease renewals, rebalancing, polling).
package periodic

import (
	"context"
	"time"
)

// Every calls fn every period until ctx ends; the first call is one period
// after the start. A call that takes longer than period delays the next
// one (ticks are not queued).
func Every(ctx context.Context, period time.Duration, fn func(context.Context)) {
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			fn(ctx)
		}
	}
}
