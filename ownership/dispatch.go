package ownership

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/ctiws/ctiws/cluster"
	"github.com/ctiws/ctiws/internal/guard"
	"github.com/ctiws/ctiws/pbx"
)

const (
	// DefaultMaxPendingPerUser is Owner.MaxPendingPerUser's default
	// (max_pending_commands_per_user).
	DefaultMaxPendingPerUser = 4
	// DefaultMaxConcurrentCommands is Owner.MaxConcurrentCommands' default
	// (max_concurrent_commands).
	DefaultMaxConcurrentCommands = 16
	// maxSerialPerUser bounds the in-order commands (presence, queue
	// log-in, hooks) one user may have queued at the owner; past it a new
	// one is refused (logged, counted with result "busy"; a waiting sender
	// gets 429). The per-user presence rate at the REST edge keeps this
	// to floods.
	maxSerialPerUser = 64
)

// dispatcher carries out one ownership term's commands, concurrently
// across users (docs/architecture.md, section 3):
//
//   - an awaited call control command (its sender waits for the result)
//     runs on a goroutine of its own, so one user's slow command (an
//     Originate rings the phone up to 15 s) never delays another user's.
//     A user has at most maxPending awaited commands accepted and not yet
//     answered; the next one is answered cluster.ErrCommandBusy (429) at
//     once. The owner is the one place that sees every command of the
//     tenant, whichever node queued it, so the bound holds cluster-wide.
//   - the other commands of a user (presence, queue log-in and log-out,
//     the login and logout hooks) run one at a time, in the order they
//     were queued, whether their sender waits (a REST presence change) or
//     not: a later presence must not be overtaken by an earlier one. Past
//     maxSerialPerUser queued, a new one is answered busy (429).
//   - at most cap(slots) commands of the tenant run at once (the AMI
//     actions in flight on its one connection); the others wait for a
//     slot, an awaited one never past its deadline.
//
// Commands are acknowledged in the queue when accepted here. Those that
// the end of the term interrupts or leaves unstarted are queued again for
// the next owner (best effort, like the kept hooks).
type dispatcher struct {
	// ctx is the term's: the commands run until it ends.
	ctx context.Context
	// contain ends the term after a panic of a dispatcher goroutine (a
	// panicking command fails alone: Owner.run).
	contain    func(error)
	o          *Owner
	gate       *readyGate
	run        func(context.Context, cluster.Command) (json.RawMessage, error)
	maxPending int
	slots      chan struct{}

	wg    sync.WaitGroup
	mu    sync.Mutex
	users map[string]*userLane
	// requeue collects the commands the term's end left undone.
	requeue []cluster.Command
}

// userLane is one user's commands at the owner.
type userLane struct {
	awaited int               // awaited commands accepted and not answered yet
	serial  []cluster.Command // the other commands, in order, not started
	running bool              // the serial worker runs
}

func newDispatcher(ctx context.Context, o *Owner, gate *readyGate, run func(context.Context, cluster.Command) (json.RawMessage, error), contain func(error)) *dispatcher {
	pending, conc := o.MaxPendingPerUser, o.MaxConcurrentCommands
	if pending <= 0 {
		pending = DefaultMaxPendingPerUser
	}
	if conc <= 0 {
		conc = DefaultMaxConcurrentCommands
	}
	return &dispatcher{ctx: ctx, contain: contain, o: o, gate: gate, run: run, maxPending: pending,
		slots: make(chan struct{}, conc), users: map[string]*userLane{}}
}

// lane returns user's lane, creating it. d.mu held.
func (d *dispatcher) lane(user string) *userLane {
	l := d.users[user]
	if l == nil {
		l = &userLane{}
		d.users[user] = l
	}
	return l
}

// dropLane forgets an idle lane. d.mu held.
func (d *dispatcher) dropLane(user string, l *userLane) {
	if l.awaited == 0 && !l.running && len(l.serial) == 0 {
		delete(d.users, user)
	}
}

// dispatch accepts c: it returns at once (nil: acknowledge it), the
// command runs later, under the term's context. Once ctx (the consumer's)
// or the term has ended it returns an error, leaving c queued for the next
// owner.
func (d *dispatcher) dispatch(ctx context.Context, c cluster.Command) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := d.ctx.Err(); err != nil {
		return err
	}
	d.mu.Lock()
	l := d.lane(c.User)
	if c.Reply && c.ID != "" && !inOrder(c.Name) {
		if l.awaited >= d.maxPending {
			d.dropLane(c.User, l)
			d.mu.Unlock()
			return d.o.answer(d.ctx, c, nil, fmt.Errorf("%s: %w (at most %d)", c.Name, cluster.ErrCommandBusy, d.maxPending))
		}
		l.awaited++
		d.wg.Add(1)
		d.mu.Unlock()
		go d.awaited(d.ctx, c)
		return nil
	}
	if len(l.serial) >= maxSerialPerUser {
		d.dropLane(c.User, l)
		d.mu.Unlock()
		return d.o.answer(d.ctx, c, nil, fmt.Errorf("%s: %w (%d queued)", c.Name, cluster.ErrCommandBusy, maxSerialPerUser))
	}
	l.serial = append(l.serial, c)
	if !l.running {
		l.running = true
		d.wg.Add(1)
		go d.serial(d.ctx, c.User, l)
	}
	d.mu.Unlock()
	return nil
}

// inOrder reports whether commands called name run in their user's
// order (one at a time), awaited or not: a presence change must not
// overtake an earlier one, nor a queue log-in a log-out.
func inOrder(name string) bool {
	switch name {
	case pbx.CmdPresence, pbx.CmdQueueLogin, pbx.CmdQueueLogout, pbx.CmdUserLoggedIn, pbx.CmdUserLoggedOut:
		return true
	}
	return false
}

// awaited runs one awaited command in a slot.
func (d *dispatcher) awaited(ctx context.Context, c cluster.Command) {
	defer d.wg.Done()
	defer func() {
		d.mu.Lock()
		l := d.lane(c.User)
		l.awaited--
		d.dropLane(c.User, l)
		d.mu.Unlock()
	}()
	defer d.o.Panics.Recover(guard.Owner, d.o.Tenant, d.contain)
	var deadline <-chan time.Time
	if c.Expires > 0 {
		// One millisecond past the deadline, when Expired says so.
		t := time.NewTimer(time.Until(time.UnixMilli(c.Expires + 1)))
		defer t.Stop()
		deadline = t.C
	}
	select {
	case d.slots <- struct{}{}:
	case <-ctx.Done():
		d.leftOver(c)
		return
	case <-deadline:
		_ = d.o.answer(ctx, c, nil, fmt.Errorf("%s: %w (waited for a free command slot)", c.Name, cluster.ErrCommandExpired))
		return
	}
	if err := d.inSlot(ctx, c); err != nil {
		d.leftOver(c) // interrupted by the end of the term
	}
}

// serial runs user's other commands one at a time, in order, each in a
// slot, until the lane is empty.
func (d *dispatcher) serial(ctx context.Context, user string, l *userLane) {
	defer d.wg.Done()
	defer d.o.Panics.Recover(guard.Owner, d.o.Tenant, d.contain)
	for {
		d.mu.Lock()
		if len(l.serial) == 0 || ctx.Err() != nil {
			if ctx.Err() != nil {
				d.requeue = append(d.requeue, l.serial...)
				l.serial = nil
			}
			l.running = false
			d.dropLane(user, l)
			d.mu.Unlock()
			return
		}
		c := l.serial[0]
		l.serial = l.serial[1:]
		d.mu.Unlock()
		select {
		case d.slots <- struct{}{}:
		case <-ctx.Done():
			d.leftOver(c)
			continue
		}
		if err := d.inSlot(ctx, c); err != nil {
			d.leftOver(c)
		}
	}
}

// inSlot carries out c in the slot taken for it and frees the slot. An
// error means the term's end interrupted it.
func (d *dispatcher) inSlot(ctx context.Context, c cluster.Command) error {
	running := d.o.Metrics.CommandsRunning.WithLabelValues(d.o.Tenant)
	running.Inc()
	defer func() {
		running.Dec()
		<-d.slots
	}()
	return d.o.command(ctx, d.gate, d.run, c)
}

// leftOver records a command the term's end left undone.
func (d *dispatcher) leftOver(c cluster.Command) {
	d.mu.Lock()
	d.requeue = append(d.requeue, c)
	d.mu.Unlock()
}

// handOver waits for the running commands (ctx has ended, so they stop
// soon) and queues the undone ones again for the next owner.
func (d *dispatcher) handOver() {
	d.wg.Wait()
	d.mu.Lock()
	cmds := d.requeue
	d.requeue = nil
	d.mu.Unlock()
	if len(cmds) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	for _, c := range cmds {
		if err := d.o.Backend.Commands.Send(ctx, c); err != nil {
			d.o.Log.Warn("command not carried out lost at the end of the ownership", "tenant", d.o.Tenant, "command", c.Name, "user", c.User, "err", err)
			continue
		}
	}
	d.o.Log.Info("commands not carried out yet: queued again for the next owner", "tenant", d.o.Tenant, "n", len(cmds))
}
