package redisbackend

import (
	"context"
	"errors"
	"io"
	"net"

	"github.com/redis/go-redis/v9"
)

// The backend's errors. The ones a caller tests for are the cluster
// family's, in package cluster: cluster.ErrNotOwner (a fenced publish or
// a lease operation by a holder that is not the live one),
// *cluster.RenewErrors (leases that could not be asked about) and the
// command results (cluster.ErrCommand…). Other errors wrap what go-redis
// returned, prefixed "redis backend: <operation>".

// errBackendClosed is the cause of a subscription refused or ended because
// Close was called.
var errBackendClosed = errors.New("backend closed")

// connectionFailure tells a failed dial, a reset or a timeout from a reply
// of Redis (an error reply, redis.Nil) and from the caller's cancellation.
func connectionFailure(err error) bool {
	if err == nil || errors.Is(err, redis.Nil) || errors.Is(err, context.Canceled) {
		return false
	}
	if _, ok := errors.AsType[redis.Error](err); ok {
		return false
	}
	var ne net.Error
	return errors.As(err, &ne) || errors.Is(err, net.ErrClosed) || errors.Is(err, io.EOF)
}
