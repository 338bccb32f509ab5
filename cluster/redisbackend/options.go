package redisbackend

import (
	"log/slog"
	"time"

	"github.com/redis/go-redis/v9"
)

// The backend's options, one functional option per tunable (the style of
// the whole cluster family: cluster/memory has the same). Every default is
// a named constant below; newConfig fills them, then applies the options.

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

// newConfig returns the defaults with opts applied.
func newConfig(opts []Option) config {
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
	return cfg
}
