package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/ctiws/ctiws/cluster"
	"github.com/ctiws/ctiws/cluster/redisbackend"
	"github.com/ctiws/ctiws/cmd/ctiws/internal/config"
	"github.com/ctiws/ctiws/console"
	"github.com/ctiws/ctiws/ownership"
	"github.com/ctiws/ctiws/ws"
	"github.com/ctiws/ctiws/ws/auth"
	"github.com/prometheus/client_golang/prometheus"
)

// mountConsole serves the operator console on the internal listener's mux
// when the configuration enables it (docs/operations.md, "The operator
// console").
// Once mounted, it writes this node's status record to the store until ctx
// ends.
// drain drains this node when an operator asks; owners hands the node's
// tenants over, wakes them as a hand-over's target and tells their last
// AMI errors.
func mountConsole(ctx context.Context, mux *http.ServeMux, cfg *config.Config, backend cluster.Backend, srv *ws.Server, reg prometheus.Gatherer, drain func(), owners *ownership.Set, log *slog.Logger) error {
	cc := cfg.Console
	if !cc.Enabled() {
		return nil
	}
	users, err := auth.ParseHtpasswd(cc.Htpasswd)
	if err != nil {
		return errUsage{fmt.Errorf("console.htpasswd_file: %s: %w", cc.HtpasswdFile, err)}
	}
	proxies, err := cfg.TrustedProxyPrefixes()
	if err != nil {
		return errUsage{err}
	}
	actions := console.NodeActions{Drain: drain, Disconnect: srv.DisconnectUser}
	var lastError func(string) (string, time.Time)
	if owners != nil {
		actions.HandOver, actions.TakeOver, lastError = owners.HandOver, owners.Wake, owners.LastError
	}
	c, err := console.New(console.Options{
		Users:            users,
		Unmasked:         cc.UnmaskedUsers,
		SessionKey:       cc.SessionSecret,
		SessionTTL:       cc.SessionTTL,
		FreeFailures:     cfg.LoginFreeFailures,
		AddrFreeFailures: cfg.LoginAddressFreeFailures,
		BackoffBase:      cfg.LoginBackoffBase,
		BackoffMax:       cfg.LoginBackoffMax,
		TrustedProxies:   proxies,
		Node:             cfg.NodeID,
		Version:          version,
		Backend:          backend,
		Tenants:          srv.TenantIDs,
		Directory:        srv.TenantDirectory,
		Actions:          actions,
		LastError:        lastError,
		AuditMax:         cc.AuditMax,
		Trace: func(ctx context.Context, tenant, user string, masked bool, fn func([]byte, *cluster.Event)) error {
			return srv.Trace(ctx, tenant, user, masked, func(f ws.TracedFrame) { fn(f.Frame, f.Cause) })
		},
		Sockets:  func(tenant string) []console.Socket { return consoleSockets(srv.Sockets(tenant)) },
		Gatherer: reg,
		Store:    storeTopology(cfg.RedisURL),
		Schema:   schemaOf(cfg.RedisURL),
		Draining: srv.Draining,
		Logger:   log,
	})
	if err != nil {
		return err
	}
	mux.Handle(console.Prefix, c)
	go c.Report(ctx)
	log.Info("operator console enabled", "url", "http://"+cfg.MetricsListen+console.Prefix)
	return nil
}

func consoleSockets(in []ws.SocketInfo) []console.Socket {
	out := make([]console.Socket, len(in))
	for i, s := range in {
		out[i] = console.Socket{ID: s.ID, User: s.User, UAType: s.UAType, Since: s.Since}
	}
	return out
}

// storeTopology names the shared store for the console.
func storeTopology(redisURL string) string {
	scheme, _, ok := strings.Cut(redisURL, "://")
	switch {
	case redisURL == "":
		return "in memory (one node)"
	case !ok:
		return "redis"
	case strings.HasSuffix(scheme, "+sentinel"):
		return "redis sentinel (" + scheme + ")"
	case strings.HasSuffix(scheme, "+cluster"):
		return "redis cluster (" + scheme + ")"
	}
	return "redis (" + scheme + ")"
}

// schemaOf is the Redis schema version this build writes (none in memory).
func schemaOf(redisURL string) string {
	if redisURL == "" {
		return ""
	}
	return strconv.Itoa(redisbackend.SchemaVersion)
}
