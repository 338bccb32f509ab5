package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strings"

	"github.com/ctiws/ctiws/cluster"
	redisbackend "github.com/ctiws/ctiws/cluster/redisbackend"
	"github.com/ctiws/ctiws/cmd/ctiws/internal/config"
	"github.com/ctiws/ctiws/ownership"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"github.com/redis/go-redis/v9"
)

// newRedisBackend connects to redis_url. An unreachable Redis does not stop
// the node: /readyz reports it and the node retries (go-redis reconnects).
func newRedisBackend(_ context.Context, cfg *config.Config, log *slog.Logger, reg prometheus.Registerer) (cluster.Backend, clusterInfo, error) {
	newClient, err := redisClientFactory(cfg)
	if err != nil {
		return cluster.Backend{}, clusterInfo{}, errUsage{err}
	}
	rdb := newClient(redisPool{})
	// Lease and node-liveness traffic gets its own small pool, so that
	// subscriptions, sweeps and commands on the main pool never delay a
	// renewal; its calls end at their deadlines, so a renewal on a dead
	// link cannot outlast its owner's step-down; and its connections are
	// all kept open, so a renewal on a slow link never pays for a new
	// connection's handshake (a few round trips) within its deadline.
	lease := newClient(redisPool{size: 4, deadlines: true, warm: true})
	// Blocking command reads (one XREADGROUP BLOCK per owned tenant) get
	// a pool of their own too: on the main pool, a few hundred owned
	// tenants would hold every connection and make publishes wait.
	blocking := newClient(redisPool{size: 4096})
	errs := promauto.With(reg).NewCounterVec(prometheus.CounterOpts{Namespace: "ctiws", Name: "redis_errors_total",
		Help: "Redis command errors, by command."}, []string{"op"})
	rdb.AddHook(errorHook{errs})
	lease.AddHook(errorHook{errs})
	blocking.AddHook(errorHook{errs})
	b := redisbackend.NewFromClient(rdb, redisbackend.WithLogger(log.With("component", "redis")),
		redisbackend.WithLeaseClient(lease), redisbackend.WithBlockingClient(blocking))
	registerRedisStats(reg, b)
	cb := b.Cluster()
	closeBackend := cb.Close
	cb.Close = func() error {
		return errors.Join(closeBackend(), rdb.Close(), lease.Close(), blocking.Close())
	}
	info := clusterInfo{multi: true, connected: connectedNodes(lease), schema: b.CheckSchema}
	return cb, info, nil
}

// redisURLError describes a redis_url that go-redis refused without the
// password: url.Parse errors quote the whole URL, so only their inner
// error is kept, and the URL is shown redacted.
func redisURLError(raw string, err error) error {
	msg := err.Error()
	if ue, ok := errors.AsType[*url.Error](err); ok {
		msg = ue.Err.Error()
	}
	red := config.RedactURL(raw)
	msg = strings.ReplaceAll(msg, raw, red)
	return fmt.Errorf("redis_url %s: %s", red, msg)
}

// connectedNodes returns the nodes that still have a connection to Redis,
// and the run_id of the server that listed them: every node's connections
// carry the client name "ctiws-<node_id>", and a killed process's
// connections are closed by its kernel at once. It errs (and the caller
// relies on the heartbeats alone) where CLIENT LIST is not allowed. One
// call per refresh interval per node, not per tenant. On a Redis Cluster it
// asks the master of the live node set, which every node writes its
// heartbeat to through the lease client. INFO and CLIENT LIST go in one
// pipeline, over one connection, so both answers are the same server's.
func connectedNodes(rdb redis.UniversalClient) func(ctx context.Context) (ownership.Connections, error) {
	return func(ctx context.Context) (ownership.Connections, error) {
		var c redis.Cmdable = rdb
		if cc, ok := rdb.(*redis.ClusterClient); ok {
			m, err := cc.MasterForKey(ctx, redisbackend.LiveNodesKey)
			if err != nil {
				return ownership.Connections{}, fmt.Errorf("client list: master of %s: %w", redisbackend.LiveNodesKey, err)
			}
			c = m
		}
		var info *redis.StringCmd
		var list *redis.StringCmd
		if _, err := c.Pipelined(ctx, func(p redis.Pipeliner) error {
			info = p.Info(ctx, "server")
			list = p.ClientList(ctx)
			return nil
		}); err != nil {
			return ownership.Connections{}, fmt.Errorf("client list: %w", err)
		}
		out := ownership.Connections{Server: infoField(info.Val(), "run_id"), Nodes: map[string]bool{}}
		if out.Server == "" {
			return ownership.Connections{}, errors.New("client list: no run_id in INFO server")
		}
		for _, line := range strings.Split(list.Val(), "\n") {
			for _, f := range strings.Fields(line) {
				if name, ok := strings.CutPrefix(f, "name=ctiws-"); ok {
					out.Nodes[name] = true
				}
			}
		}
		return out, nil
	}
}

// infoField returns the value of field in an INFO reply ("field:value"
// lines), "" if absent.
func infoField(info, field string) string {
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), field+":"); ok {
			return v
		}
	}
	return ""
}

// errorHook counts failed Redis commands by name (a bounded label).
type errorHook struct{ errs *prometheus.CounterVec }

func (h errorHook) DialHook(next redis.DialHook) redis.DialHook {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := next(ctx, network, addr)
		if err != nil {
			h.errs.WithLabelValues("dial").Inc()
		}
		return c, err
	}
}

func (h errorHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		err := next(ctx, cmd)
		if err != nil && !errors.Is(err, redis.Nil) {
			h.errs.WithLabelValues(opName(cmd)).Inc()
		}
		return err
	}
}

func (h errorHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		err := next(ctx, cmds)
		if err != nil && !errors.Is(err, redis.Nil) {
			h.errs.WithLabelValues("pipeline").Inc()
		}
		return err
	}
}

// opName bounds the label to known command names.
func opName(cmd redis.Cmder) string {
	switch n := strings.ToLower(cmd.Name()); n {
	case "evalsha", "eval", "get", "set", "del", "hget", "hset", "hgetall", "hscan", "publish", "spublish", "ping",
		"xadd", "xreadgroup", "xack", "xautoclaim", "xgroup", "pexpire", "smembers", "sadd", "srem", "exists", "scan", "subscribe", "ssubscribe":
		return n
	default:
		return "other"
	}
}

// registerRedisStats exports the backend's counters.
func registerRedisStats(reg prometheus.Registerer, b *redisbackend.Backend) {
	f := promauto.With(reg)
	counter := func(name, help string, v func(redisbackend.Stats) uint64) {
		f.NewCounterFunc(prometheus.CounterOpts{Namespace: "ctiws", Subsystem: "redis", Name: name, Help: help},
			func() float64 { return float64(v(b.Stats())) })
	}
	counter("dropped_events_total", "Events not queued because a subscriber's queue was full (a resync follows).", func(s redisbackend.Stats) uint64 { return s.Dropped })
	counter("resync_signals_total", "Resync signals given to subscribers.", func(s redisbackend.Stats) uint64 { return s.Resyncs })
	counter("sequence_gaps_total", "Sequence gaps or regressions seen on tenant channels.", func(s redisbackend.Stats) uint64 { return s.Gaps })
	counter("resubscriptions_total", "Pub/sub resubscriptions after a reconnect.", func(s redisbackend.Stats) uint64 { return s.Reconnects })
	counter("deaf_subscriptions_total", "Pub/sub connections recreated by the deafness probe.", func(s redisbackend.Stats) uint64 { return s.Deaf })
	counter("stale_epoch_events_total", "Events dropped for an older owner epoch.", func(s redisbackend.Stats) uint64 { return s.StaleEpoch })
	counter("commands_redelivered_total", "Owner commands retried after a failure.", func(s redisbackend.Stats) uint64 { return s.Redelivered })
	counter("commands_claimed_total", "Owner commands claimed from another consumer.", func(s redisbackend.Stats) uint64 { return s.Claimed })
	counter("commands_dropped_total", "Owner commands given up after too many attempts.", func(s redisbackend.Stats) uint64 { return s.DroppedCommands })
}
