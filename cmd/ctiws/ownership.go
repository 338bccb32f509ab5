package main

import (
	"context"
	"errors"
	"log/slog"

	"github.com/ctiws/ctiws/cluster"
	"github.com/ctiws/ctiws/cmd/ctiws/internal/config"
	"github.com/ctiws/ctiws/internal/guard"
	"github.com/ctiws/ctiws/ownership"
	"github.com/prometheus/client_golang/prometheus"
)

// ownershipTenant is the owner's view of a configured tenant.
func ownershipTenant(t *config.Tenant) *ownership.Tenant {
	ot := &ownership.Tenant{
		ID:        t.ID,
		Directory: t.Directory,
		AMI: ownership.AMI{Address: t.AMI.Address, Username: t.AMI.Username, Secret: t.AMI.Secret,
			SimCallsPerSecond: t.AMI.SimCallsPerSecond, SimSeed: t.AMI.SimSeed},
		ObjectsFile: t.ObjectsFile,
	}
	for _, s := range t.Streaming {
		ot.Streams = append(ot.Streams, ownership.Stream{ID: s.ID, URL: s.URL, Framerate: s.Framerate})
	}
	return ot
}

// newPBXs prepares the AMI side of every configured tenant.
func newPBXs(ctx context.Context, cfg *config.Config, log *slog.Logger, reg prometheus.Registerer) (*ownership.PBXs, error) {
	f := ownership.NewPBXs(ctx, log, reg)
	for i := range cfg.Tenants {
		if err := addPBX(f, &cfg.Tenants[i]); err != nil {
			f.Close()
			return nil, err
		}
	}
	return f, nil
}

// addPBX prepares a tenant's AMI side; an objects file that cannot be
// loaded is a usage error.
func addPBX(f *ownership.PBXs, t *config.Tenant) error {
	err := f.Add(ownershipTenant(t))
	if errors.Is(err, ownership.ErrObjectsFile) {
		return errUsage{err}
	}
	return err
}

// tenantOwners runs the tenants' owners (ownership.Set) and keeps the
// configuration each tenant runs with, which reload compares the new one
// with. Only the serve loop uses it.
type tenantOwners struct {
	set     *ownership.Set
	configs map[string]*config.Tenant
}

// startOwners competes for the leases of the configured tenants until ctx
// ends.
func startOwners(ctx context.Context, cfg *config.Config, backend cluster.Backend, info clusterInfo, pbxs *ownership.PBXs, log *slog.Logger, reg prometheus.Registerer, panics *guard.Panics) *tenantOwners {
	o := &tenantOwners{configs: map[string]*config.Tenant{}}
	tenants := make([]*ownership.Tenant, 0, len(cfg.Tenants))
	for i := range cfg.Tenants {
		t := cfg.Tenants[i]
		o.configs[t.ID] = &t
		tenants = append(tenants, ownershipTenant(&t))
	}
	o.set = ownership.Start(ctx, ownership.Options{
		Node:       cfg.NodeID,
		Backend:    backend,
		LeaseTTL:   cfg.LeaseTTL,
		StartRate:  cfg.OwnerStartRate,
		Multi:      info.multi,
		Connected:  info.connected,
		NewPBX:     pbxs.NewPBX,
		Logger:     log,
		Registerer: reg,
		Panics:     panics,

		MaxPendingCommandsPerUser: cfg.MaxPendingCommandsPerUser,
		MaxConcurrentCommands:     cfg.MaxConcurrentCommands,
	}, tenants)
	return o
}

// add starts competing for a new tenant's lease.
func (o *tenantOwners) add(t config.Tenant) {
	if _, ok := o.configs[t.ID]; ok {
		return
	}
	o.configs[t.ID] = &t
	o.set.Add(ownershipTenant(&t))
}

// remove stops a tenant's owner and waits until it has released its lease.
func (o *tenantOwners) remove(id string) {
	o.set.Remove(id)
	delete(o.configs, id)
}

// unchanged reports whether tenant id runs with exactly this fingerprint.
func (o *tenantOwners) unchanged(id, fingerprint string) bool {
	t, ok := o.configs[id]
	return ok && fingerprint != "" && t.Fingerprint == fingerprint
}

// config returns the configuration tenant id runs with.
func (o *tenantOwners) config(id string) (*config.Tenant, bool) {
	t, ok := o.configs[id]
	return t, ok
}

// ids lists the tenants.
func (o *tenantOwners) ids() []string {
	out := make([]string, 0, len(o.configs))
	for id := range o.configs {
		out = append(out, id)
	}
	return out
}

// setDirectory passes a reloaded tenant to its owner.
func (o *tenantOwners) setDirectory(id string, t *config.Tenant) {
	if _, ok := o.configs[id]; ok {
		o.configs[id] = t
		o.set.Update(ownershipTenant(t))
	}
}

// wait returns when every owner has stopped (and released its lease).
func (o *tenantOwners) wait() { o.set.Wait() }
