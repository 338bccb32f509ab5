package ws

import (
	"time"
)

// relayAbuseWindow is the window in which refused relays are counted
// towards RelayDisconnectAfter.
const relayAbuseWindow = 10 * time.Second

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
