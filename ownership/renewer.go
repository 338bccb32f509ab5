package ownership

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/ctiws/ctiws/cluster"

	"github.com/ctiws/ctiws/internal/periodic"
)

// Renewer keeps every lease a node holds with one batched renewal per
// interval (cluster.Ownership.RenewAll), so the Redis round trips of a node
// do not grow with its number of tenants, and one slow answer delays all
// renewals equally instead of failing some tenants' renewals behind others'.
//
// A lease is given up (its owner told) when Redis says it is gone, or, by a
// timer, two thirds of the TTL after the request of its last successful
// renewal (or of its acquisition) was sent: Redis counts the TTL from when
// it ran that request, which is later, so the owner steps down at least a
// third of the TTL before the lease can expire under it and be taken
// (docs/cluster.md, "One owner at a time"). The timer is local: it never
// waits for Redis. A renewal may take until the batch's first step-down
// deadline (so a slow link costs no lease while its round trip fits the
// budget), and one that fails fast is retried within that time.
type Renewer struct {
	// Ownership renews the leases (RenewAll).
	Ownership cluster.Ownership
	// TTL is the leases' time to live: renewals every TTL/3, step-down
	// at StepDown.
	TTL time.Duration
	// Log logs failed renewals.
	Log *slog.Logger
	// OnLost, if set, is called once per lease given up (metrics).
	OnLost func(tenant string)

	mu   sync.Mutex
	held map[string]*heldLease // by tenant
}

// heldLease is one lease being renewed; its fields are guarded by the
// Renewer's mu.
type heldLease struct {
	lease cluster.Lease
	// deadline is when the owner must have stepped down: two thirds of the
	// TTL after the last successful renewal (or the acquisition) was sent.
	deadline time.Time
	// timer gives the lease up at deadline.
	timer *time.Timer
	// lastErr is the last renewal error, for the reason of a give-up.
	lastErr error
	lost    func(error)
}

// StepDown is how long after sending a successful renewal (or the
// acquisition) an owner may go on without another one: two thirds of the
// TTL.
func (r *Renewer) StepDown() time.Duration { return r.TTL * 2 / 3 }

// Keep renews lease until ctx ends or the lease is lost; lost is then
// called once with the reason (it must not block). sent is when the
// request that granted the lease was sent: the lease is given up
// StepDown after it unless renewed. Keep returns at once.
func (r *Renewer) Keep(ctx context.Context, lease cluster.Lease, sent time.Time, lost func(error)) {
	h := &heldLease{lease: lease, deadline: sent.Add(r.StepDown()), lost: lost}
	r.mu.Lock()
	if r.held == nil {
		r.held = map[string]*heldLease{}
	}
	r.held[lease.Tenant] = h
	h.timer = time.AfterFunc(time.Until(h.deadline), func() { r.expire(h) })
	r.mu.Unlock()
	context.AfterFunc(ctx, func() { r.drop(h) })
}

// expire gives h up if its deadline has passed without a renewal (a
// renewal that came in meanwhile moved the deadline: the timer is armed
// again).
func (r *Renewer) expire(h *heldLease) {
	r.mu.Lock()
	if r.held[h.lease.Tenant] != h {
		r.mu.Unlock()
		return
	}
	if wait := time.Until(h.deadline); wait > 0 {
		h.timer.Reset(wait)
		r.mu.Unlock()
		return
	}
	why := h.lastErr
	r.mu.Unlock()
	if why == nil {
		why = errors.New("no renewal answered")
	}
	r.give(h, fmt.Errorf("lease not renewed in time: %w", why))
}

// renewed moves h's deadline after a successful renewal sent at sent.
func (r *Renewer) renewed(h *heldLease, sent time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.held[h.lease.Tenant] != h {
		return
	}
	if d := sent.Add(r.StepDown()); d.After(h.deadline) {
		h.deadline = d
	}
	h.lastErr = nil
}

// failed notes a renewal error of h (the reason if its deadline passes).
func (r *Renewer) failed(h *heldLease, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	h.lastErr = err
}

// drop forgets h if it is still the tenant's held lease.
func (r *Renewer) drop(h *heldLease) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.held[h.lease.Tenant] != h {
		return false
	}
	h.timer.Stop()
	delete(r.held, h.lease.Tenant)
	return true
}

// Held is the number of leases being renewed.
func (r *Renewer) Held() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.held)
}

// Every is the renewal interval: a third of the TTL.
func (r *Renewer) Every() time.Duration { return r.TTL / 3 }

// Run renews the held leases every TTL/3 until ctx ends.
func (r *Renewer) Run(ctx context.Context) { periodic.Every(ctx, r.Every(), r.RenewOnce) }

// RenewOnce renews every held lease in one batch, retrying a batch that
// failed fast until the batch's first step-down deadline (attemptDeadline),
// and gives up the leases that are lost. (Overdue leases are given up by
// their timer, at their deadline, not at the end of a batch.)
func (r *Renewer) RenewOnce(ctx context.Context) {
	r.mu.Lock()
	batch := make([]*heldLease, 0, len(r.held))
	for _, h := range r.held {
		batch = append(batch, h)
	}
	r.mu.Unlock()
	if len(batch) == 0 {
		return
	}
	leases := make([]cluster.Lease, len(batch))
	for i, h := range batch {
		leases[i] = h.lease
	}
	end := r.attemptDeadline(batch)
	var held []bool
	var err error
	var sent time.Time
	for attempt := 0; ; attempt++ {
		actx, cancel := context.WithDeadline(ctx, end)
		sent = time.Now()
		held, err = r.Ownership.RenewAll(actx, leases, r.TTL)
		cancel()
		if err == nil || ctx.Err() != nil || time.Until(end) < r.Every()/10 {
			break
		}
		if attempt == 0 {
			r.Log.Warn("lease renewal failed; retrying", "leases", len(leases), "err", err)
		}
		select {
		case <-ctx.Done():
		case <-time.After(r.Every() / 10):
		}
	}
	if ctx.Err() != nil {
		return
	}
	// A partial answer (*cluster.RenewErrors) holds for the leases it
	// answered; any other error for none.
	var partial *cluster.RenewErrors
	if !errors.As(err, &partial) || len(partial.Failed) != len(batch) {
		partial = nil
	}
	for i, h := range batch {
		why := err
		if partial != nil {
			why = partial.Failed[i]
		}
		switch {
		case why == nil && held[i]:
			r.renewed(h, sent)
		case why == nil:
			r.give(h, errors.New("lease lost"))
		default:
			r.failed(h, why)
		}
	}
	if err != nil {
		r.Log.Warn("lease renewal failed", "leases", len(leases), "err", err)
	}
}

// attemptDeadline is how long a renewal of batch may take: until the
// first of its step-down deadlines, when an answer would come too late for
// that lease anyway, but at least half an interval. A slow link therefore
// costs no lease while a round trip fits the budget (in the steady state
// StepDown − Every = TTL/3: 1.67 s at the 5 s default, docs/cluster.md,
// "One owner at a time"); an attempt that fails at once (a reset
// connection) is retried on a new connection within that time.
func (r *Renewer) attemptDeadline(batch []*heldLease) time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	end := time.Now().Add(r.Every() / 2)
	first := time.Time{}
	for _, h := range batch {
		if first.IsZero() || h.deadline.Before(first) {
			first = h.deadline
		}
	}
	if first.After(end) {
		end = first
	}
	return end
}

// give tells h's owner that its lease is gone (once).
func (r *Renewer) give(h *heldLease, why error) {
	if !r.drop(h) {
		return
	}
	if r.OnLost != nil {
		r.OnLost(h.lease.Tenant)
	}
	h.lost(why)
}
