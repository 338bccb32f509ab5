package bench

import (
	"context"
	"fmt"
	"regexp"
	"time"

	"github.com/ctiws/ctiws/internal/faultproxy"
)

// soakFault is one entry of the soak's schedule: inject starts the fault
// (on the node it picks) and returns what heals it; the fault holds for
// Window (an inject that does its work itself, like a restart, may take
// longer), then the recovery window follows.
type soakFault struct {
	Name string
	// Window is how long the fault holds.
	Window time.Duration
	// Short puts the fault into the short schedule (-duration under
	// soakShortLimit, `make test`).
	Short  bool
	inject func(ctx context.Context, l *soakLab) (target string, heal func(), err error)
}

// soakShortLimit: a soak shorter than this runs the short schedule once.
const soakShortLimit = 5 * time.Minute

// Soak timing: the nodes' Engine.IO heartbeat (a stalled client is
// dropped after soakPingInterval + soakPingTimeout), the lease TTL.
const (
	soakPingInterval = 2 * time.Second
	soakPingTimeout  = 3 * time.Second
	soakLeaseTTL     = 5 * time.Second
)

// soakSchedule is the fault table, in order; the soak cycles through it.
// "owner" is the node owning the tenant when the fault starts, "other" a
// node that does not; faults on the AMI link hit the owner's (the only
// one). Node 3 is the witness node: never restarted, its RSS and
// goroutines span the whole run.
func soakSchedule() []soakFault {
	w := 20 * time.Second
	return []soakFault{
		{Name: "redis latency 50 ms (owner)", Window: w, inject: redisProxyFault(true, func(p *faultproxy.Proxy) {
			p.SetLatency(faultproxy.Up, 25*time.Millisecond)
			p.SetLatency(faultproxy.Down, 25*time.Millisecond)
		})},
		{Name: "redis latency 500 ms (owner)", Window: w, inject: redisProxyFault(true, func(p *faultproxy.Proxy) {
			p.SetLatency(faultproxy.Up, 250*time.Millisecond)
			p.SetLatency(faultproxy.Down, 250*time.Millisecond)
		})},
		{Name: "redis latency 2 s (owner)", Window: w, inject: redisProxyFault(true, func(p *faultproxy.Proxy) {
			p.SetLatency(faultproxy.Up, time.Second)
			p.SetLatency(faultproxy.Down, time.Second)
		})},
		// faultproxy's blackhole is two-way; a one-way latency as long as
		// the window holds every byte node → Redis for the window.
		{Name: "redis one-way blackhole node→Redis (owner)", Window: 12 * time.Second, inject: redisProxyFault(true, func(p *faultproxy.Proxy) {
			p.SetLatency(faultproxy.Up, 12*time.Second)
		})},
		{Name: "redis partition (owner)", Window: 12 * time.Second, Short: true, inject: redisProxyFault(true, func(p *faultproxy.Proxy) {
			p.SetBlackhole(true)
		})},
		{Name: "redis partition (other node)", Window: 12 * time.Second, inject: redisProxyFault(false, func(p *faultproxy.Proxy) {
			p.SetBlackhole(true)
		})},
		{Name: "redis bandwidth 16 KB/s (owner)", Window: w, inject: redisProxyFault(true, func(p *faultproxy.Proxy) {
			p.SetBandwidth(faultproxy.Up, 16<<10)
			p.SetBandwidth(faultproxy.Down, 16<<10)
		})},
		{Name: "redis link reset every 3 s (owner)", Window: w, inject: func(ctx context.Context, l *soakLab) (string, func(), error) {
			i := l.ownerOr(0)
			stop := l.every(ctx, 3*time.Second, func() { l.redisProxies[i].ResetAll() })
			return l.nodeID(i), stop, nil
		}},
		{Name: "AMI half-open (owner)", Window: w, Short: true, inject: amiProxyFault(func(p *faultproxy.Proxy) { p.SetBlackhole(true) })},
		{Name: "AMI latency 500 ms (owner)", Window: w, inject: amiProxyFault(func(p *faultproxy.Proxy) {
			p.SetLatency(faultproxy.Up, 250*time.Millisecond)
			p.SetLatency(faultproxy.Down, 250*time.Millisecond)
		})},
		// Below the stream's ≈ 10 KB/s: a backlog builds. Not slower: the
		// proxy paces a piece of up to 32 KiB as a whole, so a heal takes
		// effect only after the piece under way (≤ 5 s here).
		{Name: "AMI slow reader 6 KB/s (owner)", Window: w, inject: amiProxyFault(func(p *faultproxy.Proxy) {
			p.SetBandwidth(faultproxy.Down, 6<<10)
		})},
		{Name: "AMI drop mid-message (owner)", Window: w, inject: func(ctx context.Context, l *soakLab) (string, func(), error) {
			// A trickle makes sure a message is in flight when the link
			// is reset.
			i := l.ownerOr(0)
			p := l.amiProxies[i]
			p.SetBandwidth(faultproxy.Down, 1<<10)
			stop := l.every(ctx, 5*time.Second, func() { p.ResetAll() })
			return l.nodeID(i), func() { stop(); p.ResetAll(); p.SetBandwidth(faultproxy.Down, 0) }, nil
		}},
		{Name: "client stall > ping timeout", Window: soakPingInterval + soakPingTimeout + 3*time.Second, Short: true,
			inject: func(_ context.Context, l *soakLab) (string, func(), error) {
				for _, p := range l.clientProxies {
					p.SetBlackhole(true)
				}
				return "client proxies", func() {
					for _, p := range l.clientProxies {
						p.SetBlackhole(false)
					}
				}, nil
			}},
		{Name: "rolling restart (nodes 1, 2)", Short: true, inject: func(ctx context.Context, l *soakLab) (string, func(), error) {
			for i := range soakNodes - 1 {
				if err := l.restartNode(ctx, i); err != nil {
					return "", nil, err
				}
			}
			return "node 1, node 2", func() {}, nil
		}},
		{Name: "redis master failover (SIGKILL)", Short: true, inject: func(ctx context.Context, l *soakLab) (string, func(), error) {
			if err := l.redis.failover(ctx, l.vip.switchTo); err != nil {
				return "", nil, err
			}
			return "master", func() {}, nil
		}},
		{Name: "PBX restart", Window: 3 * time.Second, inject: func(ctx context.Context, l *soakLab) (string, func(), error) {
			l.stopSim()
			return "simulated PBX", func() {
				if err := l.startSim(ctx); err != nil {
					l.log.Error("soak: restart the simulated PBX", "err", err)
				}
			}, nil
		}},
	}
}

// redisProxyFault applies set to the Redis proxy of the owner (owner) or
// of another node; the heal resets the proxy.
func redisProxyFault(owner bool, set func(*faultproxy.Proxy)) func(context.Context, *soakLab) (string, func(), error) {
	return func(_ context.Context, l *soakLab) (string, func(), error) {
		i := l.ownerOr(0)
		if !owner {
			i = (i + 1) % soakNodes
		}
		p := l.redisProxies[i]
		set(p)
		return l.nodeID(i), func() { healProxy(p) }, nil
	}
}

// amiProxyFault applies set to the owner's AMI proxy.
func amiProxyFault(set func(*faultproxy.Proxy)) func(context.Context, *soakLab) (string, func(), error) {
	return func(_ context.Context, l *soakLab) (string, func(), error) {
		i := l.ownerOr(0)
		p := l.amiProxies[i]
		set(p)
		return l.nodeID(i), func() { healProxy(p) }, nil
	}
}

// healProxy lifts every fault of p; connections stay open.
func healProxy(p *faultproxy.Proxy) {
	p.SetBlackhole(false)
	p.SetRefuse(false)
	for _, d := range []faultproxy.Direction{faultproxy.Up, faultproxy.Down} {
		p.SetLatency(d, 0)
		p.SetBandwidth(d, 0)
	}
}

// soakShortWindow caps a fault's window in the short schedule: still
// longer than the lease TTL and the clients' ping timeout.
const soakShortWindow = 8 * time.Second

// pickSchedule returns the faults a soak of duration d runs: the short
// ones once under soakShortLimit (windows capped at soakShortWindow), else
// the whole table.
// With only (a regular expression; nil: all), only the faults whose name
// matches run, short windows or not.
func pickSchedule(d time.Duration, only *regexp.Regexp) []soakFault {
	var out []soakFault
	for _, f := range soakSchedule() {
		switch {
		case only != nil:
			if !only.MatchString(f.Name) {
				continue
			}
		case d < soakShortLimit:
			if !f.Short {
				continue
			}
			f.Window = min(f.Window, soakShortWindow)
		}
		out = append(out, f)
	}
	return out
}

func (f soakFault) String() string { return fmt.Sprintf("%s (%v)", f.Name, f.Window) }
