package redisbackend

import (
	"context"

	"github.com/redis/go-redis/v9"
)

// watchSlotMap makes a Redis Cluster client reload its slot map whenever a
// command fails for want of a connection. go-redis reloads it by itself on
// MOVED, ASK and READONLY replies and otherwise once a minute, but a killed
// master answers nothing: without this, every command of its slots would
// keep dialling the dead address until the next periodic reload, long after
// its replica took over. Reloads are debounced by go-redis (one at a time,
// 200 ms apart), so a burst of failures costs a few CLUSTER SLOTS. Clients
// that are not cluster clients are left alone.
func watchSlotMap(c redis.UniversalClient) {
	if cc, ok := c.(*redis.ClusterClient); ok {
		cc.AddHook(slotMapHook{cc})
	}
}

type slotMapHook struct{ cc *redis.ClusterClient }

// DialHook passes dials through.
func (h slotMapHook) DialHook(next redis.DialHook) redis.DialHook { return next }

// ProcessHook reloads the slot map after a connection failure.
func (h slotMapHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		err := next(ctx, cmd)
		if connectionFailure(err) {
			h.cc.ReloadState(ctx)
		}
		return err
	}
}

// ProcessPipelineHook reloads the slot map after a connection failure.
func (h slotMapHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		err := next(ctx, cmds)
		if connectionFailure(err) {
			h.cc.ReloadState(ctx)
		}
		return err
	}
}
