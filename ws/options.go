package ws

import (
	"log/slog"
	"net/netip"
	"time"

	"github.com/ctiws/ctiws/cluster"
	"github.com/ctiws/ctiws/internal/guard"
	"github.com/ctiws/ctiws/ws/auth"
	"github.com/prometheus/client_golang/prometheus"
)

// The options of a Server, in one style (as go-redis's options.go): an
// Options struct documented field by field, whose zero fields take the
// Default constant named after them, filled in by one init.

// Options configure a Server. A zero duration or count takes the Default
// constant named after it (config.Defaults uses the same constants).
type Options struct {
	// NodeID names this node in sessions and node events (unique in the
	// cluster).
	NodeID string
	// Backend is the shared state: tokens, sessions, bus, commands.
	Backend cluster.Backend
	// Tenants are the tenants served from the start (AddTenant adds more).
	Tenants []*Tenant
	// TokenTTL is how long a login token lives without use (default
	// DefaultTokenTTL).
	TokenTTL time.Duration
	// LoginTimeout closes a socket that did not log in within it (default
	// DefaultLoginTimeout).
	LoginTimeout time.Duration
	// PingInterval and PingTimeout are Engine.IO's heartbeat (defaults
	// DefaultPingInterval, DefaultPingTimeout).
	PingInterval time.Duration
	PingTimeout  time.Duration
	// MaxMessageBytes caps a client frame (default DefaultMaxMessageBytes).
	MaxMessageBytes int64
	// MaxConnLifetime closes sockets after this long (with up to 20%
	// jitter) so they spread over nodes after a scale-out; 0 = never.
	MaxConnLifetime time.Duration
	// AllowedOrigins limits websocket Origins; empty allows any (like the
	// original).
	AllowedOrigins []string
	// SendBuffer is the number of frames queued per socket before it is
	// disconnected as a slow consumer (default DefaultSendBuffer).
	SendBuffer int
	// JWTMaxLifetime is the longest exp - iat a JWT may have
	// (default DefaultJWTMaxLifetime).
	JWTMaxLifetime time.Duration
	// JWTClockSkew is how far in the future a JWT's iat and nbf may lie
	// (default DefaultJWTClockSkew).
	JWTClockSkew time.Duration
	// MaxPersistentTokens caps the persistent (auth-exp: no-exp) tokens of
	// a user; the oldest is evicted (default DefaultMaxPersistentTokens).
	MaxPersistentTokens int
	// PasswordStale, when set, is called (it must not block) when a
	// password login is refused because the node's htpasswd hash of the
	// user is not the cluster's current one: the caller re-reads the file
	// (docs/security.md, section 4).
	PasswordStale func(tenant string)
	// LoginLimits configure the back-off of password logins.
	LoginLimits LoginLimits
	// TrustedProxies are the peers whose X-Forwarded-For is believed for
	// the client address of login rate limits; empty: none.
	TrustedProxies []netip.Prefix
	// BcryptConcurrency bounds the password checks running at once
	// (default DefaultBcryptConcurrency); BcryptQueue bounds each tenant's
	// waiting checks (default DefaultBcryptQueue).
	BcryptConcurrency int
	BcryptQueue       int
	// BcryptPerAddress and BcryptPerUser bound the password checks one
	// client address, and one user, may have running or waiting at once in
	// a tenant (defaults DefaultBcryptPerAddress, DefaultBcryptPerUser):
	// a flood of logins, right or wrong, from one address cannot fill the
	// tenant's queue.
	BcryptPerAddress int
	BcryptPerUser    int
	// ReadMode is how sockets are read: ReadModeEpoll (the default on
	// Linux: an idle socket has no goroutine) or ReadModeGoroutine (one
	// reading goroutine per socket). TLS connections, and every socket off
	// Linux, use the goroutine mode.
	ReadMode string
	// DeliverEveryState turns state conflation off (see socket).
	DeliverEveryState bool
	// Limits bound user-to-user payloads (avatars, post-its, the message
	// relay); zero fields take their defaults.
	Limits Limits
	// Panics counts recovered panics; nil: the server registers its own
	// ctiws_panics_total on Registry. Share one with the PBX owners.
	Panics *guard.Panics
	// CommandWait, when set, bounds how long a call control request waits
	// for the PBX owner (half to be picked up, half to be carried out);
	// 0 uses the defaults of rest_astproxy.go.
	CommandWait time.Duration
	// Logger receives the server's logs (default slog.Default()).
	Logger *slog.Logger
	// Registry receives the server's metrics (default a registry of its
	// own).
	Registry prometheus.Registerer

	// hooks are test hooks, set by in-package tests only.
	hooks *hooks
}

// Defaults of Options' zero fields.
const (
	DefaultTokenTTL            = time.Hour
	DefaultLoginTimeout        = 10 * time.Second
	DefaultPingInterval        = 25 * time.Second
	DefaultPingTimeout         = 20 * time.Second
	DefaultMaxMessageBytes     = 65536
	DefaultSendBuffer          = 64
	DefaultMaxPersistentTokens = 10
	DefaultBcryptConcurrency   = 2
	DefaultBcryptQueue         = 16
	DefaultBcryptPerAddress    = 4
	DefaultBcryptPerUser       = 4
	// DefaultJWTClockSkew is how far in the future iat and nbf may be.
	DefaultJWTClockSkew = auth.DefaultJWTClockSkew
	// DefaultJWTMaxLifetime is the longest exp - iat accepted by default.
	DefaultJWTMaxLifetime = 24 * time.Hour
)

// hooks let in-package tests inject faults (e.g. panics) without
// package-level state.
type hooks struct {
	// route runs in the router before each bus event of a tenant.
	route func(tenant string, ev cluster.Event)
	// clientEvent runs in a socket's reader before each client event.
	clientEvent func(tenant, name string)
	// rest runs before each REST handler.
	rest func(tenant, route string)
}

// init fills the zero fields with their defaults.
func (o *Options) init() {
	setDefault(&o.PingInterval, DefaultPingInterval)
	setDefault(&o.PingTimeout, DefaultPingTimeout)
	setDefault(&o.LoginTimeout, DefaultLoginTimeout)
	setDefault(&o.TokenTTL, DefaultTokenTTL)
	setDefault(&o.JWTMaxLifetime, DefaultJWTMaxLifetime)
	setDefault(&o.MaxMessageBytes, DefaultMaxMessageBytes)
	setDefault(&o.SendBuffer, DefaultSendBuffer)
	setDefault(&o.MaxPersistentTokens, DefaultMaxPersistentTokens)
	setDefault(&o.BcryptConcurrency, DefaultBcryptConcurrency)
	setDefault(&o.BcryptQueue, DefaultBcryptQueue)
	setDefault(&o.BcryptPerAddress, DefaultBcryptPerAddress)
	setDefault(&o.BcryptPerUser, DefaultBcryptPerUser)
	setDefault(&o.JWTClockSkew, DefaultJWTClockSkew)
	if o.ReadMode == "" {
		o.ReadMode = ReadModeEpoll
	}
	o.LoginLimits.init()
	o.Limits.init()
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Registry == nil {
		o.Registry = prometheus.NewRegistry()
	}
	if o.Panics == nil {
		o.Panics = guard.New(o.Registry, o.Logger)
	}
	if o.hooks == nil {
		o.hooks = &hooks{}
	}
}

// LoginLimits configure the back-off of password logins. Failures are
// counted per user and per client address (each per tenant, on this node):
// after Free failures each further failure locks the key for
// Base·2^(n-Free-1), at most Max; a key forgets its failures after Max
// without one. A successful login clears the user's count (not the
// address's, so a valid account does not reset an address that guesses
// other users' passwords).
type LoginLimits struct {
	FreeUser    int           // failures per user before back-off (default DefaultLoginFreeUser)
	FreeAddress int           // failures per client address before back-off (default DefaultLoginFreeAddress)
	Base        time.Duration // first lock (default DefaultLoginBackoffBase)
	Max         time.Duration // longest lock and forget time (default DefaultLoginBackoffMax)
}

// Defaults of LoginLimits' zero fields.
const (
	DefaultLoginFreeUser    = 5
	DefaultLoginFreeAddress = 20
	DefaultLoginBackoffBase = time.Second
	DefaultLoginBackoffMax  = 15 * time.Minute
)

// init fills the zero fields with their defaults.
func (l *LoginLimits) init() {
	setDefault(&l.FreeUser, DefaultLoginFreeUser)
	setDefault(&l.FreeAddress, DefaultLoginFreeAddress)
	setDefault(&l.Base, DefaultLoginBackoffBase)
	setDefault(&l.Max, DefaultLoginBackoffMax)
	if l.Max < l.Base {
		l.Max = l.Base
	}
}

// Limits bound what one user can make the server send to others: avatars
// (broadcast to every logged-in socket), post-its and the `message` relay.
// Zero fields take the defaults below (see README, configuration).
type Limits struct {
	// AvatarBytes caps the decoded image of an avatar (default 256 KiB).
	AvatarBytes int
	// AvatarDimension caps an avatar's width and height in pixels
	// (default 1024).
	AvatarDimension int
	// PostitBytes caps the text of a post-it (default 4 KiB).
	PostitBytes int
	// RelayBytes caps one `message` relay payload (default 4 KiB).
	RelayBytes int
	// RelayRate is the sustained number of `message` relays a socket may
	// send per second (default 5); RelayBurst how many it may send at once
	// (default 20).
	RelayRate  float64
	RelayBurst int
	// RelayDisconnectAfter disconnects a socket once this many of its
	// relays were refused within relayAbuseWindow (default 100).
	RelayDisconnectAfter int
	// UserRelay, UserPostit, UserAvatar and UserPresence bound, per user
	// and node, what a user sends to others across all of their sockets
	// and requests (userLimiter): `message` relays (default 10/s, burst
	// 40), post-its (1/s, burst 10), avatars (one per 10 s, burst 3) and
	// presence changes (1/s, burst 10). A zero field takes its default.
	UserRelay    Rate
	UserPostit   Rate
	UserAvatar   Rate
	UserPresence Rate
	// MaxSocketsPerUser caps a user's logged-in sockets in the cluster;
	// a login past it closes the user's oldest sockets (default 16).
	MaxSocketsPerUser int
}

// Default limits.
const (
	DefaultAvatarBytes          = 256 << 10
	DefaultAvatarDimension      = 1024
	DefaultPostitBytes          = 4 << 10
	DefaultRelayBytes           = 4 << 10
	DefaultRelayRate            = 5
	DefaultRelayBurst           = 20
	DefaultRelayDisconnectAfter = 100
	DefaultMaxSocketsPerUser    = 16
)

// Default per-user rates (Limits.UserRelay, …): per second, and burst.
const (
	DefaultUserRelayRate     = 10
	DefaultUserRelayBurst    = 40
	DefaultUserPostitRate    = 1
	DefaultUserPostitBurst   = 10
	DefaultUserAvatarRate    = 0.1
	DefaultUserAvatarBurst   = 3
	DefaultUserPresenceRate  = 1
	DefaultUserPresenceBurst = 10
)

// init fills the zero fields with their defaults.
func (l *Limits) init() {
	setDefault(&l.AvatarBytes, DefaultAvatarBytes)
	setDefault(&l.AvatarDimension, DefaultAvatarDimension)
	setDefault(&l.PostitBytes, DefaultPostitBytes)
	setDefault(&l.RelayBytes, DefaultRelayBytes)
	setDefault(&l.RelayBurst, DefaultRelayBurst)
	setDefault(&l.RelayDisconnectAfter, DefaultRelayDisconnectAfter)
	setDefault(&l.RelayRate, DefaultRelayRate)
	setDefault(&l.MaxSocketsPerUser, DefaultMaxSocketsPerUser)
	for _, r := range []struct {
		v   *Rate
		def Rate
	}{
		{&l.UserRelay, Rate{DefaultUserRelayRate, DefaultUserRelayBurst}},
		{&l.UserPostit, Rate{DefaultUserPostitRate, DefaultUserPostitBurst}},
		{&l.UserAvatar, Rate{DefaultUserAvatarRate, DefaultUserAvatarBurst}},
		{&l.UserPresence, Rate{DefaultUserPresenceRate, DefaultUserPresenceBurst}},
	} {
		setDefault(&r.v.PerSecond, r.def.PerSecond)
		setDefault(&r.v.Burst, r.def.Burst)
	}
}

// userRates are the per-user rates by kind (userLimiter).
func (l *Limits) userRates() map[string]Rate {
	return map[string]Rate{userKindRelay: l.UserRelay, userKindPostit: l.UserPostit, userKindAvatar: l.UserAvatar, userKindPresence: l.UserPresence}
}

// setDefault sets a zero or negative *v to def.
func setDefault[T int | int64 | float64 | time.Duration](v *T, def T) {
	if *v <= 0 {
		*v = def
	}
}
