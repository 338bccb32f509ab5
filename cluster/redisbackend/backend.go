package redisbackend

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ctiws/ctiws/cluster"
	"github.com/ctiws/ctiws/cluster/internal/mailbox"
	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"
)

// Stats are counters a node exports as metrics.
type Stats struct {
	Dropped         uint64 // events not queued: a subscriber's queue was full
	Resyncs         uint64 // resync signals queued for subscribers
	Gaps            uint64 // sequence gaps or regressions seen on a tenant channel
	Reconnects      uint64 // pub/sub resubscriptions seen (per tenant)
	Deaf            uint64 // pub/sub connections recreated by the deafness probe
	StaleEpoch      uint64 // events dropped for carrying an older epoch
	Redelivered     uint64 // commands retried after a failure
	Claimed         uint64 // commands claimed from another consumer
	DroppedCommands uint64 // commands given up after too many attempts
}

type counters struct {
	mailbox.Counters
	gaps, reconnects, deaf, staleEpoch    atomic.Uint64
	redelivered, claimed, droppedCommands atomic.Uint64
}

// Backend is the Redis implementation of the cluster interfaces.
type Backend struct {
	cfg      config
	rdb      redis.UniversalClient
	blocking redis.UniversalClient // for XREADGROUP BLOCK; may be rdb
	// lease carries the lease and node-liveness traffic, on connections
	// that other work (subscriptions, sweeps, commands) cannot starve; may
	// be rdb.
	lease        redis.UniversalClient
	ownsLease    bool
	ownsBlocking bool
	ownsRdb      bool
	instance     string
	ctx          context.Context
	cancel       context.CancelFunc
	stats        counters
	hub          *hub
	// readers are the shared command readers, by node (cmdReader).
	readersMu sync.Mutex
	readers   map[string]*cmdReader
	// sweep skips the session sweep while no node has died (sweepGate).
	sweep    sweepGate
	closeOne sync.Once
	closeErr error
}

// New connects to the Redis at url (redis:// or rediss://, see
// redis.ParseURL). It fails only for a malformed URL: an unreachable Redis is
// reported by Ready and by every operation.
func New(url string, opts ...Option) (*Backend, error) {
	o, err := redis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("redis backend: parse url: %w", err)
	}
	if o.DialTimeout == 0 || o.DialTimeout > 2*time.Second {
		o.DialTimeout = 2 * time.Second
	}
	bo := *o
	bo.PoolSize = blockingPoolSize
	bo.MinIdleConns = 0
	lo := *o
	lo.PoolSize = leasePoolSize
	// A lease call ends at its context's deadline, not after go-redis'
	// read timeout: a renewal on a dead link must not outlast the step-down
	// deadline it is for; and every lease connection is kept open and
	// ready (dialled ahead, used in turn, pipelines on them too, a one
	// round trip handshake), so a renewal on a slow link does not pay for
	// a handshake (docs/cluster.md, "One owner at a time").
	lo.MinIdleConns = leasePoolSize
	lo.PipelinePoolSize = -1
	lo.PoolFIFO = true
	lo.DisableIdentity = true
	lo.MaintNotificationsConfig = &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}
	lo.ContextTimeoutEnabled = true
	b := newBackend(redis.NewClient(o), opts)
	b.ownsRdb = true
	if b.blocking == nil {
		b.blocking = redis.NewClient(&bo)
		b.ownsBlocking = true
	}
	if b.lease == nil {
		b.lease = redis.NewClient(&lo)
		b.ownsLease = true
	}
	return b, nil
}

// NewFromClient uses an existing client (e.g. a ClusterClient or a Sentinel
// failover client). Close does not close rdb. A Redis Cluster client (rdb
// or one given WithLeaseClient/WithBlockingClient) gets a hook that
// reloads its slot map when a command finds no connection (a master died:
// see watchSlotMap).
func NewFromClient(rdb redis.UniversalClient, opts ...Option) *Backend {
	b := newBackend(rdb, opts)
	watchSlotMap(rdb)
	if b.blocking == nil {
		b.blocking = rdb
	} else if b.blocking != rdb {
		watchSlotMap(b.blocking)
	}
	if b.lease == nil {
		b.lease = rdb
	} else if b.lease != rdb && b.lease != b.blocking {
		watchSlotMap(b.lease)
	}
	return b
}

func newBackend(rdb redis.UniversalClient, opts []Option) *Backend {
	cfg := newConfig(opts)
	routeGoRedisLogs.Do(func() { redis.SetLogger(slogAdapter{}) })
	var id [8]byte
	_, _ = rand.Read(id[:])
	ctx, cancel := context.WithCancel(context.Background())
	b := &Backend{cfg: cfg, rdb: rdb, lease: cfg.leaseClient, blocking: cfg.blockingClient, instance: hex.EncodeToString(id[:]), ctx: ctx, cancel: cancel}
	b.hub = newHub(b)
	return b
}

// Cluster returns the backend as the bundle of interfaces a node runs with.
func (b *Backend) Cluster() cluster.Backend {
	return cluster.Backend{
		Tokens:    tokens{b},
		Sessions:  sessions{b},
		Ownership: ownership{b},
		Bus:       bus{b},
		Commands:  commands{b},
		Console:   console{b},
		Ready:     b.Ready,
		Close:     b.Close,
	}
}

// Ready pings Redis.
func (b *Backend) Ready(ctx context.Context) error {
	if err := b.rdb.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("redis backend: ping: %w", err)
	}
	return nil
}

// Close stops subscriptions and consumers and closes the connections.
func (b *Backend) Close() error {
	b.closeOne.Do(func() {
		b.cancel()
		b.hub.wait()
		if b.ownsRdb {
			b.closeErr = b.rdb.Close()
		}
		if b.ownsBlocking {
			if err := b.blocking.Close(); b.closeErr == nil {
				b.closeErr = err
			}
		}
		if b.ownsLease {
			if err := b.lease.Close(); b.closeErr == nil {
				b.closeErr = err
			}
		}
	})
	return b.closeErr
}

// Stats returns the backend's counters.
func (b *Backend) Stats() Stats {
	s := &b.stats
	return Stats{
		Dropped: s.Dropped.Load(), Resyncs: s.Resyncs.Load(), Gaps: s.gaps.Load(),
		Reconnects: s.reconnects.Load(), Deaf: s.deaf.Load(), StaleEpoch: s.staleEpoch.Load(),
		Redelivered: s.redelivered.Load(), Claimed: s.claimed.Load(), DroppedCommands: s.droppedCommands.Load(),
	}
}

// routeGoRedisLogs makes the first New replace go-redis's process-wide
// logger (which writes to stderr) exactly once: redis.SetLogger writes an
// unsynchronised global, so calling it per backend would race with the
// go-redis goroutines of other backends.
var routeGoRedisLogs sync.Once

// slogAdapter routes go-redis's internal log lines to slog.Default() (looked
// up per line, so it follows the process's configured logger).
type slogAdapter struct{}

// Printf logs one go-redis message at warn level.
func (slogAdapter) Printf(ctx context.Context, format string, v ...any) {
	slog.Default().WarnContext(ctx, "go-redis: "+fmt.Sprintf(format, v...))
}

// ms converts a duration to whole milliseconds, at least 1.
func ms(d time.Duration) int64 {
	if m := d.Milliseconds(); m > 0 {
		return m
	}
	return 1
}
