package memory

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ctiws/ctiws/cluster"
	"github.com/ctiws/ctiws/cluster/internal/mailbox"
)

// Stats are counters a node exports as metrics.
type Stats struct {
	// Dropped counts events not queued because a subscriber's queue was full.
	Dropped uint64
	// Resyncs counts synthetic resync events queued for subscribers.
	Resyncs uint64
	// Redelivered counts commands handed out again after a failure.
	Redelivered uint64
	// DroppedCommands counts commands given up after too many attempts.
	DroppedCommands uint64
}

type counters struct {
	mailbox.Counters
	redelivered, droppedCommands atomic.Uint64
}

// Backend is the in-memory cluster state of a single node.
type Backend struct {
	cfg      config
	ctx      context.Context
	cancel   context.CancelFunc
	stats    counters
	tokens   *tokens
	sessions *sessions
	owners   *ownership
	bus      *bus
	commands *commands
	console  *console
	closeOne sync.Once
}

// New returns an empty in-memory backend.
func New(opts ...Option) *Backend {
	cfg := newConfig(opts)
	ctx, cancel := context.WithCancel(context.Background())
	b := &Backend{cfg: cfg, ctx: ctx, cancel: cancel}
	b.tokens = newTokens(cfg.now)
	b.sessions = newSessions(cfg.now)
	b.owners = newOwnership(cfg.now)
	b.bus = newBus(b)
	b.commands = newCommands(b)
	b.console = newConsole(cfg.now)
	return b
}

// Cluster returns the backend as the bundle of interfaces a node runs with.
func (b *Backend) Cluster() cluster.Backend {
	return cluster.Backend{
		Tokens:    b.tokens,
		Sessions:  b.sessions,
		Ownership: b.owners,
		Bus:       b.bus,
		Commands:  b.commands,
		Console:   b.console,
		Ready:     func(context.Context) error { return nil },
		Close:     b.Close,
	}
}

// Stats returns the backend's counters.
func (b *Backend) Stats() Stats {
	return Stats{
		Dropped:         b.stats.Dropped.Load(),
		Resyncs:         b.stats.Resyncs.Load(),
		Redelivered:     b.stats.redelivered.Load(),
		DroppedCommands: b.stats.droppedCommands.Load(),
	}
}

// Close stops every subscription and consumer. The stored state stays
// readable.
func (b *Backend) Close() error {
	b.closeOne.Do(b.cancel)
	return nil
}

// expired reports whether deadline (zero = never) has passed at now.
func expired(deadline, now time.Time) bool {
	return !deadline.IsZero() && !now.Before(deadline)
}

// deadline returns now+ttl, or the zero time for ttl <= 0.
func deadline(now time.Time, ttl time.Duration) time.Time {
	if ttl <= 0 {
		return time.Time{}
	}
	return now.Add(ttl)
}
