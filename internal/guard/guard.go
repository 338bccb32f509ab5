// Package guard contains panics: a goroutine that serves one tenant (its
// event router, its PBX owner, one of its sockets, a REST request) recovers from a panic,
// logs it with the tenant and the stack, and counts it in
// ctiws_panics_total{component,tenant}, so the process and the other
// tenants keep working.
package guard

import (
	"fmt"
	"log/slog"
	"runtime/debug"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// Components (metric label values).
const (
	Router = "router"
	Owner  = "owner"
	Socket = "socket"
	REST   = "rest"
)

// Panics counts and logs recovered panics. One value is shared by every
// part of a node (it owns the metric).
type Panics struct {
	count *prometheus.CounterVec
	log   *slog.Logger
}

// New registers ctiws_panics_total on reg.
func New(reg prometheus.Registerer, log *slog.Logger) *Panics {
	if log == nil {
		log = slog.Default()
	}
	return &Panics{
		count: promauto.With(reg).NewCounterVec(prometheus.CounterOpts{Namespace: "ctiws", Name: "panics_total",
			Help: "Panics recovered, by component and tenant; the component's work for that tenant was restarted or dropped."},
			[]string{"component", "tenant"}),
		log: log,
	}
}

// Counter returns the counter of one component and tenant (for tests).
func (p *Panics) Counter(component, tenant string) prometheus.Counter {
	return p.count.WithLabelValues(component, tenant)
}

// Recover must be deferred directly (`defer p.Recover(…)`). When the
// goroutine panics it logs and counts the panic, calls then (if not nil)
// with the panic as an error, and lets the function return normally. On a
// nil *Panics it still recovers and logs, without counting.
func (p *Panics) Recover(component, tenant string, then func(err error)) {
	v := recover()
	if v == nil {
		return
	}
	err := fmt.Errorf("panic in %s: %v", component, v)
	log := slog.Default()
	if p != nil {
		p.count.WithLabelValues(component, tenant).Inc()
		log = p.log
	}
	log.Error("panic recovered; the rest of the node keeps running", "component", component, "tenant", tenant,
		"panic", fmt.Sprint(v), "stack", string(debug.Stack()))
	if then != nil {
		then(err)
	}
}
