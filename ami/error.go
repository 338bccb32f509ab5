package ami

import (
	"errors"
	"fmt"
	"strings"

	"github.com/ctiws/ctiws/cluster"
)

// The package's errors, and what each means. A caller tests them with
// errors.Is: every error of the package that has a meaning of its own
// wraps one of these.

// ErrUnsafeAction is wrapped by every refusal to build or send an AMI action
// whose header could end a line or the message: a CR, LF or NUL in a header
// name or value, a header name outside [A-Za-z0-9_-], or a line longer than
// Asterisk reads. Such a value would let its sender append headers or whole
// actions of their own (AMI header injection), so it is refused outright,
// never cleaned.
var ErrUnsafeAction = errors.New("ami: unsafe action header")

// Errors of a connection.
var (
	// ErrAuth is wrapped by a login that Asterisk refused.
	ErrAuth = errors.New("ami: authentication failed")
	// ErrClosed is returned by actions on a closed connection.
	ErrClosed = errors.New("ami: connection closed")
	// ErrBacklog closes a connection whose unread events exceed the cap:
	// the model must resynchronise rather than lose events silently.
	ErrBacklog = errors.New("ami: event backlog overflow")
	// ErrActionFailed is wrapped by an action answered with Response: Error.
	ErrActionFailed = errors.New("ami: action failed")
	// ErrChannelGone is wrapped too when the error answer says that the
	// channel the action names does not exist (any more): see channelGone.
	ErrChannelGone = errors.New("ami: channel gone")
)

// ErrNotConnected is returned by Do while there is no AMI connection whose
// snapshot is applied (see Ready). It wraps cluster.ErrCommandUnavailable.
var ErrNotConnected = fmt.Errorf("ami: not connected: %w", cluster.ErrCommandUnavailable)

// errOversize reports a message longer than the framer's cap; it was
// skipped and the stream stays usable.
var errOversize = errors.New("ami: message too large, skipped")

// errMalformed reports a frame with no usable header.
var errMalformed = errors.New("ami: malformed message")

// channelGoneAnswers are Asterisk's error answers (Message) to an action
// whose Channel no longer exists, from Asterisk 22: main/manager.c (Hangup,
// Setvar, Getvar, SendText, Redirect, BlindTransfer, Atxfer,
// CancelAtxfer, AOCMessage), apps/app_mixmonitor.c (MixMonitor,
// StopMixMonitor, MixMonitorMute), res/parking/parking_manager.c (Park),
// apps/app_senddtmf.c (PlayDTMF). A prefix match: Redirect and Park append
// the channel name.
var channelGoneAnswers = []string{
	"No such channel",                  // Hangup, Setvar, MixMonitor…
	"Channel specified does not exist", // BlindTransfer, Atxfer
	"Channel does not exist",           // Redirect, Park: "…: <channel>"
	"Channel not found",                // PlayDTMF, PlayMF
	"Redirect failed, channel not up.", // Redirect of a channel being hung up
}

// channelGone reports whether an error answer's message says that the
// channel named by the action is gone.
func channelGone(msg string) bool {
	msg = strings.TrimSpace(msg)
	for _, a := range channelGoneAnswers {
		if len(msg) >= len(a) && strings.EqualFold(msg[:len(a)], a) {
			return true
		}
	}
	return false
}
