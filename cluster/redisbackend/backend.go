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
)

// Defaults of the tunables set by the options.
const (
	// DefaultQueueSize bounds each subscriber's queue of undelivered events.
	DefaultQueueSize = 4096
	// DefaultPubSubBuffer is the go-redis pub/sub channel size (the reader
	// drains it without blocking, so it only absorbs bursts).
	DefaultPubSubBuffer = 10000
	// DefaultSubscribeTimeout bounds Subscribe's wait for Redis.
	DefaultSubscribeTimeout = 5 * time.Second
	// DefaultProbeIdle is the pub/sub silence after which a probe is sent.
	DefaultProbeIdle = 5 * time.Second
	// DefaultProbeTimeout is how long the probe may take to come back.
	DefaultProbeTimeout = 5 * time.Second
	// DefaultClaimIdle is how long a pending command waits before another
	// consumer may claim it.
	DefaultClaimIdle = 5 * time.Second
	// DefaultBlock is the XREADGROUP BLOCK time.
	DefaultBlock = 1 * time.Second
	// DefaultRedeliveryDelay is the pause before a failed command is retried.
	DefaultRedeliveryDelay = 200 * time.Millisecond
	// DefaultMaxAttempts is how many deliveries a command gets.
	DefaultMaxAttempts = 10
	// DefaultStreamMaxLen caps (approximately) a tenant's command stream.
	DefaultStreamMaxLen = 10000
	// blockingPoolSize bounds the connections used by blocking XREADGROUP
	// calls, one per consumed tenant; the pool grows lazily.
	blockingPoolSize = 1024
	// leasePoolSize is the size of the pool New opens for lease traffic:
	// one pipelined renewal and a few acquisitions at a time.
	leasePoolSize = 4
)

// Option tunes a Backend.
type Option func(*config)

type config struct {
	log              *slog.Logger
	queueSize        int
	pubsubBuffer     int
	subscribeTimeout time.Duration
	probeIdle        time.Duration
	probeTimeout     time.Duration
	claimIdle        time.Duration
	block            time.Duration
	redeliveryDelay  time.Duration
	maxAttempts      int
	streamMaxLen     int64
	leaseClient      redis.UniversalClient
	blockingClient   redis.UniversalClient
}

// WithLogger sets the backend's logger (default slog.Default()). go-redis's
// own messages always go to slog.Default().
func WithLogger(l *slog.Logger) Option { return func(c *config) { c.log = l } }

// WithQueueSize sets the per-subscriber queue bound: when a subscriber falls
// that far behind, events are dropped and it gets a resync.
func WithQueueSize(n int) Option { return func(c *config) { c.queueSize = n } }

// WithSubscribeTimeout bounds how long Subscribe waits for Redis to confirm.
func WithSubscribeTimeout(d time.Duration) Option { return func(c *config) { c.subscribeTimeout = d } }

// WithProbe sets the deafness probe: after idle without any pub/sub message
// the node publishes a probe to itself; if nothing arrives within timeout the
// pub/sub connection is recreated and every tenant resynced.
func WithProbe(idle, timeout time.Duration) Option {
	return func(c *config) { c.probeIdle, c.probeTimeout = idle, timeout }
}

// WithClaimIdle sets how long a command stays unacknowledged with a consumer
// before another consumer claims it.
func WithClaimIdle(d time.Duration) Option { return func(c *config) { c.claimIdle = d } }

// WithBlock sets how long one XREADGROUP waits for new commands.
func WithBlock(d time.Duration) Option { return func(c *config) { c.block = d } }

// WithRedeliveryDelay sets the delay before a failed command is retried.
func WithRedeliveryDelay(d time.Duration) Option { return func(c *config) { c.redeliveryDelay = d } }

// WithMaxAttempts sets how many deliveries a command gets before it is
// dropped with a log line (0 or less: unlimited).
func WithMaxAttempts(n int) Option { return func(c *config) { c.maxAttempts = n } }

// WithLeaseClient sets the client for the lease and node-liveness traffic
// (Ownership, Heartbeat, Nodes), so that it does not queue behind other work
// on the main pool. Close does not close it. Default: New opens a small
// pool of its own; NewFromClient uses the main client.
func WithLeaseClient(c redis.UniversalClient) Option { return func(cf *config) { cf.leaseClient = c } }

// WithBlockingClient sets the client for the blocking command reads (one
// XREADGROUP BLOCK per consumed tenant), so that they never hold the
// connections of the main pool. Close does not close it. Default: New
// opens one of its own (up to 1024 connections, opened lazily);
// NewFromClient uses the main client.
func WithBlockingClient(c redis.UniversalClient) Option {
	return func(cf *config) { cf.blockingClient = c }
}

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
	closeOne     sync.Once
	closeErr     error
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
	lo.MinIdleConns = 1
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
	cfg := config{
		log:              slog.Default(),
		queueSize:        DefaultQueueSize,
		pubsubBuffer:     DefaultPubSubBuffer,
		subscribeTimeout: DefaultSubscribeTimeout,
		probeIdle:        DefaultProbeIdle,
		probeTimeout:     DefaultProbeTimeout,
		claimIdle:        DefaultClaimIdle,
		block:            DefaultBlock,
		redeliveryDelay:  DefaultRedeliveryDelay,
		maxAttempts:      DefaultMaxAttempts,
		streamMaxLen:     DefaultStreamMaxLen,
	}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.queueSize <= 0 {
		cfg.queueSize = DefaultQueueSize
	}
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
