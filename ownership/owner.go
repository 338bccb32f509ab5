package ownership

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/ctiws/ctiws/cluster"
	"github.com/ctiws/ctiws/directory"
	"github.com/ctiws/ctiws/internal/guard"
	"github.com/ctiws/ctiws/pbx"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// PBX is the AMI side of a tenant as the owner drives it (ami.Runner).
type PBX interface {
	// Run drives the PBX connection until ctx ends, handing every batch
	// of model events to emit (the fenced publish), which returns
	// cluster.ErrNotOwner once the lease is lost (the term then ends).
	Run(ctx context.Context, emit func(context.Context, []cluster.Event) error) error
	// Do carries out one command on the PBX.
	Do(ctx context.Context, c cluster.Command) (json.RawMessage, error)
	// SetDirectory passes a reloaded directory to the running model.
	SetDirectory(d *directory.Directory)
	// Ready returns a channel that is closed while Do can carry out
	// commands (connected, start-up snapshot done); while it cannot, the
	// channel that closes when it next can.
	Ready() <-chan struct{}
}

// Metrics are the ownership collectors.
type Metrics struct {
	// LeaseOwned is ctiws_lease_owned{tenant}: 1 while this node owns.
	LeaseOwned *prometheus.GaugeVec
	// OwnershipChanges is ctiws_ownership_changes_total{tenant,change}.
	OwnershipChanges *prometheus.CounterVec
	// Published is ctiws_owner_events_published_total{tenant}.
	Published *prometheus.CounterVec
	// FenceRejects is ctiws_fence_rejects_total{tenant}.
	FenceRejects *prometheus.CounterVec
	// Commands is ctiws_owner_commands_total{tenant,command,result}.
	Commands *prometheus.CounterVec
	// CommandsRunning is ctiws_owner_commands_running{tenant}: commands
	// carried out at this moment (at most max_concurrent_commands).
	CommandsRunning *prometheus.GaugeVec
}

// NewMetrics registers the ownership collectors on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	f := promauto.With(reg)
	return &Metrics{
		LeaseOwned: f.NewGaugeVec(prometheus.GaugeOpts{Namespace: "ctiws", Name: "lease_owned",
			Help: "1 while this node owns the tenant's PBX connection."}, []string{"tenant"}),
		OwnershipChanges: f.NewCounterVec(prometheus.CounterOpts{Namespace: "ctiws", Name: "ownership_changes_total",
			Help: "Leases acquired or lost by this node."}, []string{"tenant", "change"}),
		Published: f.NewCounterVec(prometheus.CounterOpts{Namespace: "ctiws", Name: "owner_events_published_total",
			Help: "PBX events published by this node as owner."}, []string{"tenant"}),
		FenceRejects: f.NewCounterVec(prometheus.CounterOpts{Namespace: "ctiws", Name: "fence_rejects_total",
			Help: "Publishes refused because the lease was lost."}, []string{"tenant"}),
		Commands: f.NewCounterVec(prometheus.CounterOpts{Namespace: "ctiws", Name: "owner_commands_total",
			Help: "Commands carried out by the owner, by result (busy: refused, too many pending of the user)."}, []string{"tenant", "command", "result"}),
		CommandsRunning: f.NewGaugeVec(prometheus.GaugeOpts{Namespace: "ctiws", Name: "owner_commands_running",
			Help: "Commands the owner is carrying out at this moment."}, []string{"tenant"}),
	}
}

// Forget drops the series of a tenant that left the configuration.
func (m *Metrics) Forget(tenant string) {
	l := prometheus.Labels{"tenant": tenant}
	m.LeaseOwned.DeletePartialMatch(l)
	m.OwnershipChanges.DeletePartialMatch(l)
	m.Published.DeletePartialMatch(l)
	m.FenceRejects.DeletePartialMatch(l)
	m.Commands.DeletePartialMatch(l)
	m.CommandsRunning.DeletePartialMatch(l)
}

// Owner competes for one tenant's lease and runs its PBX while holding it.
type Owner struct {
	// Tenant names the tenant whose lease the owner competes for.
	Tenant string
	// Node is this node's id, the holder named in the lease.
	Node string
	// Backend holds the lease, the bus and the command queue.
	Backend cluster.Backend
	// LeaseTTL is how long the lease lasts without renewal.
	LeaseTTL time.Duration
	// NewPBX builds the tenant's PBX connection for one ownership term.
	NewPBX func() PBX
	// Directory returns the tenant's current directory (for the login and
	// logout hooks).
	Directory func() *directory.Directory
	// MayAcquire, if set, is asked before taking a free lease (lease
	// spreading); the lease is taken anyway after a few refusals so a
	// tenant never stays without an owner.
	MayAcquire func() bool
	// NodeAlive, if set, tells whether another node still runs (e.g. it
	// still has connections to Redis). A lease whose holder is gone is
	// taken over at once instead of after its TTL; the fence keeps this
	// safe even if the answer is wrong.
	NodeAlive func(ctx context.Context, node string) (bool, error)
	// Watch, if set, watches the lease while another live node holds it
	// (the owner then waits for it instead of asking Redis itself).
	Watch *leaseWatch
	// Renewer, if set, renews this owner's lease together with the other
	// leases of the node (one batch per interval); without it the owner
	// renews alone.
	Renewer *Renewer
	// Starts, if set, bounds the rate at which the node's owners take
	// leases and open their PBX connections.
	Starts *StartGate
	// Streams are polled while this node owns the tenant.
	Streams []Stream
	// Log logs the ownership terms and failures.
	Log *slog.Logger
	// Metrics are the node's ownership collectors (NewMetrics).
	Metrics *Metrics
	// Panics counts and logs panics of the owner's goroutines; a panic ends
	// the ownership term (the lease is released and competed for again),
	// a panicking command fails alone. Nil: recovered and logged only.
	Panics *guard.Panics
	// ReadyWait is how long a command waits for a PBX that is not ready
	// (not connected, or taking its start-up snapshot) before it fails
	// with cluster.ErrCommandUnavailable; zero means DefaultReadyWait.
	// Login and logout hooks are kept until it is ready instead (see
	// readyGate).
	ReadyWait time.Duration
	// MaxPendingPerUser bounds the awaited commands (call control) of one
	// user that the owner has accepted and not answered yet; the next one
	// is refused with cluster.ErrCommandBusy (429). Zero means
	// DefaultMaxPendingPerUser (max_pending_commands_per_user).
	MaxPendingPerUser int
	// MaxConcurrentCommands bounds the tenant's commands carried out at
	// once on its PBX; zero means DefaultMaxConcurrentCommands
	// (max_concurrent_commands).
	MaxConcurrentCommands int

	mu    sync.Mutex
	lease *cluster.Lease
	pbx   PBX
	// handBack asks the owner to release its lease, saying why
	// (spreading, a hand-over).
	handBack chan error
	// wake interrupts Run's wait between two attempts (Wake); eagerUntil
	// is when Wake's quick attempts end.
	wake       chan struct{}
	eagerUntil time.Time
	// handedIn: the current term began on a Wake (a hand-over to this
	// node); lease spreading does not hand it back.
	handedIn bool
}

// LastErrorer is a PBX that tells its last connection error and when it
// happened (ami.Runner): login refused, connection refused, a failed
// snapshot… An empty err means none yet.
type LastErrorer interface {
	LastError() (err string, at time.Time)
}

// Owned reports whether this node currently holds the lease.
func (o *Owner) Owned() bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.lease != nil
}

// SetDirectory passes a reloaded directory to a running PBX.
func (o *Owner) SetDirectory(d *directory.Directory) {
	o.mu.Lock()
	p := o.pbx
	o.mu.Unlock()
	if p != nil {
		p.SetDirectory(d)
	}
}

// HandBack releases the lease if held, so another node takes the tenant.
func (o *Owner) HandBack() { o.handBackWith(errors.New("handed back to spread leases")) }

func (o *Owner) handBackWith(why error) {
	o.mu.Lock()
	ch := o.handBack
	o.mu.Unlock()
	if ch != nil {
		select {
		case ch <- why:
		default:
		}
	}
}

// HandOver hands the tenant to node to: it reserves the lease for to for
// hold (cluster.Ownership.Reserve: no other node, this one included, takes
// it meanwhile) and ends the term, which releases the lease. to's owner
// takes it at its next attempt; Wake it so that this is at once. It
// returns the lease handed over, or ErrNotOwned when this node does not
// hold it (any more).
func (o *Owner) HandOver(ctx context.Context, to string, hold time.Duration) (cluster.Lease, error) {
	o.mu.Lock()
	l := o.lease
	o.mu.Unlock()
	if l == nil {
		return cluster.Lease{}, fmt.Errorf("tenant %s: %w", o.Tenant, ErrNotOwned)
	}
	ok, err := o.Backend.Ownership.Reserve(ctx, *l, to, hold)
	if err != nil {
		return cluster.Lease{}, fmt.Errorf("tenant %s: reserve the lease for %s: %w", o.Tenant, to, err)
	}
	if !ok {
		return cluster.Lease{}, fmt.Errorf("tenant %s: lease epoch %d lost: %w", o.Tenant, l.Epoch, ErrNotOwned)
	}
	o.Log.Info("handing the PBX over", "tenant", o.Tenant, "to", to, "epoch", l.Epoch)
	o.Metrics.OwnershipChanges.WithLabelValues(o.Tenant, "handed_over").Inc()
	o.handBackWith(fmt.Errorf("handed over to %s", to))
	return *l, nil
}

// Wake makes Run try to take the lease at once and then every eagerRetry
// for d, whatever the lease spreading says and whether or not the holder
// is alive: a hand-over to this node (HandOver on the old owner) reserved
// the lease for it.
func (o *Owner) Wake(d time.Duration) {
	o.mu.Lock()
	o.eagerUntil = time.Now().Add(d)
	ch := o.wakeChan()
	o.mu.Unlock()
	select {
	case ch <- struct{}{}:
	default:
	}
}

// wakeChan returns the Wake channel, made on first use; the caller holds mu.
func (o *Owner) wakeChan() chan struct{} {
	if o.wake == nil {
		o.wake = make(chan struct{}, 1)
	}
	return o.wake
}

// eager reports whether a Wake's quick attempts are on.
func (o *Owner) eager() bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return time.Now().Before(o.eagerUntil)
}

// handedOverHere reports whether the current term began on a Wake.
func (o *Owner) handedOverHere() bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.lease != nil && o.handedIn
}

// LastError returns the current term's last PBX connection error and when
// it happened; "" when there is none or the node does not own the tenant.
func (o *Owner) LastError() (string, time.Time) {
	o.mu.Lock()
	p := o.pbx
	o.mu.Unlock()
	if le, ok := p.(LastErrorer); ok {
		return le.LastError()
	}
	return "", time.Time{}
}

// eagerRetry is the wait between two attempts after a Wake: an eighth of
// the normal retry interval.
func eagerRetry(retry time.Duration) time.Duration { return max(retry/8, 10*time.Millisecond) }

// quietPeeks is how many times in a row an owner whose lease is held by a
// live node reads the lease (Ownership.Owner, one command) instead of
// trying to take it (the acquisition script, six): a lease handed back is
// still found at the next read, and the full attempts in between keep the
// lease's server record fresh after a failover (leaseAcquire).
const quietPeeks = 3

// Run competes for the lease until ctx ends; on return a held lease has been
// released (planned handover).
//
// While the lease is held by a node that NodeAlive reports alive, the owner
// waits for its Watch (the node's one watch of such leases) to wake it;
// without one, only every fourth attempt asks the backend, and of those
// three in four only read the lease (a lease handed back or whose holder
// died is still found quickly), which keeps an idle farm's acquisition
// traffic low.
func (o *Owner) Run(ctx context.Context) {
	retry := o.LeaseTTL / 3
	refused, quiet, peeks := 0, 0, 0
	holder := "" // the last holder seen, while it is alive
	o.mu.Lock()
	wake := o.wakeChan()
	o.mu.Unlock()
	for ctx.Err() == nil {
		eager := o.eager()
		switch {
		case !eager && holder != "" && o.Watch != nil && o.holderAlive(ctx, holder):
			o.Watch.wait(ctx, o.Tenant, holder, wake)
			quiet, peeks, holder = 0, 0, ""
			continue
		case !eager && holder != "" && quiet < 3 && o.holderAlive(ctx, holder):
			quiet++
		case !eager && o.MayAcquire != nil && !o.MayAcquire() && refused < 5:
			refused++
		case !eager && holder != "" && peeks < quietPeeks && o.holderAlive(ctx, holder):
			quiet = 0
			peeks++
			if !o.peek(ctx, holder) {
				holder = ""
				continue // free, ours, or unknown: an attempt at once
			}
		case o.Starts != nil && !o.Starts.Take(ctx, retry/2):
			// This node starts no more terms for now.
		default:
			quiet, peeks, holder = 0, 0, ""
			// The lease's time counts from the request's send time: Redis
			// starts its TTL later, when it runs the request.
			sent := time.Now()
			lease, ok, err := o.Backend.Ownership.Acquire(ctx, o.Tenant, o.Node, o.LeaseTTL)
			if err == nil && !ok && o.holderGone(ctx, lease) {
				sent = time.Now()
				lease, ok, err = o.Backend.Ownership.Acquire(ctx, o.Tenant, o.Node, o.LeaseTTL)
			}
			if !ok && o.Starts != nil {
				o.Starts.Put()
			}
			switch {
			case err != nil && ctx.Err() == nil:
				o.Log.Warn("lease acquire failed", "tenant", o.Tenant, "err", err)
			case ok:
				refused = 0
				o.mu.Lock()
				o.eagerUntil, o.handedIn = time.Time{}, eager
				o.mu.Unlock()
				o.term(ctx, lease, sent)
			case err == nil:
				holder = lease.Node
			}
		}
		// Jitter spreads the nodes' attempts.
		wait := retry/2 + time.Duration(rand.Int64N(int64(retry)))
		if o.eager() {
			wait = eagerRetry(retry)
		}
		select {
		case <-ctx.Done():
		case <-time.After(wait):
		case <-wake:
		}
	}
}

// peek reads the lease and reports whether it is still held by holder, or
// by another node that is alive (then holder is not worth an attempt
// either); false when it is free, ours, or unreadable.
func (o *Owner) peek(ctx context.Context, holder string) bool {
	l, ok, err := o.Backend.Ownership.Owner(ctx, o.Tenant)
	if err != nil || !ok {
		return false
	}
	return l.Node == holder || o.holderAlive(ctx, l.Node)
}

// holderAlive reports whether node is known to be alive; without NodeAlive
// nothing is known.
func (o *Owner) holderAlive(ctx context.Context, node string) bool {
	if o.NodeAlive == nil || node == o.Node {
		return false
	}
	alive, err := o.NodeAlive(ctx, node)
	return err == nil && alive
}

// holderGone releases a lease whose holder node is no longer alive and
// reports whether it did.
func (o *Owner) holderGone(ctx context.Context, holder cluster.Lease) bool {
	if o.NodeAlive == nil || holder.Node == "" || holder.Node == o.Node {
		return false
	}
	alive, err := o.NodeAlive(ctx, holder.Node)
	if err != nil || alive {
		return false
	}
	if err := o.Backend.Ownership.Release(ctx, holder); err != nil {
		return false
	}
	o.Metrics.OwnershipChanges.WithLabelValues(o.Tenant, "taken_from_dead_node").Inc()
	o.Log.Warn("PBX owner node is gone: taking its lease over without waiting for the TTL", "tenant", o.Tenant, "dead_node", holder.Node, "epoch", holder.Epoch)
	return true
}

// term runs one ownership term: PBX connection, renewals and commands.
// sent is when the Acquire that granted lease was sent.
//
// The term ends when its lease is lost, overdue, handed back, or ctx ends;
// the node then steps down at once: the AMI session stops, and as soon as
// it has, the node no longer counts itself the owner (Owned, the
// ctiws_lease_owned metric and the "PBX ownership ended" line), without
// waiting for the term's Redis work (a blocking command read may take a
// while to return). Only then, after that work stopped, is the lease
// released, so another node can take it.
func (o *Owner) term(parent context.Context, lease cluster.Lease, sent time.Time) {
	ctx, cancel := context.WithCancelCause(parent)
	defer cancel(nil)
	p := o.NewPBX()
	handBack := make(chan error, 1)
	// Logged before the node counts itself the owner and after it stopped,
	// so the log's ownership interval covers the node's own.
	o.Log.Info("PBX ownership acquired", "tenant", o.Tenant, "epoch", lease.Epoch)
	o.mu.Lock()
	o.lease, o.pbx, o.handBack = &lease, p, handBack
	o.mu.Unlock()
	o.Metrics.LeaseOwned.WithLabelValues(o.Tenant).Set(1)
	o.Metrics.OwnershipChanges.WithLabelValues(o.Tenant, "acquired").Inc()
	var stepDown sync.Once
	stepDownNow := func() {
		stepDown.Do(func() {
			o.mu.Lock()
			o.lease, o.pbx, o.handBack = nil, nil, nil
			o.mu.Unlock()
			o.Metrics.LeaseOwned.WithLabelValues(o.Tenant).Set(0)
			o.Metrics.OwnershipChanges.WithLabelValues(o.Tenant, "released").Inc()
			o.Log.Info("PBX ownership ended", "tenant", o.Tenant, "epoch", lease.Epoch, "why", context.Cause(ctx))
		})
	}
	defer func() {
		stepDownNow()
		rctx, rcancel := context.WithTimeout(context.Background(), releaseTimeout(o.LeaseTTL))
		if err := o.Backend.Ownership.Release(rctx, lease); err != nil {
			o.Log.Warn("lease release failed; it expires by itself", "tenant", o.Tenant, "err", err)
		}
		rcancel()
	}()

	// A panic in any of the term's goroutines ends the term: the others
	// stop, the lease is released, and Run competes for it again.
	contain := func() { cancel(errors.New("panic in the owner (see the panic log line)")) }
	gate := newReadyGate(o, p)
	defer gate.handOver()
	run := func(cctx context.Context, c cluster.Command) (json.RawMessage, error) { return o.run(cctx, p, c) }
	var wg sync.WaitGroup
	if len(o.Streams) > 0 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer o.Panics.Recover(guard.Owner, o.Tenant, func(error) { contain() })
			pollStreams(ctx, o.Tenant, o.Node, o.Streams, o.Backend.Bus, nil, o.Log)
		}()
	}
	wg.Add(4)
	go func() {
		defer wg.Done()
		defer o.Panics.Recover(guard.Owner, o.Tenant, func(error) { contain() })
		gate.runWhenReady(ctx, run)
	}()
	go func() {
		defer wg.Done()
		defer o.Panics.Recover(guard.Owner, o.Tenant, func(error) { contain() })
		o.renew(ctx, cancel, lease, sent, handBack)
	}()
	go func() {
		defer wg.Done()
		// The AMI session has stopped: step down now, not after the
		// term's other goroutines.
		defer func() {
			if ctx.Err() != nil {
				stepDownNow()
			}
		}()
		defer o.Panics.Recover(guard.Owner, o.Tenant, func(error) { contain() })
		// The bus stamps the events' Origin (the lease's node) and Time.
		// The publish returns when the term ends, not when Redis answers:
		// on a dead link the call waits for the client's timeout, and the
		// AMI session must close at the step-down (the call goes on,
		// fenced, until it ends by itself).
		emit := func(ectx context.Context, evs []cluster.Event) error {
			err := o.untilDone(ectx, func() error { return o.Backend.Bus.PublishFenced(ectx, lease, evs) })
			if errors.Is(err, cluster.ErrNotOwner) {
				o.Metrics.FenceRejects.WithLabelValues(o.Tenant).Inc()
				cancel(fmt.Errorf("fenced: %w", err))
				return err
			}
			if err == nil {
				o.Metrics.Published.WithLabelValues(o.Tenant).Add(float64(len(evs)))
			}
			return err
		}
		err := p.Run(ctx, emit)
		if ctx.Err() == nil {
			cancel(fmt.Errorf("PBX connection ended: %w", err))
		}
	}()
	go func() {
		defer wg.Done()
		defer o.Panics.Recover(guard.Owner, o.Tenant, func(error) { contain() })
		// The dispatcher's commands stop with the term; the undone ones
		// are queued again before the lease is released.
		d := newDispatcher(ctx, o, gate, run, func(error) { contain() })
		defer d.handOver()
		for ctx.Err() == nil {
			err := o.Backend.Commands.Consume(ctx, o.Tenant, o.Node, d.dispatch)
			if ctx.Err() == nil {
				o.Log.Warn("command consumer ended; retrying", "tenant", o.Tenant, "err", err)
				select {
				case <-ctx.Done():
				case <-time.After(time.Second):
				}
			}
		}
	}()
	wg.Wait()
}

// releaseTimeout bounds the Release at the end of a term: a third of the
// TTL (at most 2 s). A lease not renewed since the step-down, 2/3 of the
// TTL after its last renewal was sent, has expired by then anyway, and the
// owner competes again only after the release returned.
func releaseTimeout(ttl time.Duration) time.Duration { return min(ttl/3, 2*time.Second) }

// untilDone runs call and returns its error, or ctx's error as soon as ctx
// ends first: a term's step-down never waits for a Redis call on a dead
// link. The call goes on in the background until it returns by itself (a
// panic in it is contained and counted like the term's own).
func (o *Owner) untilDone(ctx context.Context, call func() error) error {
	done := make(chan error, 1)
	go func() {
		defer o.Panics.Recover(guard.Owner, o.Tenant, func(err error) { done <- err })
		done <- call()
	}()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// renew keeps the lease through the node's Renewer (or a private one);
// losing it, or not renewing it in time, ends the term before the lease can
// expire (the owner stops itself).
func (o *Owner) renew(ctx context.Context, cancel context.CancelCauseFunc, lease cluster.Lease, sent time.Time, handBack <-chan error) {
	r := o.Renewer
	if r == nil {
		r = &Renewer{Ownership: o.Backend.Ownership, TTL: o.LeaseTTL, Log: o.Log}
		go r.Run(ctx)
	}
	r.Keep(ctx, lease, sent, func(why error) {
		o.Metrics.OwnershipChanges.WithLabelValues(o.Tenant, "lost").Inc()
		cancel(why)
	})
	select {
	case <-ctx.Done():
	case why := <-handBack:
		cancel(why)
	}
}

// command carries out one queued command and, when its sender waits,
// publishes the result. An expired command is answered, not carried out.
// A command that panics fails alone (logged, counted, answered and
// acknowledged like any failed command). A login or logout hook that finds
// the PBX not ready is acknowledged and kept by the gate. An error means
// the term ended (ctx) before it was done: the dispatcher queues it again.
func (o *Owner) command(ctx context.Context, gate *readyGate, run func(context.Context, cluster.Command) (json.RawMessage, error), c cluster.Command) error {
	data, err := o.carryOut(ctx, gate, run, c)
	return o.answer(ctx, c, data, err)
}

// answer ends command c with its outcome (see command): it is logged,
// counted and, when its sender waits, answered; nil means acknowledge it.
func (o *Owner) answer(ctx context.Context, c cluster.Command, data json.RawMessage, err error) error {
	if errors.Is(err, errDeferred) {
		o.Log.Info("login hook kept until the PBX is ready", "tenant", o.Tenant, "command", c.Name, "user", c.User)
		o.Metrics.Commands.WithLabelValues(o.Tenant, string(c.Name), "deferred").Inc()
		return nil
	}
	o.commandDone(c, err)
	// A command that fails on the PBX is not retried forever: it is logged,
	// counted, answered and acknowledged. Only a lost lease (ctx) leaves it
	// to the next owner (queued again by the dispatcher) to carry out and
	// answer.
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if c.Reply && c.ID != "" {
		rctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if rerr := o.Backend.Commands.Reply(rctx, c.Tenant, c.ID, cluster.ResultOf(data, err)); rerr != nil {
			o.Log.Warn("command result not delivered; its sender times out", "tenant", o.Tenant, "command", c.Name, "err", rerr)
		}
	}
	return nil
}

// commandDone logs a failed command and counts the command by result.
func (o *Owner) commandDone(c cluster.Command, err error) {
	result := "ok"
	switch {
	case errors.Is(err, cluster.ErrCommandBusy):
		result = "busy" // counted, not logged: the REST node logs its 429
	case err != nil:
		result = "error"
		o.Log.Warn("owner command failed", "tenant", o.Tenant, "command", c.Name, "user", c.User, "err", err)
	}
	label := string(c.Name)
	if !pbx.KnownCommand(c.Name) {
		label = "unknown"
	}
	o.Metrics.Commands.WithLabelValues(o.Tenant, label, result).Inc()
}

// carryOut answers an undecodable or expired command at once and runs the
// others through the gate (which waits for the PBX to be ready).
func (o *Owner) carryOut(ctx context.Context, gate *readyGate, run func(context.Context, cluster.Command) (json.RawMessage, error), c cluster.Command) (json.RawMessage, error) {
	if _, derr := pbx.DecodeCommand(c.Name, c.Args); derr != nil {
		return nil, derr
	}
	if c.Expired(time.Now()) {
		return nil, fmt.Errorf("%s: %w", c.Name, cluster.ErrCommandExpired)
	}
	return gate.do(ctx, c, run)
}

// run carries out one command on the PBX (the hooks through hook), turning
// a panic into an error.
func (o *Owner) run(ctx context.Context, p PBX, c cluster.Command) (data json.RawMessage, err error) {
	defer o.Panics.Recover(guard.Owner, o.Tenant, func(perr error) { err = perr })
	if isHook(c) {
		return nil, o.hook(ctx, p, c)
	}
	return p.Do(ctx, c)
}

// hook applies the user's settings on first login and last logout
// (docs/protocol.md, section 2.5), exactly once per transition.
func (o *Owner) hook(ctx context.Context, p PBX, c cluster.Command) error {
	u, ok := o.Directory().User(c.User)
	if !ok || u.MainExtension == "" {
		return nil
	}
	s := u.Settings
	var cmds []cluster.Command
	add := func(a pbx.CommandArgs) { cmds = append(cmds, cluster.NewCommand(c.Tenant, c.User, a)) }
	if c.Name == pbx.CmdUserLoggedIn {
		if s.QueueAutoLogin && (u.Perms.Queues || u.Perms.AdminQueues) {
			add(pbx.QueueLogin{Exten: u.MainExtension})
		}
		if s.AutoDNDOffLogin && u.Perms.DND {
			add(pbx.Presence{Exten: u.MainExtension, Status: "online"})
		}
	} else {
		if s.QueueAutoLogout {
			add(pbx.QueueLogout{Exten: u.MainExtension})
		}
		if s.AutoDNDOnLogout && u.Perms.DND {
			add(pbx.Presence{Exten: u.MainExtension, Status: "dnd"})
		}
	}
	var errs []error
	for _, cmd := range cmds {
		if _, err := p.Do(ctx, cmd); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", cmd.Name, err))
		}
	}
	return errors.Join(errs...)
}
