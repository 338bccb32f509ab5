package ami

import "time"

// The package's options: Config for a Runner, DialConfig for Dial, one
// struct each, documented field by field; a zero field takes the default
// named below, filled by the struct's init.

// Config configures a Runner.
type Config struct {
	// Address is the AMI host:port.
	Address, Username, Secret string
	// Tenant is set on every emitted event.
	Tenant string
	// PingInterval and DialTimeout are passed to Dial (see DialConfig;
	// zero means DefaultPingInterval and DefaultDialTimeout).
	PingInterval time.Duration
	DialTimeout  time.Duration
	// ReconcileInterval is the period of the healing CoreShowChannels and
	// QueueStatus (zero: DefaultReconcileInterval; negative disables).
	ReconcileInterval time.Duration
}

// DefaultReconcileInterval is Config.ReconcileInterval's default: often
// enough to heal a missed event within a minute, rare enough that a large
// PBX's CoreShowChannels costs nothing noticeable.
const DefaultReconcileInterval = 60 * time.Second

// init fills Config's defaults.
func (c *Config) init() {
	if c.ReconcileInterval == 0 {
		c.ReconcileInterval = DefaultReconcileInterval
	}
}

// DialConfig tells Dial where and how to log in.
type DialConfig struct {
	Address, Username, Secret string
	// DialTimeout bounds TCP connect, banner and login (zero or negative:
	// DefaultDialTimeout).
	DialTimeout time.Duration
	// PingInterval is the keepalive period; a Ping unanswered within it
	// closes the connection (zero: DefaultPingInterval; negative disables).
	PingInterval time.Duration
}

// Defaults of DialConfig.
const (
	// DefaultDialTimeout bounds connect, banner and login.
	DefaultDialTimeout = 10 * time.Second
	// DefaultPingInterval is the keepalive period: a dead PBX or a silent
	// network drop is noticed within two of them.
	DefaultPingInterval = 10 * time.Second
)

// init fills DialConfig's defaults.
func (c *DialConfig) init() {
	if c.DialTimeout <= 0 {
		c.DialTimeout = DefaultDialTimeout
	}
	if c.PingInterval == 0 {
		c.PingInterval = DefaultPingInterval
	}
}
