package redisbackend

import (
	"context"
	"strings"

	"github.com/redis/go-redis/v9"
)

// scriptCall is one run of a script in a pipeline.
type scriptCall struct {
	keys []string
	args []any
}

// runPipelined runs s once per call in one pipeline (one round trip per
// Redis server), each call touching its own keys, so calls of different
// tenants may go to different cluster slots. A script missing on the server
// (e.g. after a restart or a failover) is sent once more with its body
// (EVAL, which also caches it), so the first renewal on a fresh server costs
// two round trips, not three: a renewal must fit its deadline even on a slow
// link (docs/cluster.md, "One owner at a time"). The returned commands hold
// each call's reply or error.
func runPipelined(ctx context.Context, c redis.UniversalClient, s *redis.Script, calls []scriptCall) ([]*redis.Cmd, error) {
	if len(calls) == 0 {
		return nil, nil
	}
	send := func(withBody bool) ([]*redis.Cmd, error) {
		cmds := make([]*redis.Cmd, len(calls))
		_, err := c.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i, call := range calls {
				if withBody {
					cmds[i] = s.Eval(ctx, p, call.keys, call.args...)
				} else {
					cmds[i] = s.EvalSha(ctx, p, call.keys, call.args...)
				}
			}
			return nil
		})
		return cmds, err
	}
	cmds, err := send(false)
	if err != nil && isNoScript(cmds) {
		cmds, err = send(true)
	}
	if err != nil && ctx.Err() != nil {
		return nil, err
	}
	return cmds, nil
}

// isNoScript reports whether any command failed for a script the server
// does not have.
func isNoScript(cmds []*redis.Cmd) bool {
	for _, c := range cmds {
		if c != nil && c.Err() != nil && strings.HasPrefix(c.Err().Error(), "NOSCRIPT") {
			return true
		}
	}
	return false
}
