package console

import (
	"context"
	"fmt"
	"net/http"
	"slices"
)

// nodeRow is one live node on the cluster page.
type nodeRow struct {
	ID   string
	Self bool
}

// tenantRow is one tenant on the cluster page: who owns its PBX.
type tenantRow struct {
	ID    string
	Owner string
	Epoch uint64
	Err   string
}

// clusterView is what the cluster page shows.
type clusterView struct {
	Nodes   []nodeRow
	Tenants []tenantRow
	Err     string
}

// clusterOf reads the live nodes and each tenant's lease from the store.
func (c *Console) clusterOf(ctx context.Context) clusterView {
	var v clusterView
	b := c.opt.Backend
	if b.Sessions != nil {
		nodes, err := b.Sessions.Nodes(ctx)
		if err != nil {
			v.Err = fmt.Sprintf("nodes: %v", err)
		}
		for _, n := range nodes {
			v.Nodes = append(v.Nodes, nodeRow{ID: n, Self: n == c.opt.Node})
		}
	}
	tenants := slices.Sorted(slices.Values(c.opt.Tenants()))
	for _, t := range tenants {
		row := tenantRow{ID: t}
		if b.Ownership != nil {
			l, ok, err := b.Ownership.Owner(ctx, t)
			switch {
			case err != nil:
				row.Err = err.Error()
			case ok:
				row.Owner, row.Epoch = l.Node, l.Epoch
			}
		}
		v.Tenants = append(v.Tenants, row)
	}
	return v
}

func (c *Console) clusterPage(w http.ResponseWriter, r *http.Request, ss session) {
	ctx, cancel := timeout(r)
	defer cancel()
	c.render(w, "cluster", http.StatusOK, c.pageOf(ss, "Cluster", c.clusterOf(ctx)))
}
