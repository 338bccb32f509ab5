package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/ctiws/ctiws/cluster"
	"github.com/ctiws/ctiws/cluster/memory"
	"github.com/ctiws/ctiws/cmd/ctiws/internal/config"
	"github.com/ctiws/ctiws/internal/guard"
	"github.com/ctiws/ctiws/internal/tenantless"
	"github.com/ctiws/ctiws/ownership"
	"github.com/ctiws/ctiws/ws"
	"github.com/ctiws/ctiws/ws/auth"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// newLogger returns the JSON logger every subcommand logs with, at level
// (debug, info, warn, error; unknown means info). Durations are written
// as Go duration strings ("took":"3ms"), not integer nanoseconds.
func newLogger(w io.Writer, level string) *slog.Logger {
	var l slog.Level
	_ = l.UnmarshalText([]byte(level))
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: l, ReplaceAttr: durationString}))
}

// durationString is a slog ReplaceAttr that writes a duration as its Go
// string form (1.5s, 3ms), readable and the same in every line.
func durationString(_ []string, a slog.Attr) slog.Attr {
	if a.Value.Kind() == slog.KindDuration {
		return slog.String(a.Key, a.Value.Duration().String())
	}
	return a
}

// loadConfig reads the config for a subcommand and returns it with the
// logger it asks for (on stderr), after warning about CTIWS_* variables
// that name no field. Every problem is a usage error (exit 2).
func loadConfig(path string, stderr io.Writer) (*config.Config, *slog.Logger, error) {
	if path == "" {
		return nil, nil, usageErr("-config FILE is required")
	}
	cfg, err := config.Load(path, os.Environ())
	if err != nil {
		return nil, nil, errUsage{err}
	}
	log := newLogger(stderr, cfg.LogLevel)
	warnUnknownEnv(log, os.Environ())
	return cfg, log, nil
}

// tenantConfig builds the websocket layer's view of a configured tenant.
func tenantConfig(t *config.Tenant) (*ws.TenantConfig, error) {
	tc := &ws.TenantConfig{
		Directory:   t.Directory,
		Privacy:     t.Privacy(),
		AuthEnabled: t.Auth.IsEnabled(),
		JWTSecret:   []byte(t.Auth.JWTSecret),
		AlarmSecret: []byte(t.Auth.AlarmSecret),
	}
	if t.Auth.JWTSecretPrevious != "" {
		tc.JWTPreviousSecret = []byte(t.Auth.JWTSecretPrevious)
	}
	if len(t.Htpasswd) > 0 {
		h, err := auth.ParseHtpasswd(t.Htpasswd)
		if err != nil {
			return nil, fmt.Errorf("tenant %s: %s: %w", t.ID, t.Auth.HtpasswdFile, err)
		}
		tc.Htpasswd = h
	}
	for _, s := range t.Streaming {
		tc.Streams = append(tc.Streams, s.ID)
		tc.StreamSources = append(tc.StreamSources, ws.StreamSource{ID: s.ID, URL: s.URL, Framerate: s.Framerate,
			Extension: s.Extension, Description: s.Description, CmdOpen: s.CmdOpen})
	}
	tc.FeatureCodes = t.FeatureCodes
	tc.Avatars = t.Avatars
	if len(t.ParamURLs) > 0 {
		tc.ParamURLs = make(map[string]ws.ParamURL, len(t.ParamURLs))
		for id, p := range t.ParamURLs {
			tc.ParamURLs[id] = ws.ParamURL{URL: p.URL, OnlyQueues: p.OnlyQueues}
		}
	}
	return tc, nil
}

func cmdServe(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "", "configuration file (YAML)")
	if err := fs.Parse(args); err != nil {
		return errUsage{err}
	}
	cfg, log, err := loadConfig(*path, stderr)
	if err != nil {
		return err
	}
	if cfg.NodeID == "" {
		cfg.NodeID, _ = os.Hostname()
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "ctiws", Name: "build_info", Help: "Build information.",
		ConstLabels: prometheus.Labels{"version": version}}, func() float64 { return 1 }))

	// fail stops the node with a cause (an incompatible Redis schema found
	// once Redis answers).
	ctx, fail := context.WithCancelCause(ctx)
	defer fail(nil)
	backend, info, err := newBackend(ctx, cfg, log, reg)
	if err != nil {
		return err
	}
	defer backend.Close()
	if info.schema != nil {
		if err := guardSchema(ctx, info.schema, log, fail); err != nil {
			return err
		}
	}

	var tenants []*ws.Tenant
	for i := range cfg.Tenants {
		tc, err := tenantConfig(&cfg.Tenants[i])
		if err != nil {
			return errUsage{err}
		}
		tenants = append(tenants, ws.NewTenant(cfg.Tenants[i].ID, cfg.Tenants[i].Hosts, tc))
	}
	panics := guard.New(reg, log)
	proxies, err := cfg.TrustedProxyPrefixes()
	if err != nil {
		return errUsage{err}
	}
	// staleLogin: a password login was refused because this node's
	// htpasswd hash differs from the cluster's: look at the files now.
	staleLogin := make(chan struct{}, 1)
	srv := ws.New(ws.Options{
		NodeID:              cfg.NodeID,
		JWTMaxLifetime:      cfg.JWTMaxLifetime,
		JWTClockSkew:        cfg.JWTClockSkew,
		MaxPersistentTokens: cfg.MaxPersistentTokens,
		PasswordStale: func(string) {
			select {
			case staleLogin <- struct{}{}:
			default:
			}
		},
		LoginLimits: ws.LoginLimits{FreeUser: cfg.LoginFreeFailures, FreeAddress: cfg.LoginAddressFreeFailures,
			Base: cfg.LoginBackoffBase, Max: cfg.LoginBackoffMax},
		TrustedProxies:    proxies,
		BcryptConcurrency: cfg.BcryptConcurrency,
		BcryptQueue:       cfg.BcryptQueue,
		BcryptPerAddress:  cfg.BcryptPerAddress,
		BcryptPerUser:     cfg.BcryptPerUser,
		Backend:           backend,
		Tenants:           tenants,
		TokenTTL:          cfg.TokenTTL,
		LoginTimeout:      cfg.LoginTimeout,
		PingInterval:      cfg.PingInterval,
		PingTimeout:       cfg.PingTimeout,
		MaxMessageBytes:   cfg.MaxMessageBytes,
		MaxConnLifetime:   cfg.MaxConnectionLifetime,
		AllowedOrigins:    cfg.AllowedOrigins,
		Limits:            limitsOf(cfg),
		DeliverEveryState: cfg.DeliverEveryState,
		ReadMode:          cfg.WSReadMode,
		Panics:            panics,
		Logger:            log,
		Registry:          reg,
	})

	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen %s: %w", cfg.Listen, err)
	}
	httpSrv := newHTTPServer(srv.Handler(), httpLimitsOf(cfg), true)
	var mln net.Listener
	if cfg.MetricsListen != "" {
		if mln, err = net.Listen("tcp", cfg.MetricsListen); err != nil {
			ln.Close()
			return fmt.Errorf("listen %s (metrics): %w", cfg.MetricsListen, err)
		}
	}

	runCtx, stopRun := context.WithCancel(context.Background())
	defer stopRun()
	ownerCtx, stopOwners := context.WithCancel(context.Background())
	defer stopOwners()
	pbxs, err := newPBXs(ctx, cfg, log, reg)
	if err != nil {
		ln.Close()
		return err
	}
	defer pbxs.Close()
	// Heartbeat first: the owners' view of the live nodes includes this one.
	srv.Heartbeat(runCtx)
	owners := startOwners(ownerCtx, cfg, backend, info, pbxs, log, reg, panics)

	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); _ = srv.Run(runCtx) }()
	go func() {
		if err := httpSrv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("HTTP server failed", "err", err)
		}
	}()
	var metricsSrv *http.Server
	if mln != nil {
		// No write timeout: /debug/pprof/profile streams for its duration.
		mux := metricsMux(reg, backend, srv, cfg.Pprof, cfg.MetricsPerTenant)
		// An operator's drain (console): what a stop does, less the exit.
		drain := func() {
			log.Info("draining on an operator's request", "drain_timeout", cfg.DrainTimeout)
			srv.BeginDrain()
			stopOwners()
			owners.wait()
			dctx, cancel := context.WithTimeout(context.Background(), cfg.DrainTimeout)
			defer cancel()
			srv.Shutdown(dctx)
		}
		if err := mountConsole(runCtx, mux, cfg, backend, srv, reg, drain, owners.set, log); err != nil {
			log.Error("operator console not served", "err", err)
		}
		metricsSrv = newHTTPServer(mux, httpLimitsOf(cfg), false)
		go func() { _ = metricsSrv.Serve(mln) }()
	}
	log.Info("ctiws node started", "version", version, "node", cfg.NodeID, "listen", ln.Addr().String(),
		"metrics", cfg.MetricsListen, "tenants", len(cfg.Tenants), "redis", cfg.RedisURL != "")

	for name, err := range cfg.TenantErrors {
		log.Error("tenant refused", "folder", name, "err", err)
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	dirChanged := make(chan struct{}, 1)
	if cfg.TenantsDir != "" {
		go watchTenantsDir(runCtx, cfg.TenantsDir, dirChanged, log)
	}
	htpasswdPoll := time.NewTicker(cfg.HtpasswdPollInterval)
	defer htpasswdPoll.Stop()
	var htpasswd htpasswdWatch
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case <-hup:
			reload(cfg.Path, srv, owners, pbxs, log)
		case <-dirChanged:
			log.Info("tenants_dir changed: reloading")
			reload(cfg.Path, srv, owners, pbxs, log)
		case <-htpasswdPoll.C:
			if htpasswd.changed(owners, log) {
				reload(cfg.Path, srv, owners, pbxs, log)
			}
		case <-staleLogin:
			if htpasswd.changed(owners, log) {
				reload(cfg.Path, srv, owners, pbxs, log)
			}
		}
	}

	// Graceful stop: not ready at once, hand the leases over, drain the
	// sockets in batches, exit.
	log.Info("shutting down", "drain_timeout", cfg.DrainTimeout)
	drainCtx, cancel := context.WithTimeout(context.Background(), cfg.DrainTimeout)
	defer cancel()
	srv.BeginDrain()
	stopOwners()
	owners.wait()
	srv.Shutdown(drainCtx)
	stopRun()
	wg.Wait()
	_ = httpSrv.Close()
	if metricsSrv != nil {
		_ = metricsSrv.Close()
	}
	log.Info("stopped")
	if se, ok := errors.AsType[errSchema](context.Cause(ctx)); ok {
		return se
	}
	return nil
}

// metricsMux serves /metrics, /healthz and /readyz. Without perTenant the
// series are summed over their tenant label.
func metricsMux(reg *prometheus.Registry, backend cluster.Backend, srv *ws.Server, withPprof, perTenant bool) *http.ServeMux {
	mux := http.NewServeMux()
	if withPprof {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
		// POST /debug/free-os-memory collects garbage and returns freed
		// pages to the OS at once, so RSS can be compared between two
		// moments (ctiws bench -scenario idle does).
		mux.HandleFunc("POST /debug/free-os-memory", func(w http.ResponseWriter, _ *http.Request) {
			debug.FreeOSMemory()
			_, _ = io.WriteString(w, "ok\n")
		})
	}
	var gather prometheus.Gatherer = reg
	if !perTenant {
		gather = tenantless.Gatherer{G: reg}
	}
	mux.Handle("/metrics", promhttp.HandlerFor(gather, promhttp.HandlerOpts{Registry: reg}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "ok\n")
	})
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, r *http.Request) {
		if srv.Draining() {
			http.Error(w, "draining", http.StatusServiceUnavailable)
			return
		}
		if !srv.Subscribed() {
			http.Error(w, "bus subscriptions not ready", http.StatusServiceUnavailable)
			return
		}
		if backend.Ready != nil {
			ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
			defer cancel()
			if err := backend.Ready(ctx); err != nil {
				http.Error(w, "backend not ready: "+err.Error(), http.StatusServiceUnavailable)
				return
			}
		}
		_, _ = io.WriteString(w, "ready\n")
	})
	return mux
}

// clusterInfo tells a node about the other nodes; zero for a single node.
type clusterInfo struct {
	// multi: other nodes may share the tenants (lease spreading, takeover).
	multi bool
	// connected, if set, lists the nodes that still hold a connection to
	// the backend (fast takeover of a killed owner's leases).
	connected func(ctx context.Context) (ownership.Connections, error)
	// schema, if set, checks that the backend's data has a schema this
	// build can use (redisbackend.CheckSchema).
	schema func(ctx context.Context) error
}

// newBackend returns the in-memory backend, or the Redis one when redis_url
// is set.
func newBackend(ctx context.Context, cfg *config.Config, log *slog.Logger, reg prometheus.Registerer) (cluster.Backend, clusterInfo, error) {
	if cfg.RedisURL == "" {
		return memory.New(memory.WithLogger(log)).Cluster(), clusterInfo{}, nil
	}
	return newRedisBackend(ctx, cfg, log, reg)
}

// reload re-reads the configuration and applies it without dropping the
// sockets of unchanged tenants: users, profiles and privacy of running
// tenants; tenants added to the list start being served (and their lease
// competed for); tenants removed from it have their sockets closed, their
// lease released and their hosts answer 404. Listen addresses, Redis and
// the node-wide settings need a restart. A broken configuration is refused
// as a whole; a tenant whose files are broken is refused alone.
func reload(path string, srv *ws.Server, owners *tenantOwners, pbxs *ownership.PBXs, log *slog.Logger) {
	next, err := config.Load(path, os.Environ())
	if err != nil {
		log.Error("reload refused: configuration invalid; keeping the running one", "err", err)
		return
	}
	keep := map[string]bool{}
	for _, t := range next.Tenants {
		keep[t.ID] = true
	}
	for name, err := range next.TenantErrors {
		// A broken tenant folder leaves that tenant as it was.
		keep[name] = true
		log.Error("reload refused for tenant", "folder", name, "err", err)
	}
	// Removals first: a tenant added in the same reload may take over a
	// removed one's hosts.
	var removed, added, restarted []string
	for _, id := range owners.ids() {
		if !keep[id] {
			stopTenant(id, srv, owners, pbxs)
			removed = append(removed, id)
		}
	}
	unchanged := 0
	for i := range next.Tenants {
		t := &next.Tenants[i]
		if owners.unchanged(t.ID, t.Fingerprint) {
			// Nothing to do, and its sockets get no serverReloaded: in a
			// farm one tenant's change must not touch the others.
			unchanged++
			continue
		}
		tc, err := tenantConfig(t)
		if err != nil {
			log.Error("reload refused for tenant", "tenant", t.ID, "err", err)
			continue
		}
		if old, ok := owners.config(t.ID); ok && restartKey(old) != restartKey(t) {
			// Hosts, AMI, streaming or objects changed: the tenant starts
			// over on this node (its sockets reconnect).
			stopTenant(t.ID, srv, owners, pbxs)
			if err := addTenant(t, tc, srv, owners, pbxs); err != nil {
				log.Error("reload: changed tenant refused", "tenant", t.ID, "err", err)
				continue
			}
			restarted = append(restarted, t.ID)
			continue
		}
		if srv.Reload(t.ID, tc) {
			owners.setDirectory(t.ID, t)
			continue
		}
		if err := addTenant(t, tc, srv, owners, pbxs); err != nil {
			log.Error("reload: new tenant refused", "tenant", t.ID, "err", err)
			continue
		}
		added = append(added, t.ID)
	}
	log.Info("configuration reloaded", "tenants", len(next.Tenants), "unchanged", unchanged, "added", strings.Join(added, ","),
		"removed", strings.Join(removed, ","), "restarted", strings.Join(restarted, ","))
}

// stopTenant stops serving a tenant on this node: the lease first (another
// node takes the PBX), then the sockets.
func stopTenant(id string, srv *ws.Server, owners *tenantOwners, pbxs *ownership.PBXs) {
	owners.remove(id)
	srv.RemoveTenant(id)
	pbxs.Remove(id)
}

// restartKey is the part of a tenant that a running tenant cannot take
// over in place: hosts, AMI connection, streaming sources, objects file
// (its contents as each configuration read them: the running tenant's
// digest is from when it started, not the file as it is now).
func restartKey(t *config.Tenant) string {
	b, _ := json.Marshal(struct {
		Hosts     []string
		AMI       config.AMI
		Streaming []config.Stream
		Objects   string
	}{t.Hosts, t.AMI, t.Streaming, t.ObjectsFile + "\x00" + t.ObjectsDigest})
	return string(b)
}

// addTenant starts serving a tenant that was not in the configuration.
func addTenant(t *config.Tenant, tc *ws.TenantConfig, srv *ws.Server, owners *tenantOwners, pbxs *ownership.PBXs) error {
	if err := addPBX(pbxs, t); err != nil {
		return err
	}
	if err := srv.AddTenant(ws.NewTenant(t.ID, t.Hosts, tc)); err != nil {
		pbxs.Remove(t.ID)
		return err
	}
	owners.add(*t)
	return nil
}
