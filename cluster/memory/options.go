package memory

import (
	"log/slog"
	"time"
)

// The backend's options, one functional option per tunable, as in
// cluster/redisbackend. Every default is a named constant below; newConfig
// fills them, then applies the options.

// Defaults of the tunables set by the options.
const (
	// DefaultQueueSize is the number of events a subscriber may have queued
	// before further events are dropped and a resync is signalled.
	DefaultQueueSize = 4096
	// DefaultRedeliveryDelay is how long a failed command waits before it is
	// handed out again.
	DefaultRedeliveryDelay = 100 * time.Millisecond
	// DefaultMaxAttempts is how many times a command is handed out before it
	// is dropped with a log line.
	DefaultMaxAttempts = 10
)

// Option tunes a Backend.
type Option func(*config)

type config struct {
	now             func() time.Time
	queueSize       int
	redeliveryDelay time.Duration
	maxAttempts     int
	log             *slog.Logger
}

// WithClock replaces time.Now. The returned times must carry a monotonic
// reading or be produced by a fake clock that only moves forward.
func WithClock(now func() time.Time) Option { return func(c *config) { c.now = now } }

// WithQueueSize sets the per-subscriber queue bound (default DefaultQueueSize).
func WithQueueSize(n int) Option { return func(c *config) { c.queueSize = n } }

// WithRedeliveryDelay sets the delay before a failed command is redelivered.
func WithRedeliveryDelay(d time.Duration) Option { return func(c *config) { c.redeliveryDelay = d } }

// WithMaxAttempts sets how many deliveries a command gets before it is
// dropped (0 or less means unlimited).
func WithMaxAttempts(n int) Option { return func(c *config) { c.maxAttempts = n } }

// WithLogger sets the logger (default slog.Default()).
func WithLogger(l *slog.Logger) Option { return func(c *config) { c.log = l } }

// newConfig returns the defaults with opts applied.
func newConfig(opts []Option) config {
	cfg := config{
		now:             time.Now,
		queueSize:       DefaultQueueSize,
		redeliveryDelay: DefaultRedeliveryDelay,
		maxAttempts:     DefaultMaxAttempts,
		log:             slog.Default(),
	}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.queueSize <= 0 {
		cfg.queueSize = DefaultQueueSize
	}
	return cfg
}
