package redisbackend

import (
	"context"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// sweepFullEvery is how often Expired sweeps every tenant even when no
// node is known to have died (a node dead for longer than the live node
// set keeps it, or sessions left by a node never seen alive).
const sweepFullEvery = time.Minute

// sweepGate decides whether Expired must sweep the tenants' sessions: one
// read of the live node set says whether a node has died (it is listed with
// its deadline past for a minute, nodeBeat) or left it since the last read;
// while none has, the per-tenant reads of the sweep are skipped, so an idle
// farm node pays one command per heartbeat for the sweep, not one per
// tenant. The first call, a failed read, and every sweepFullEvery sweep
// anyway.
type sweepGate struct {
	mu       sync.Mutex
	lastFull time.Time
	live     map[string]bool // the live nodes at the last read
}

// nodeStates: KEYS[1]=live node set. Returns the listed nodes whose
// deadline has passed, then the live ones, by Redis's clock.
var nodeStates = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
return {redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now), redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. now, '+inf')}
`)

// due reports whether a sweep is needed now (see sweepGate).
func (g *sweepGate) due(ctx context.Context, rdb redis.Scripter) bool {
	res, err := nodeStates.Run(ctx, rdb, []string{liveNodesKey()}).Slice()
	var dead, live []any
	if err == nil && len(res) == 2 {
		dead, _ = res[0].([]any)
		live, _ = res[1].([]any)
	}
	now := time.Now()
	g.mu.Lock()
	defer g.mu.Unlock()
	due := err != nil || len(res) != 2 || len(dead) > 0 || g.live == nil || now.Sub(g.lastFull) >= sweepFullEvery
	cur := make(map[string]bool, len(live))
	for _, n := range live {
		if s, ok := n.(string); ok {
			cur[s] = true
		}
	}
	for n := range g.live {
		if !cur[n] {
			due = true // left the set: stopped, or its entry lost
		}
	}
	if err == nil {
		g.live = cur
	}
	if due {
		g.lastFull = now
	}
	return due
}
