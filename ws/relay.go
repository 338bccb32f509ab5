package ws

import (
	"context"
	"encoding/json"
	"strings"
	"time"

	"github.com/ctiws/ctiws/cluster"
)

// relayMessage is the part of a `message` event the server reads (docs/protocol.md, section 3.2).
type relayMessage struct {
	Message  string `json:"message"`
	DestUser string `json:"destUser"`
}

// handleRelay relays a `message` to the sockets of destUser, cluster-wide.
// Only logged-in sockets may send, callUser is stamped with the sender, and
// screenSharingStart needs the screen-sharing permission (fixes, see
// docs/compatibility.md).
//
// Abuse limits: each socket has a token bucket (Limits.RelayRate per
// second, Limits.RelayBurst at once) and a size cap (Limits.RelayBytes),
// and each user one bucket shared by all of their sockets on the node
// (Limits.UserRelay, userLimiter). A relay over any limit is dropped and
// counted
// (ctiws_limit_rejects_total); a socket with Limits.RelayDisconnectAfter
// refused relays within relayAbuseWindow is disconnected with `41` (reason
// relay_abuse), so it does not reconnect by itself. The receiver is never
// disconnected for it: relays are not queued to a receiver whose send
// queue is half full (router.toUsersDroppable).
func (s *Server) handleRelay(c *conn, raw json.RawMessage) {
	l := c.currentLogin()
	if l == nil {
		s.metrics.BadFrames.WithLabelValues(c.tenant.ID, "relay_not_logged_in").Inc()
		return
	}
	lim := s.opts.Limits
	now := time.Now()
	switch {
	case len(raw) > lim.RelayBytes:
		s.relayRefused(c, l, now, limitRelayBytes)
		return
	case !c.relay.allow(now, lim.RelayRate, lim.RelayBurst):
		s.relayRefused(c, l, now, limitRelayRate)
		return
	}
	if ok, _ := s.users.take(now, c.tenant.ID, l.username, userKindRelay); !ok {
		s.relayRefused(c, l, now, userLimitName(userKindRelay))
		return
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil || obj == nil {
		s.metrics.BadFrames.WithLabelValues(c.tenant.ID, "relay_payload").Inc()
		return
	}
	var m relayMessage
	_ = json.Unmarshal(raw, &m)
	if m.DestUser == "" {
		s.metrics.BadFrames.WithLabelValues(c.tenant.ID, "relay_no_dest").Inc()
		return
	}
	if m.Message == "screenSharingStart" && (l.user == nil || !l.user.Perms.ScreenSharing) {
		s.metrics.BadFrames.WithLabelValues(c.tenant.ID, "relay_forbidden").Inc()
		return
	}
	dest, ok := c.tenant.Config().Directory.User(m.DestUser)
	destName := strings.ToLower(m.DestUser)
	if ok {
		destName = strings.ToLower(dest.Username)
	}
	sender := l.accessKey
	if l.user != nil {
		sender = l.user.Username
	}
	stamped, _ := json.Marshal(sender)
	obj["callUser"] = stamped
	data, err := json.Marshal(obj)
	if err != nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ev := cluster.Event{Tenant: c.tenant.ID, Name: evMessage, Target: destName, Data: data, Origin: s.opts.NodeID, From: strings.ToLower(sender)}
	if err := s.backend.Bus.Publish(ctx, ev); err != nil {
		s.log.Warn("message relay publish failed", "tenant", c.tenant.ID, "err", err)
	}
}

// relayRefused counts a refused relay and disconnects a sender that keeps
// going over the limits.
func (s *Server) relayRefused(c *conn, l *login, now time.Time, limit string) {
	s.metrics.LimitRejects.WithLabelValues(c.tenant.ID, limit).Inc()
	s.badLog.Warn(limit, "message relay refused by a limit", "tenant", c.tenant.ID, "socket", c.socketID, "user", l.username)
	if c.relay.refuse(now, s.opts.Limits.RelayDisconnectAfter) {
		s.log.Warn("socket disconnected: too many message relays over the limits", "tenant", c.tenant.ID, "socket", c.socketID,
			"user", l.username, "refused", s.opts.Limits.RelayDisconnectAfter, "within", relayAbuseWindow)
		// With the Socket.IO disconnect (41): clients do not reconnect
		// by themselves, so a flooding client stays away.
		c.disconnect(reasonRelayAbuse)
	}
}

// relayAbuseWindow is the window in which refused relays are counted
// towards RelayDisconnectAfter.
const relayAbuseWindow = 10 * time.Second

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
