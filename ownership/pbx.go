package ownership

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/ctiws/ctiws/ami"
	"github.com/ctiws/ctiws/ami/sim"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// amiMetrics are the per-tenant AMI collectors, fed through ami.Hooks.
type amiMetrics struct {
	connected   *prometheus.GaugeVec
	reconnects  *prometheus.CounterVec
	messages    *prometheus.CounterVec
	parseErrors *prometheus.CounterVec
	skipped     *prometheus.CounterVec
	snapshot    *prometheus.HistogramVec
}

func newAMIMetrics(reg prometheus.Registerer) *amiMetrics {
	f := promauto.With(reg)
	return &amiMetrics{
		connected: f.NewGaugeVec(prometheus.GaugeOpts{Namespace: "ctiws", Name: "ami_connected",
			Help: "1 while this node's AMI connection of the tenant is up."}, []string{"tenant"}),
		reconnects: f.NewCounterVec(prometheus.CounterOpts{Namespace: "ctiws", Name: "ami_reconnects_total",
			Help: "AMI reconnect attempts."}, []string{"tenant"}),
		messages: f.NewCounterVec(prometheus.CounterOpts{Namespace: "ctiws", Name: "ami_messages_total",
			Help: "AMI messages read, by kind."}, []string{"tenant", "kind"}),
		parseErrors: f.NewCounterVec(prometheus.CounterOpts{Namespace: "ctiws", Name: "ami_parse_errors_total",
			Help: "AMI input skipped or repaired, by reason."}, []string{"tenant", "reason"}),
		skipped: f.NewCounterVec(prometheus.CounterOpts{Namespace: "ctiws", Name: "ami_model_skipped_total",
			Help: "AMI events or objects the model ignored, by reason."}, []string{"tenant", "reason"}),
		snapshot: f.NewHistogramVec(prometheus.HistogramOpts{Namespace: "ctiws", Name: "ami_snapshot_duration_seconds",
			Help: "Duration of the start-up snapshot after each AMI login.", Buckets: prometheus.ExponentialBuckets(0.005, 2, 12)}, []string{"tenant"}),
	}
}

// forget drops a removed tenant's series.
func (m *amiMetrics) forget(tenant string) {
	l := prometheus.Labels{"tenant": tenant}
	m.connected.DeletePartialMatch(l)
	m.reconnects.DeletePartialMatch(l)
	m.messages.DeletePartialMatch(l)
	m.parseErrors.DeletePartialMatch(l)
	m.skipped.DeletePartialMatch(l)
	m.snapshot.DeletePartialMatch(l)
}

func (m *amiMetrics) hooks(tenant string) ami.Hooks {
	return ami.Hooks{
		ConnState: func(up bool) {
			v := 0.0
			if up {
				v = 1
			}
			m.connected.WithLabelValues(tenant).Set(v)
		},
		Reconnect:  func() { m.reconnects.WithLabelValues(tenant).Inc() },
		Message:    func(kind string) { m.messages.WithLabelValues(tenant, kind).Inc() },
		ParseError: func(reason string) { m.parseErrors.WithLabelValues(tenant, reason).Inc() },
		Skipped:    func(reason string) { m.skipped.WithLabelValues(tenant, reason).Inc() },
		Snapshot:   func(d time.Duration) { m.snapshot.WithLabelValues(tenant).Observe(d.Seconds()) },
	}
}

// PBXs builds each tenant's AMI runner (Options.NewPBX). Tenants with
// AMI address "sim" get an in-process simulated PBX on a loopback port, so
// the path is the real one (TCP, AMI bytes, model).
type PBXs struct {
	ctx     context.Context
	log     *slog.Logger
	metrics *amiMetrics

	mu      sync.Mutex
	sims    map[string]*sim.Server
	amiCfg  map[string]ami.Config
	objects map[string]*ami.Objects
}

// NewPBXs returns a factory without tenants; its simulated PBXs run until
// ctx ends or Close. Its AMI collectors (ctiws_ami_*) are registered on reg
// (nil: none).
func NewPBXs(ctx context.Context, log *slog.Logger, reg prometheus.Registerer) *PBXs {
	return &PBXs{ctx: ctx, log: log, metrics: newAMIMetrics(reg), sims: map[string]*sim.Server{},
		amiCfg: map[string]ami.Config{}, objects: map[string]*ami.Objects{}}
}

// Add prepares a tenant's AMI side (objects file, simulated PBX). An
// objects file that cannot be loaded is an ErrObjectsFile.
func (f *PBXs) Add(t *Tenant) error {
	var objs *ami.Objects
	if t.ObjectsFile != "" {
		o, err := ami.LoadObjects(t.ObjectsFile)
		if err != nil {
			return fmt.Errorf("tenant %s: %w: %w", t.ID, ErrObjectsFile, err)
		}
		objs = o
	}
	ac := ami.Config{Address: t.AMI.Address, Username: t.AMI.Username, Secret: t.AMI.Secret, Tenant: t.ID}
	var s *sim.Server
	if t.AMI.Address == "sim" {
		sc := simConfigFor(t)
		s = sim.New(sc, f.log.With("tenant", t.ID))
		addr, err := s.Listen(f.ctx, "127.0.0.1:0")
		if err != nil {
			return fmt.Errorf("tenant %s: start simulated PBX: %w", t.ID, err)
		}
		ac.Address, ac.Username, ac.Secret = addr.String(), sc.Username, sc.Secret
		f.log.Info("simulated PBX started", "tenant", t.ID, "address", ac.Address, "extensions", len(sc.Extensions))
	}
	f.mu.Lock()
	if s != nil {
		f.sims[t.ID] = s
	}
	f.objects[t.ID] = objs
	f.amiCfg[t.ID] = ac
	f.mu.Unlock()
	// Every tenant is visible from the start (0 until this node owns it).
	f.metrics.connected.WithLabelValues(t.ID).Set(0)
	return nil
}

// Remove forgets a tenant (after its owner stopped) and stops its
// simulated PBX.
func (f *PBXs) Remove(id string) {
	f.mu.Lock()
	s := f.sims[id]
	delete(f.sims, id)
	delete(f.amiCfg, id)
	delete(f.objects, id)
	f.mu.Unlock()
	if s != nil {
		_ = s.Close()
	}
	f.metrics.forget(id)
}

// simConfigFor returns the simulator's default PBX with the tenant's
// extensions (when users.json has some) and throwaway credentials.
func simConfigFor(t *Tenant) sim.Config {
	sc := sim.DefaultConfig()
	var b [8]byte
	_, _ = rand.Read(b[:])
	sc.Username, sc.Secret = "ctiws", hex.EncodeToString(b[:])
	var exts []sim.Extension
	for _, u := range t.Directory.Users() {
		for _, e := range u.Extensions {
			if _, err := strconv.Atoi(e.ID); err == nil {
				exts = append(exts, sim.Extension{ID: e.ID, Name: u.Name})
			}
		}
	}
	sort.Slice(exts, func(i, j int) bool { return exts[i].ID < exts[j].ID })
	if len(exts) >= 4 {
		sc.Extensions = exts
	}
	if t.AMI.SimCallsPerSecond != nil {
		sc.CallsPerSecond = *t.AMI.SimCallsPerSecond
	}
	if t.AMI.SimSeed != 0 {
		sc.Seed = t.AMI.SimSeed
	}
	return sc
}

// NewPBX returns a runner for one ownership term of tenant t (added
// before), with t's directory.
func (f *PBXs) NewPBX(t *Tenant) PBX {
	f.mu.Lock()
	ac, objs := f.amiCfg[t.ID], f.objects[t.ID]
	f.mu.Unlock()
	return ami.NewRunner(ac, t.Directory, objs, f.log, f.metrics.hooks(t.ID))
}

// Close stops the simulated PBXs.
func (f *PBXs) Close() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, s := range f.sims {
		_ = s.Close()
	}
}
