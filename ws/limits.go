package ws

import (
	"time"
)

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
)

// relayAbuseWindow is the window in which refused relays are counted
// towards RelayDisconnectAfter.
const relayAbuseWindow = 10 * time.Second

// withDefaults fills the zero fields.
func (l Limits) withDefaults() Limits {
	setInt(&l.AvatarBytes, DefaultAvatarBytes)
	setInt(&l.AvatarDimension, DefaultAvatarDimension)
	setInt(&l.PostitBytes, DefaultPostitBytes)
	setInt(&l.RelayBytes, DefaultRelayBytes)
	setInt(&l.RelayBurst, DefaultRelayBurst)
	setInt(&l.RelayDisconnectAfter, DefaultRelayDisconnectAfter)
	if l.RelayRate <= 0 {
		l.RelayRate = DefaultRelayRate
	}
	return l
}

// Limit names (values of the `limit` label of ctiws_limit_rejects_total).
const (
	limitAvatarType       = "avatar_type"
	limitAvatarBytes      = "avatar_bytes"
	limitAvatarDimensions = "avatar_dimensions"
	limitAvatarDecode     = "avatar_decode"
	limitPostitBytes      = "postit_bytes"
	limitRelayBytes       = "relay_bytes"
	limitRelayRate        = "relay_rate"
	limitRelayReceiver    = "relay_receiver_busy"
)

// relayBucket is the per-socket token bucket of the `message` relay, plus
// the count of refused relays in the current abuse window. Only the
// socket's reading goroutine touches it.
type relayBucket struct {
	tokens  float64
	last    time.Time
	refused int
	since   time.Time // start of the abuse window
}

// allow takes a token if there is one.
func (b *relayBucket) allow(now time.Time, rate float64, burst int) bool {
	if b.last.IsZero() {
		b.tokens = float64(burst)
	} else {
		b.tokens = min(float64(burst), b.tokens+now.Sub(b.last).Seconds()*rate)
	}
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// refuse records a refused relay and reports whether the socket has now
// been refused `after` times within relayAbuseWindow.
func (b *relayBucket) refuse(now time.Time, after int) bool {
	if b.since.IsZero() || now.Sub(b.since) > relayAbuseWindow {
		b.since, b.refused = now, 0
	}
	b.refused++
	return b.refused >= after
}
