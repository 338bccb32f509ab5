package redisbackend

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"time"

	"github.com/ctiws/ctiws/cluster"
	"github.com/redis/go-redis/v9"
)

type sessions struct{ b *Backend }

// Add registers a socket; first is true for the user's first socket
// anywhere in the cluster.
func (s sessions) Add(ctx context.Context, sess cluster.Session) (bool, error) {
	if sess.Tenant == "" || sess.ID == "" || sess.User == "" {
		return false, errors.New("redis backend: add session: tenant, id and user are required")
	}
	t := sess.Tenant
	keys := []string{sessKey(t, sess.ID), userSetKey(t, sess.User), nodeSetKey(t, sess.Node), nodesKey(t), sessSeqKey(t)}
	n, err := sessAdd.Run(ctx, s.b.rdb, keys, sess.ID, sess.User, sess.Node, sess.UAType, sess.TokenHash, sess.LoginAt, tenantPrefix(t)).Int64()
	if err != nil {
		return false, fmt.Errorf("redis backend: add session %s/%s: %w", t, sess.ID, err)
	}
	return n == 1, nil
}

// Remove unregisters a socket; last is reported exactly once.
func (s sessions) Remove(ctx context.Context, tenant, id string) (bool, error) {
	n, err := sessRemove.Run(ctx, s.b.rdb, []string{sessKey(tenant, id)}, id, tenantPrefix(tenant)).Int64()
	if err != nil {
		return false, fmt.Errorf("redis backend: remove session %s/%s: %w", tenant, id, err)
	}
	return n == 1, nil
}

// UserSessions lists the sockets of a user, sorted by login time, login
// number (Seq), then id.
func (s sessions) UserSessions(ctx context.Context, tenant, user string) ([]cluster.Session, error) {
	ids, err := s.b.rdb.SMembers(ctx, userSetKey(tenant, user)).Result()
	if err != nil {
		return nil, fmt.Errorf("redis backend: list sessions of %s/%s: %w", tenant, user, err)
	}
	if len(ids) == 0 {
		return nil, nil
	}
	cmds := make([]*redis.MapStringStringCmd, len(ids))
	_, err = s.b.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, id := range ids {
			cmds[i] = p.HGetAll(ctx, sessKey(tenant, id))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("redis backend: read sessions of %s/%s: %w", tenant, user, err)
	}
	out := make([]cluster.Session, 0, len(ids))
	for i, c := range cmds {
		f := c.Val()
		if f["user"] != user { // removed meanwhile
			continue
		}
		at, _ := strconv.ParseInt(f["at"], 10, 64)
		seq, _ := strconv.ParseUint(f["seq"], 10, 64) // absent (an older build's): 0
		out = append(out, cluster.Session{ID: ids[i], Tenant: tenant, User: user, UAType: f["ua"], Node: f["node"], TokenHash: f["th"], LoginAt: at, Seq: seq})
	}
	slices.SortFunc(out, cluster.CompareSessions)
	return out, nil
}

// Heartbeat keeps node's sessions alive for ttl (0: until deleted), and
// node in the live node set. Both go in one pipeline on the lease client
// (the two keys may live in different cluster slots).
func (s sessions) Heartbeat(ctx context.Context, node string, ttl time.Duration) error {
	var exp time.Duration
	var ttlMs int64
	if ttl > 0 {
		exp = time.Duration(ms(ttl)) * time.Millisecond
		ttlMs = ms(ttl)
	}
	var beat *redis.Cmd
	_, err := s.b.lease.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.Set(ctx, heartbeatKey(node), "1", exp)
		beat = nodeBeat.Eval(ctx, p, []string{liveNodesKey()}, node, ttlMs)
		return nil
	})
	if err != nil {
		return fmt.Errorf("redis backend: heartbeat of node %s: %w", node, err)
	}
	if err := beat.Err(); err != nil {
		return fmt.Errorf("redis backend: heartbeat of node %s in the node set: %w", node, err)
	}
	return nil
}

// Nodes lists the nodes whose heartbeat is live: one read of one key.
func (s sessions) Nodes(ctx context.Context) ([]string, error) {
	nodes, err := nodeList.Run(ctx, s.b.lease, []string{liveNodesKey()}).StringSlice()
	if err != nil {
		return nil, fmt.Errorf("redis backend: list live nodes: %w", err)
	}
	sort.Strings(nodes)
	return nodes, nil
}

// Expired removes the tenants' sessions of nodes without a live heartbeat
// and returns per tenant the users whose last socket went with them. While
// no node has died it costs one read of the live node set (sweepGate); a
// sweep costs three pipelines whatever the number of tenants: the nodes of every
// tenant, the liveness of those nodes, then one script per (tenant, dead
// node) pair. Each script is atomic, so concurrent callers never report a
// user twice.
func (s sessions) Expired(ctx context.Context, tenants []string) (map[string][]string, error) {
	if len(tenants) == 0 || !s.b.sweep.due(ctx, s.b.lease) {
		return nil, nil
	}
	members := make([]*redis.StringSliceCmd, len(tenants))
	if _, err := s.b.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, t := range tenants {
			members[i] = p.SMembers(ctx, nodesKey(t))
		}
		return nil
	}); err != nil {
		return nil, fmt.Errorf("redis backend: list nodes of %d tenants: %w", len(tenants), err)
	}
	alive := map[string]*redis.IntCmd{}
	for _, m := range members {
		for _, n := range m.Val() {
			alive[n] = nil
		}
	}
	if len(alive) == 0 {
		return nil, nil
	}
	if _, err := s.b.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for n := range alive {
			alive[n] = p.Exists(ctx, heartbeatKey(n))
		}
		return nil
	}); err != nil {
		return nil, fmt.Errorf("redis backend: check node heartbeats: %w", err)
	}
	type pair struct{ tenant, node string }
	var dead []pair
	var calls []scriptCall
	for i, t := range tenants {
		for _, n := range members[i].Val() {
			if alive[n].Val() == 1 {
				continue
			}
			dead = append(dead, pair{t, n})
			calls = append(calls, scriptCall{keys: []string{nodeSetKey(t, n), nodesKey(t)}, args: []any{n, tenantPrefix(t)}})
		}
	}
	cmds, err := runPipelined(ctx, s.b.rdb, sessExpireNode, calls)
	if err != nil {
		return nil, fmt.Errorf("redis backend: expire sessions of dead nodes: %w", err)
	}
	out := map[string][]string{}
	var errs []error
	for i, c := range cmds {
		users, err := c.StringSlice()
		if err != nil {
			errs = append(errs, fmt.Errorf("redis backend: expire sessions of node %s in %s: %w", dead[i].node, dead[i].tenant, err))
			continue
		}
		if len(users) > 0 {
			s.b.cfg.log.Info("expired sessions of a dead node", "tenant", dead[i].tenant, "node", dead[i].node, "lastGone", len(users))
			out[dead[i].tenant] = append(out[dead[i].tenant], users...)
		}
	}
	for t := range out {
		sort.Strings(out[t])
	}
	return out, errors.Join(errs...)
}
