package node

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
// A lease is given up (its owner told) when Redis says it is gone, or when
// it has not been renewed for two thirds of the TTL: the owner stops before
// the lease can expire under it. A failed batch is retried a few times
// within the interval, so one slow answer does not cost any lease.
type Renewer struct {
	Ownership cluster.Ownership
	TTL       time.Duration
	Log       *slog.Logger
	// OnLost, if set, is called once per lease given up (metrics).
	OnLost func(tenant string)

	mu   sync.Mutex
	held map[string]*heldLease // by tenant
}

type heldLease struct {
	lease  cluster.Lease
	lastOK time.Time
	lost   func(error)
}

// Keep renews lease until ctx ends or the lease is lost; lost is then
// called once with the reason (it must not block). Keep returns at once.
func (r *Renewer) Keep(ctx context.Context, lease cluster.Lease, lost func(error)) {
	h := &heldLease{lease: lease, lastOK: time.Now(), lost: lost}
	r.mu.Lock()
	if r.held == nil {
		r.held = map[string]*heldLease{}
	}
	r.held[lease.Tenant] = h
	r.mu.Unlock()
	context.AfterFunc(ctx, func() { r.drop(h) })
}

// drop forgets h if it is still the tenant's held lease.
func (r *Renewer) drop(h *heldLease) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.held[h.lease.Tenant] != h {
		return false
	}
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

// RenewOnce renews every held lease in one batch, retrying a failed batch
// a few times within the interval, and gives up the leases that are lost
// or overdue.
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
	deadline := time.Now().Add(r.Every())
	var held []bool
	var err error
	for attempt := 0; ; attempt++ {
		// Each attempt gets a share of the interval, so a hung connection
		// is given up while there is time for another try.
		end := time.Now().Add(r.Every() / 2)
		if end.After(deadline) {
			end = deadline
		}
		actx, cancel := context.WithDeadline(ctx, end)
		held, err = r.Ownership.RenewAll(actx, leases, r.TTL)
		cancel()
		if err == nil || ctx.Err() != nil || time.Until(deadline) < r.Every()/10 {
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
	now := time.Now()
	overdue := 0
	for i, h := range batch {
		why := err
		if partial != nil {
			why = partial.Failed[i]
		}
		switch {
		case why == nil && held[i]:
			h.lastOK = now
		case why == nil:
			r.give(h, errors.New("lease lost"))
		case now.Sub(h.lastOK) > r.TTL*2/3:
			// Stop before the lease can expire under us (monotonic clock).
			overdue++
			r.give(h, fmt.Errorf("lease not renewed in time: %w", why))
		}
	}
	if err != nil {
		r.Log.Warn("lease renewal failed", "leases", len(leases), "given_up", overdue, "err", err)
	}
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
