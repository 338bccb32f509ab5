package redisbackend

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/ctiws/ctiws/cluster"
	"github.com/redis/go-redis/v9"
)

// awaitSlice is the longest single BLPOP of Await: a wait is a loop of
// these, so ctx's end is seen within a slice (BLPOP takes whole seconds).
const awaitSlice = time.Second

// Reply stores a command's result in a list of its own that expires after
// ResultTTL; Await pops it. A result stored before its sender waits is kept.
func (c commands) Reply(ctx context.Context, tenant, id string, r cluster.CommandResult) error {
	if tenant == "" || id == "" {
		return errors.New("redis backend: reply: empty tenant or command id")
	}
	body, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("redis backend: reply to %s: encode: %w", id, err)
	}
	key := replyKey(tenant, id)
	_, err = c.b.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.RPush(ctx, key, body)
		p.PExpire(ctx, key, cluster.ResultTTL)
		return nil
	})
	if err != nil {
		return fmt.Errorf("redis backend: reply to %s: %w", id, err)
	}
	return nil
}

// Await pops the result of command id, waiting in BLPOP slices on the
// blocking connection pool until ctx ends.
func (c commands) Await(ctx context.Context, tenant, id string) (cluster.CommandResult, error) {
	if tenant == "" || id == "" {
		return cluster.CommandResult{}, errors.New("redis backend: await: empty tenant or command id")
	}
	key := replyKey(tenant, id)
	for {
		if err := ctx.Err(); err != nil {
			return cluster.CommandResult{}, err
		}
		res, err := c.b.blocking.BLPop(ctx, awaitSlice, key).Result()
		switch {
		case errors.Is(err, redis.Nil):
			continue
		case err != nil:
			if ctx.Err() != nil {
				return cluster.CommandResult{}, ctx.Err()
			}
			return cluster.CommandResult{}, fmt.Errorf("redis backend: await %s: %w", id, err)
		}
		if len(res) != 2 {
			return cluster.CommandResult{}, fmt.Errorf("redis backend: await %s: unexpected BLPOP answer", id)
		}
		var r cluster.CommandResult
		if err := json.Unmarshal([]byte(res[1]), &r); err != nil {
			return cluster.CommandResult{}, fmt.Errorf("redis backend: await %s: decode result: %w", id, err)
		}
		return r, nil
	}
}
