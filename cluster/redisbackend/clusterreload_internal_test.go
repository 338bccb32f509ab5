package redisbackend

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"testing"

	"github.com/redis/go-redis/v9"
)

// TestConnectionFailure: only a missing connection reloads the slot map,
// never a reply of Redis or the caller's cancellation.
func TestConnectionFailure(t *testing.T) {
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
	for _, c := range []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"redis.Nil", redis.Nil, false},
		{"cancelled", fmt.Errorf("x: %w", context.Canceled), false},
		{"error reply", redisReply("NOPERM this user has no permissions"), false},
		{"dial refused", refused, true},
		{"wrapped dial refused", fmt.Errorf("fenced publish: %w", refused), true},
		{"closed", net.ErrClosed, true},
		{"EOF", io.EOF, true},
		{"other", errors.New("something else"), false},
	} {
		if got := connectionFailure(c.err); got != c.want {
			t.Errorf("%s: connectionFailure(%v) = %v, want %v", c.name, c.err, got, c.want)
		}
	}
}

// redisReply is an error reply of Redis (redis.Error).
type redisReply string

func (e redisReply) Error() string { return string(e) }
func (redisReply) RedisError()     {}
