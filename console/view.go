package console

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"time"
)

// nodeRow is one node on the cluster page: its status record, if any.
type nodeRow struct {
	ID    string
	Self  bool
	Live  bool // heartbeat seen (Sessions.Nodes)
	Owned []string
	NodeStatus
	HasStatus bool
}

// tenantRow is one tenant on the tenants page, merged from the lease and
// every node's record.
type tenantRow struct {
	ID      string
	Owner   string
	Epoch   uint64
	AMI     *AMIStatus
	Sockets int
	Users   int
	Nodes   []string // nodes serving it
	Err     string
	// AMIErr is the owner's last AMI error and AMIErrAt its time.
	AMIErr   string
	AMIErrAt time.Time
}

// clusterView is what the cluster and tenants pages show.
type clusterView struct {
	Nodes    []nodeRow
	Tenants  []tenantRow
	Store    string
	Schema   string
	StoreErr string
	Err      []string
	Now      time.Time
}

// clusterOf reads the live nodes, their status records and each tenant's
// lease from the store.
func (c *Console) clusterOf(ctx context.Context, withLeases bool) clusterView {
	v := clusterView{Store: c.opt.Store, Schema: c.opt.Schema, Now: c.opt.Now()}
	b := c.opt.Backend
	if b.Ready != nil {
		if err := b.Ready(ctx); err != nil {
			v.StoreErr = err.Error()
		}
	}
	rows := map[string]*nodeRow{}
	row := func(id string) *nodeRow {
		if rows[id] == nil {
			rows[id] = &nodeRow{ID: id, Self: id == c.opt.Node}
		}
		return rows[id]
	}
	if b.Sessions != nil {
		nodes, err := b.Sessions.Nodes(ctx)
		if err != nil {
			v.Err = append(v.Err, fmt.Sprintf("live nodes: %v", err))
		}
		for _, n := range nodes {
			row(n).Live = true
		}
	}
	tenants := map[string]*tenantRow{}
	trow := func(id string) *tenantRow {
		if tenants[id] == nil {
			tenants[id] = &tenantRow{ID: id}
		}
		return tenants[id]
	}
	for _, id := range c.opt.Tenants() {
		trow(id)
	}
	if b.Console != nil {
		recs, err := b.Console.Statuses(ctx)
		if err != nil {
			v.Err = append(v.Err, fmt.Sprintf("node status: %v", err))
		}
		for id, raw := range recs {
			var st NodeStatus
			if err := json.Unmarshal(raw, &st); err != nil {
				v.Err = append(v.Err, fmt.Sprintf("node %s: status record: %v", id, err))
				continue
			}
			r := row(id)
			r.NodeStatus, r.HasStatus = st, true
			for _, tn := range st.Tenants {
				t := trow(tn.ID)
				t.Sockets += tn.Sockets
				t.Users += tn.Users
				t.Nodes = append(t.Nodes, id)
				if tn.Owner {
					r.Owned = append(r.Owned, tn.ID)
					t.AMI = tn.AMI
					t.AMIErr, t.AMIErrAt = tn.LastErr, tn.LastErrAt
				}
			}
		}
	}
	for _, r := range rows {
		slices.Sort(r.Owned)
		v.Nodes = append(v.Nodes, *r)
	}
	slices.SortFunc(v.Nodes, func(a, b nodeRow) int { return cmp.Compare(a.ID, b.ID) })
	for _, t := range tenants {
		slices.Sort(t.Nodes)
		if withLeases && b.Ownership != nil {
			l, ok, err := b.Ownership.Owner(ctx, t.ID)
			switch {
			case err != nil:
				t.Err = "lease: " + err.Error()
			case ok:
				t.Owner, t.Epoch = l.Node, l.Epoch
			default:
				t.Err = "no owner"
			}
		}
		if t.Err == "" && t.AMI != nil && !t.AMI.Connected {
			t.Err = "AMI link down"
		}
		v.Tenants = append(v.Tenants, *t)
	}
	slices.SortFunc(v.Tenants, func(a, b tenantRow) int { return cmp.Compare(a.ID, b.ID) })
	return v
}

func (c *Console) clusterPage(w http.ResponseWriter, r *http.Request, ss session) {
	ctx, cancel := timeout(r)
	defer cancel()
	c.render(w, "cluster", http.StatusOK, c.pageOf(ss, "Cluster", c.clusterOf(ctx, false)))
}

func (c *Console) tenantsPage(w http.ResponseWriter, r *http.Request, ss session) {
	ctx, cancel := timeout(r)
	defer cancel()
	c.render(w, "tenants", http.StatusOK, c.pageOf(ss, "Tenants", c.clusterOf(ctx, true)))
}
