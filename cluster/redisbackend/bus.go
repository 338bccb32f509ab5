package redisbackend

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/ctiws/ctiws/cluster"
	"github.com/redis/go-redis/v9"
)

// Message formats on a tenant channel:
//
//	s:<seq>:<event json>   fenced owner event; Seq is taken from the prefix
//	u:<event json>         unfenced node event
const (
	fencedPrefix   = "s:"
	unfencedPrefix = "u:"
)

type bus struct{ b *Backend }

// PublishFenced checks l, numbers evs and stores their state in one script.
func (u bus) PublishFenced(ctx context.Context, l cluster.Lease, evs []cluster.Event) error {
	if l.Tenant == "" {
		return errors.New("redis backend: fenced publish: lease has no tenant")
	}
	if len(evs) == 0 {
		return nil
	}
	now := time.Now().UnixNano()
	args := make([]any, 0, 3+4*len(evs))
	args = append(args, l.Node, l.Epoch, eventsChannel(l.Tenant))
	for _, ev := range evs {
		ev.Tenant, ev.Epoch, ev.Seq = l.Tenant, l.Epoch, 0
		if ev.Origin == "" {
			ev.Origin = l.Node
		}
		if ev.Time == 0 {
			ev.Time = now
		}
		env, err := json.Marshal(ev)
		if err != nil {
			return fmt.Errorf("redis backend: fenced publish %s on %s: encode: %w", ev.Name, l.Tenant, err)
		}
		op, data := "", ""
		if ev.Key != "" {
			op = "s"
			if ev.Deletes() {
				op = "d"
			} else {
				var buf bytes.Buffer
				if err := json.Compact(&buf, ev.Data); err != nil {
					return fmt.Errorf("redis backend: fenced publish %s on %s: data: %w", ev.Name, l.Tenant, err)
				}
				data = buf.String()
			}
		}
		args = append(args, ev.Key, op, data, env)
	}
	keys := []string{leaseKey(l.Tenant), seqKey(l.Tenant), stateKey(l.Tenant)}
	n, err := publishFenced.Run(ctx, u.b.rdb, keys, args...).Int64()
	if err != nil {
		return fmt.Errorf("redis backend: fenced publish on %s: %w", l.Tenant, err)
	}
	if n < 0 {
		return fmt.Errorf("redis backend: fenced publish on %s by %s epoch %d: %w", l.Tenant, l.Node, l.Epoch, cluster.ErrNotOwner)
	}
	return nil
}

// Publish sends an unfenced node event on the tenant's channel.
func (u bus) Publish(ctx context.Context, ev cluster.Event) error {
	if ev.Tenant == "" {
		return errors.New("redis backend: publish: event has no tenant")
	}
	ev.Epoch, ev.Seq = 0, 0
	if ev.Time == 0 {
		ev.Time = time.Now().UnixNano()
	}
	env, err := json.Marshal(ev)
	if err != nil {
		return fmt.Errorf("redis backend: publish %s on %s: encode: %w", ev.Name, ev.Tenant, err)
	}
	if err := u.b.rdb.SPublish(ctx, eventsChannel(ev.Tenant), unfencedPrefix+string(env)).Err(); err != nil {
		return fmt.Errorf("redis backend: publish %s on %s: %w", ev.Name, ev.Tenant, err)
	}
	return nil
}

// Subscribe delivers the tenant's events to fn from a goroutine until ctx
// ends. It returns once Redis confirmed the subscription (events published
// afterwards will be delivered) or with an error.
func (u bus) Subscribe(ctx context.Context, tenant string, fn func([]cluster.Event)) error {
	return u.b.hub.subscribe(ctx, tenant, fn)
}

// State returns the objects whose key starts with prefix, sorted by key, and
// the sequence number they are consistent with (read in one MULTI).
func (u bus) State(ctx context.Context, tenant, prefix string) ([]cluster.Object, uint64, error) {
	var seqCmd *redis.StringCmd
	var allCmd *redis.MapStringStringCmd
	_, err := u.b.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		seqCmd = p.Get(ctx, seqKey(tenant))
		allCmd = p.HGetAll(ctx, stateKey(tenant))
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, 0, fmt.Errorf("redis backend: read state of %s: %w", tenant, err)
	}
	var seq uint64
	if s, err := seqCmd.Result(); err == nil {
		seq, _ = strconv.ParseUint(s, 10, 64)
	}
	var out []cluster.Object
	for k, v := range allCmd.Val() {
		if !strings.HasPrefix(k, prefix) {
			continue
		}
		ss, data, ok := strings.Cut(v, ":")
		n, err := strconv.ParseUint(ss, 10, 64)
		if !ok || err != nil {
			u.b.cfg.log.Warn("skipping a malformed state entry", "tenant", tenant, "key", k)
			continue
		}
		out = append(out, cluster.Object{Key: k, Seq: n, Data: json.RawMessage(data)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out, seq, nil
}
