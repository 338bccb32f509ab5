package main

import (
	"fmt"
	"log/slog"
	"net/http"

	"github.com/ctiws/ctiws/cluster"
	"github.com/ctiws/ctiws/cmd/ctiws/internal/config"
	"github.com/ctiws/ctiws/console"
	"github.com/ctiws/ctiws/ws"
	"github.com/ctiws/ctiws/ws/auth"
)

// mountConsole serves the operator console on the internal listener's mux
// when the configuration enables it (docs/operations.md, "The operator
// console").
func mountConsole(mux *http.ServeMux, cfg *config.Config, backend cluster.Backend, srv *ws.Server, log *slog.Logger) error {
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
		Draining:         srv.Draining,
		Logger:           log,
	})
	if err != nil {
		return err
	}
	mux.Handle(console.Prefix, c)
	log.Info("operator console enabled", "url", "http://"+cfg.MetricsListen+console.Prefix)
	return nil
}
