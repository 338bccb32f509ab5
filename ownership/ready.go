package ownership

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/ctiws/ctiws/cluster"
	"github.com/ctiws/ctiws/pbx"
)

// DefaultReadyWait is Owner.ReadyWait's default: long enough for a login
// and the start-up snapshot of a large PBX, short enough for a REST caller
// to get its 503 well within its own timeout.
const DefaultReadyWait = 5 * time.Second

// readyGate runs one term's commands against a PBX that is not always
// ready (not connected yet, taking its start-up snapshot, reconnecting).
// Commands pass it concurrently (the dispatcher decides what runs at once);
// docs/ami-model.md, section 10:
//
//   - a command waits for the PBX to be ready, at most the owner's
//     ReadyWait and never past its own deadline; then it fails with
//     cluster.ErrCommandUnavailable (503). Once a wait has run out, the
//     next commands fail at once until the PBX is ready again, so a long
//     outage does not hold every queued command for ReadyWait;
//   - a user's login or logout hook is not waited for but kept (the
//     latest per user) and carried out as soon as the PBX is ready,
//     before any later command; the hooks still kept when the term ends
//     are queued again for the next owner.
type readyGate struct {
	o    *Owner
	p    PBX
	wait time.Duration

	// hooks is held while the kept hooks run: a command that comes
	// meanwhile waits for them (they go first).
	hooks sync.Mutex
	// mu guards the fields below; it is never held while a command runs.
	mu       sync.Mutex
	gaveUp   bool                       // a wait ran out since the PBX was last ready
	deferred map[string]cluster.Command // user → latest hook not carried out yet
	kept     chan struct{}              // signalled when a hook is kept
}

func newReadyGate(o *Owner, p PBX) *readyGate {
	wait := o.ReadyWait
	if wait <= 0 {
		wait = DefaultReadyWait
	}
	return &readyGate{o: o, p: p, wait: wait, deferred: map[string]cluster.Command{}, kept: make(chan struct{}, 1)}
}

// ready reports whether the PBX can carry out commands now.
func (g *readyGate) ready() bool {
	select {
	case <-g.p.Ready():
		return true
	default:
		return false
	}
}

// isHook reports whether c is a user's login or logout hook.
func isHook(c cluster.Command) bool {
	return c.Name == pbx.CmdUserLoggedIn || c.Name == pbx.CmdUserLoggedOut
}

// do runs c through run once the PBX is ready (see readyGate), after the
// hooks kept so far. A hook that finds the PBX not ready is kept and do
// returns errDeferred. Safe for concurrent use.
func (g *readyGate) do(ctx context.Context, c cluster.Command, run func(context.Context, cluster.Command) (json.RawMessage, error)) (json.RawMessage, error) {
	if isHook(c) && !g.ready() {
		g.keep(c)
		return nil, errDeferred
	}
	if err := g.waitReady(ctx, c); err != nil {
		return nil, err
	}
	g.runKept(ctx, run)
	data, err := run(ctx, c)
	if isHook(c) && errors.Is(err, cluster.ErrCommandUnavailable) && ctx.Err() == nil {
		g.keep(c) // the PBX went away in between
		return nil, errDeferred
	}
	return data, err
}

// waitReady waits until the PBX is ready, ctx ends, or the wait runs out
// (the owner's ReadyWait, or c's deadline if sooner).
func (g *readyGate) waitReady(ctx context.Context, c cluster.Command) error {
	if g.ready() {
		g.setGaveUp(false)
		return nil
	}
	g.mu.Lock()
	gaveUp := g.gaveUp
	g.mu.Unlock()
	if gaveUp {
		return fmt.Errorf("%s: %w (still not ready)", c.Name, cluster.ErrCommandUnavailable)
	}
	wait, full := g.wait, true
	if c.Expires > 0 {
		if left := time.Until(time.UnixMilli(c.Expires)); left < wait {
			wait, full = max(left, 0), false
		}
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-g.p.Ready():
		g.setGaveUp(false)
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		if full {
			g.setGaveUp(true)
		}
		return fmt.Errorf("%s: %w (not ready within %s)", c.Name, cluster.ErrCommandUnavailable, wait.Round(time.Millisecond))
	}
}

// setGaveUp records whether a full wait ran out since the PBX was last
// ready.
func (g *readyGate) setGaveUp(v bool) {
	g.mu.Lock()
	g.gaveUp = v
	g.mu.Unlock()
}

// keep records a hook for later; a user's later hook replaces an earlier
// one (a logout after a login leaves only the logout to do).
func (g *readyGate) keep(c cluster.Command) {
	c.ID, c.Reply, c.Expires = "", false, 0
	g.mu.Lock()
	g.deferred[c.User] = c
	g.mu.Unlock()
	select {
	case g.kept <- struct{}{}:
	default:
	}
}

// runKept carries out the kept hooks while the PBX is ready; a hook that
// finds it gone again stays kept. Commands that call it meanwhile wait
// until the hooks are done.
func (g *readyGate) runKept(ctx context.Context, run func(context.Context, cluster.Command) (json.RawMessage, error)) {
	g.mu.Lock()
	n := len(g.deferred)
	g.mu.Unlock()
	if n == 0 {
		return
	}
	g.hooks.Lock()
	defer g.hooks.Unlock()
	g.mu.Lock()
	users := make([]string, 0, len(g.deferred))
	for u := range g.deferred {
		users = append(users, u)
	}
	g.mu.Unlock()
	slices.Sort(users)
	for _, u := range users {
		g.mu.Lock()
		c, ok := g.deferred[u]
		g.mu.Unlock()
		if !ok {
			continue
		}
		if !g.ready() || ctx.Err() != nil {
			return
		}
		_, err := run(ctx, c)
		if ctx.Err() != nil || errors.Is(err, cluster.ErrCommandUnavailable) {
			return // kept: the PBX went away meanwhile
		}
		g.mu.Lock()
		if cur, ok := g.deferred[u]; ok && cur.Name == c.Name && bytes.Equal(cur.Args, c.Args) {
			delete(g.deferred, u) // not replaced by a newer hook meanwhile
		}
		g.mu.Unlock()
		g.o.commandDone(c, err)
	}
}

// runWhenReady carries out the kept hooks as soon as the PBX is ready, when
// no command comes to do it first, until ctx ends.
func (g *readyGate) runWhenReady(ctx context.Context, run func(context.Context, cluster.Command) (json.RawMessage, error)) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-g.kept:
		}
		select {
		case <-ctx.Done():
			return
		case <-g.p.Ready():
		}
		g.runKept(ctx, run)
		g.mu.Lock()
		left := len(g.deferred) > 0
		g.mu.Unlock()
		if left {
			// The PBX went away again: try at its next ready time, not
			// before a moment has passed.
			select {
			case g.kept <- struct{}{}:
			default:
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
}

// handOver queues the hooks still kept at the end of the term again, for
// the next owner (best effort: a node that dies loses them).
func (g *readyGate) handOver() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.deferred) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	for u, c := range g.deferred {
		if err := g.o.Backend.Commands.Send(ctx, c); err != nil {
			g.o.Log.Warn("login hook kept for the PBX lost at the end of the ownership", "tenant", g.o.Tenant, "command", c.Name, "user", u, "err", err)
			continue
		}
		g.o.Log.Info("login hook not carried out yet: queued again for the next owner", "tenant", g.o.Tenant, "command", c.Name, "user", u)
	}
	clear(g.deferred)
}
