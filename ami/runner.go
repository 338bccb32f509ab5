package ami

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/ctiws/ctiws/cluster"
	"github.com/ctiws/ctiws/directory"
	"github.com/ctiws/ctiws/internal/clip"
	"github.com/staskobzar/goami2"
)

// Runner owns the AMI connection and the model of one tenant's PBX.
type Runner struct {
	cfg   Config
	log   *slog.Logger
	hooks *Hooks
	model *Model

	backoffMin, backoffMax time.Duration

	mu   sync.Mutex
	conn *Conn
	// ready is closed while conn is set; setConn replaces it when the
	// connection goes.
	ready chan struct{}
	// readySessions counts the sessions that got as far as a published
	// snapshot; Run resets its backoff after one.
	readySessions int
	// lastErr is why the last session ended, and lastErrAt when.
	lastErr   string
	lastErrAt time.Time
	tasks     chan task
}

// task is work for the session loop: a model change that must be emitted
// in order with the AMI events.
type task struct {
	fn   func() []cluster.Event
	done chan error
}

// NewRunner returns a runner; objs may be nil (no trunks, every queue).
// The runner adds "component":"ami" and "tenant" to log's lines itself:
// pass a logger without them (JSON logs must not repeat a key).
func NewRunner(cfg Config, dir *directory.Directory, objs *Objects, log *slog.Logger, hooks Hooks) *Runner {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("component", "ami", "tenant", cfg.Tenant)
	cfg.init()
	h := &hooks
	return &Runner{
		cfg: cfg, log: log, hooks: h,
		model:      NewModel(cfg.Tenant, dir, objs, log, h, nil),
		backoffMin: time.Second, backoffMax: 30 * time.Second,
		ready: make(chan struct{}),
		tasks: make(chan task),
	}
}

// Run connects (and reconnects) until ctx ends, and hands every batch of
// change events to emit in order. If emit returns an error wrapping
// cluster.ErrNotOwner, Run returns that error at once. Otherwise Run returns
// ctx's error.
func (r *Runner) Run(ctx context.Context, emit func(context.Context, []cluster.Event) error) error {
	delay := r.backoffMin
	for {
		start := time.Now()
		readyBefore := r.sessionsReady()
		err := r.session(ctx, emit)
		if errors.Is(err, cluster.ErrNotOwner) {
			return err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		r.setLastError(err)
		delay = r.restartBackoff(delay, r.sessionsReady() > readyBefore, time.Since(start))
		wait := jitter(delay)
		r.log.Warn("ami: connection lost, reconnecting", "err", err, "in", wait.Round(time.Millisecond))
		r.hooks.reconnect()
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		delay = min(delay*2, r.backoffMax)
	}
}

// maxLastError bounds LastError's text (a PBX's refusal is untrusted input).
const maxLastError = 300

// setLastError records why a session ended.
func (r *Runner) setLastError(err error) {
	if err == nil {
		err = errors.New("ami: connection ended")
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lastErr, r.lastErrAt = clip.String(err.Error(), maxLastError), time.Now()
}

// LastError returns why the runner's last AMI session ended (login
// refused, connection refused, a failed snapshot, the link lost…) and
// when; "" while none has. The operator console shows it per tenant.
func (r *Runner) LastError() (string, time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.lastErr, r.lastErrAt
}

// jitter spreads d over [d/2, d].
func jitter(d time.Duration) time.Duration {
	if d <= 1 {
		return d
	}
	return d/2 + rand.N(d/2+1)
}

// setConn publishes the session's connection once its snapshot is applied
// (c != nil), or its end (nil), and moves Ready accordingly.
func (r *Runner) setConn(c *Conn) {
	r.mu.Lock()
	defer r.mu.Unlock()
	was := r.conn != nil
	r.conn = c
	switch {
	case c != nil && !was:
		close(r.ready)
		r.readySessions++
	case c == nil && was:
		r.ready = make(chan struct{})
	}
}

// restartBackoff returns the delay before the next attempt after a session
// that ran for ran: back to the minimum when the link worked (logged in,
// snapshot published) or ran for a while — that loss is news, not a PBX
// that keeps refusing — else delay unchanged.
func (r *Runner) restartBackoff(delay time.Duration, worked bool, ran time.Duration) time.Duration {
	if worked || ran > 2*r.backoffMax {
		return r.backoffMin
	}
	return delay
}

// sessionsReady is the number of sessions that became ready.
func (r *Runner) sessionsReady() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.readySessions
}

// Ready returns a channel that is closed while the runner can carry out
// commands: it is logged in and its start-up snapshot is applied and
// published. While it is not, the channel returned is the one that closes
// when it next is; call Ready again after a close to follow later changes.
func (r *Runner) Ready() <-chan struct{} {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.ready
}

func (r *Runner) getConn() *Conn {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.conn
}

// session runs one connection: login, snapshot, then events until the
// connection or ctx ends.
func (r *Runner) session(ctx context.Context, emit func(context.Context, []cluster.Event) error) error {
	conn, err := Dial(ctx, DialConfig{
		Address: r.cfg.Address, Username: r.cfg.Username, Secret: r.cfg.Secret,
		DialTimeout: r.cfg.DialTimeout, PingInterval: r.cfg.PingInterval,
	}, r.log, r.hooks)
	if err != nil {
		return err
	}
	defer conn.Close()
	r.hooks.connState(true)
	defer r.hooks.connState(false)
	r.log.Info("ami: connected", "address", r.cfg.Address)

	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if err := r.resync(sctx, conn, emit); err != nil {
		return err
	}
	r.setConn(conn)
	defer r.setConn(nil)

	var tick <-chan time.Time
	if r.cfg.ReconcileInterval > 0 {
		t := time.NewTicker(r.cfg.ReconcileInterval)
		defer t.Stop()
		tick = t.C
	}
	reconciling := false
	reconciled := make(chan task, 1)
	contacts := make(chan task)
	var batch []*goami2.Message
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-conn.Done():
			// Apply what arrived before the link went down.
			batch = conn.Drain(batch[:0])
			if err := r.emit(ctx, emit, r.model.Apply(nil, batch...)); err != nil {
				return err
			}
			return conn.Err()
		case <-conn.Ready():
			batch = conn.Drain(batch[:0])
			out := r.model.Apply(nil, batch...) // emit may keep the slice
			clear(batch)
			if err := r.emit(ctx, emit, out); err != nil {
				return err
			}
			for id, seq := range r.model.takeContactQueries() {
				go r.queryContact(sctx, conn, id, seq, contacts)
			}
		case t := <-contacts:
			if err := r.emit(ctx, emit, t.fn()); err != nil {
				return err
			}
		case t := <-r.tasks:
			err := r.emit(ctx, emit, t.fn())
			t.done <- err
			if err != nil {
				return err
			}
		case t := <-reconciled:
			reconciling = false
			if err := r.emit(ctx, emit, t.fn()); err != nil {
				return err
			}
		case <-tick:
			if reconciling {
				continue
			}
			reconciling = true
			go func() {
				sent := r.model.currentSeq()
				chans, queues, err := fetchReconcile(sctx, conn)
				fn := func() []cluster.Event { return nil }
				if err != nil {
					r.log.Warn("ami: reconcile failed", "err", err)
				} else {
					fn = func() []cluster.Event { return r.model.reconcile(chans, queues, sent) }
				}
				reconciled <- task{fn: fn}
			}()
		}
	}
}

// queryContact reads the contact details of endpoint id, which a
// ContactStatus without a user agent announced (Asterisk 22's NonQualified
// carries only the URI), and hands their application to the session loop.
func (r *Runner) queryContact(ctx context.Context, conn *Conn, id string, seq uint64, out chan<- task) {
	items, ok, err := list(ctx, conn, "PJSIPShowEndpoint", "Endpoint", id)
	if err != nil || !ok {
		if err != nil && ctx.Err() == nil {
			r.log.Warn("ami: contact details not read", "endpoint", id, "err", err)
		}
		return
	}
	select {
	case out <- task{fn: func() []cluster.Event { return r.model.applyContactDetails(id, seq, items) }}:
	case <-ctx.Done():
	}
}

// resync takes a full snapshot and emits the differences.
func (r *Runner) resync(ctx context.Context, conn *Conn, emit func(context.Context, []cluster.Event) error) error {
	start := time.Now()
	d, err := r.model.fetchSnapshot(ctx, conn)
	if err != nil {
		return fmt.Errorf("ami: snapshot: %w", err)
	}
	evs := r.model.applySnapshot(d)
	r.hooks.snapshot(time.Since(start))
	r.log.Info("ami: snapshot applied", "changes", len(evs)-1, "took", time.Since(start).Round(time.Millisecond))
	return r.emit(ctx, emit, evs)
}

// emit hands events to the publisher, retrying transient failures a few
// times. When it gives up, the model forgets what was published so that
// the next snapshot republishes everything.
func (r *Runner) emit(ctx context.Context, emit func(context.Context, []cluster.Event) error, evs []cluster.Event) error {
	if len(evs) == 0 {
		return nil
	}
	var err error
	for attempt := 0; attempt < 3; attempt++ {
		if err = emit(ctx, evs); err == nil {
			return nil
		}
		if errors.Is(err, cluster.ErrNotOwner) || ctx.Err() != nil {
			return err
		}
		r.log.Warn("ami: publish failed, retrying", "err", err, "events", len(evs))
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Duration(attempt+1) * 200 * time.Millisecond):
		}
	}
	r.model.Forget()
	return fmt.Errorf("ami: publish: %w", err)
}

// apply runs fn in the session loop of conn (so its events are emitted in
// order with the AMI events) and waits for the emit. When that session ends
// first, fn is not run: the PBX already has the change and the next
// snapshot reads it back.
func (r *Runner) apply(ctx context.Context, conn *Conn, fn func() []cluster.Event) error {
	t := task{fn: fn, done: make(chan error, 1)}
	select {
	case r.tasks <- t:
	case <-conn.Done():
		r.log.Debug("ami: session ended before the model update; the next snapshot has it")
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-t.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// SetDirectory replaces the tenant's directory (config reload). It takes
// effect at once for new events and snapshots; names and usernames of the
// current extensions are republished through the running session.
// Extensions added to the directory appear with the next snapshot.
func (r *Runner) SetDirectory(d *directory.Directory) {
	if d == nil {
		return
	}
	r.model.mu.Lock()
	r.model.dir = d
	r.model.mu.Unlock()
	conn := r.getConn()
	if conn == nil {
		return // the next snapshot rebuilds everything from d
	}
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := r.apply(ctx, conn, r.model.refreshIdentities); err != nil {
			r.log.Warn("ami: directory update not republished", "err", err)
		}
	}()
}
