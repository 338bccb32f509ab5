package redisbackend

import (
	"context"
	"errors"
	"fmt"
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
	keys := []string{sessKey(t, sess.ID), userSetKey(t, sess.User), nodeSetKey(t, sess.Node), nodesKey(t)}
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

// UserSessions lists the sockets of a user, sorted by login time then id.
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
		out = append(out, cluster.Session{ID: ids[i], Tenant: tenant, User: user, UAType: f["ua"], Node: f["node"], TokenHash: f["th"], LoginAt: at})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].LoginAt != out[j].LoginAt {
			return out[i].LoginAt < out[j].LoginAt
		}
		return out[i].ID < out[j].ID
	})
	return out, nil
}

// Heartbeat keeps node's sessions alive for ttl (0: until deleted).
func (s sessions) Heartbeat(ctx context.Context, node string, ttl time.Duration) error {
	var exp time.Duration
	if ttl > 0 {
		exp = time.Duration(ms(ttl)) * time.Millisecond
	}
	if err := s.b.rdb.Set(ctx, heartbeatKey(node), "1", exp).Err(); err != nil {
		return fmt.Errorf("redis backend: heartbeat of node %s: %w", node, err)
	}
	return nil
}

// Expired removes the tenant's sessions of nodes without a live heartbeat
// and returns the users whose last socket went with them. Each node is
// expired by one atomic script, so concurrent callers never report a user
// twice.
func (s sessions) Expired(ctx context.Context, tenant string) ([]string, error) {
	nodes, err := s.b.rdb.SMembers(ctx, nodesKey(tenant)).Result()
	if err != nil {
		return nil, fmt.Errorf("redis backend: list nodes of %s: %w", tenant, err)
	}
	if len(nodes) == 0 {
		return nil, nil
	}
	alive := make([]*redis.IntCmd, len(nodes))
	_, err = s.b.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, n := range nodes {
			alive[i] = p.Exists(ctx, heartbeatKey(n))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("redis backend: check node heartbeats of %s: %w", tenant, err)
	}
	var gone []string
	for i, n := range nodes {
		if alive[i].Val() == 1 {
			continue
		}
		users, err := sessExpireNode.Run(ctx, s.b.rdb, []string{nodeSetKey(tenant, n), nodesKey(tenant)}, n, tenantPrefix(tenant)).StringSlice()
		if err != nil {
			return gone, fmt.Errorf("redis backend: expire sessions of node %s in %s: %w", n, tenant, err)
		}
		if len(users) > 0 {
			s.b.cfg.log.Info("expired sessions of a dead node", "tenant", tenant, "node", n, "lastGone", len(users))
		}
		gone = append(gone, users...)
	}
	sort.Strings(gone)
	return gone, nil
}
