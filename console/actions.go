package console

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/ctiws/ctiws/cluster"
)

// Actions an operator can take; each is confirmed, carried out and
// written to the audit log.
const (
	ActDrain      = "drain"
	ActDisconnect = "disconnect"
	ActRevoke     = "revoke"
	// ActHandOver hands a tenant's PBX to a chosen node: its owner steps
	// down and the chosen node takes the lease at once.
	ActHandOver = "handover"
	// actTakeOver is the request that wakes a hand-over's target (no
	// console form: the console queues it with ActHandOver).
	actTakeOver = "takeover"
	// ActTrace is audited when a trace starts (it is no POST).
	ActTrace = "trace"
)

// auditShown is how many audit entries the audit page shows.
const auditShown = 200

// AuditEntry is one line of the audit log: who did what, when, from where,
// through which node, and how it went.
type AuditEntry struct {
	Time   time.Time `json:"time"`
	User   string    `json:"user"`
	From   string    `json:"from"`
	Node   string    `json:"node"`
	Action string    `json:"action"`
	Target string    `json:"target"`
	Result string    `json:"result"`
}

// nodeRequest is what a node is asked to do (cluster.Console.Request).
type nodeRequest struct {
	Action string `json:"action"`
	Tenant string `json:"tenant,omitempty"`
	User   string `json:"user,omitempty"`
	// To is a hand-over's target node.
	To string `json:"to,omitempty"`
	By string `json:"by"`
}

// NodeActions are what this node does when asked through the store.
type NodeActions struct {
	// Drain makes the node not ready, hands its PBXs over and closes its
	// sockets in batches; the process stays up (stop it as usual).
	Drain func()
	// Disconnect closes this node's sockets of a tenant's user and says
	// how many.
	Disconnect func(tenant, user string) int
	// HandOver hands a tenant this node owns to node to: the lease is
	// reserved for to, then released (ownership.Set.HandOver). It returns
	// the lease handed over.
	HandOver func(ctx context.Context, tenant, to string) (cluster.Lease, error)
	// TakeOver makes this node's owner of a tenant try to take the lease
	// at once and for a few seconds (ownership.Set.Wake): the node is a
	// hand-over's target.
	TakeOver func(tenant string) error
}

type confirmView struct {
	Action, Node, Tenant, User, What string
}

// action handles POST /console/action/{action}: without confirm=yes it
// shows what would happen and asks; with it, it acts and audits.
func (c *Console) action(w http.ResponseWriter, r *http.Request, ss session) {
	act := r.PathValue("action")
	v := confirmView{Action: act, Node: r.PostFormValue("node"), Tenant: r.PostFormValue("tenant"), User: strings.ToLower(r.PostFormValue("user"))}
	switch {
	case act == ActDrain && v.Node != "":
		v.What = "Drain node " + v.Node + ": it stops being ready, hands its PBX links to other nodes and closes its sockets in batches (clients reconnect elsewhere). The process keeps running until it is stopped."
	case act == ActDisconnect && v.Tenant != "" && v.User != "":
		v.What = "Disconnect every socket of " + v.User + " (tenant " + v.Tenant + ") on every node. The clients reconnect and log in again if their token is still valid."
	case act == ActRevoke && v.Tenant != "" && v.User != "":
		v.What = "Revoke every token of " + v.User + " (tenant " + v.Tenant + ") and disconnect their sockets: the user must log in again with their password."
	case act == ActHandOver && v.Tenant != "" && v.Node != "":
		v.What = "Hand tenant " + v.Tenant + "'s PBX to node " + v.Node + ": its owner closes the AMI link and releases the lease, which is kept for " + v.Node + " for a few seconds; " + v.Node + " takes it at once and connects to the PBX (the clients get a fresh state)."
	default:
		http.Error(w, "unknown action or missing target", http.StatusBadRequest)
		return
	}
	ctx, cancel := timeout(r)
	defer cancel()
	confirmed := r.PostFormValue("confirm") == "yes"
	if act == ActHandOver {
		if _, err := c.handOverCheck(ctx, v.Tenant, v.Node); err != nil {
			if confirmed {
				c.auditAction(ctx, r, ss, act, handOverTarget(v.Tenant, v.Node), "refused: "+err.Error())
			}
			http.Error(w, "refused: "+err.Error(), http.StatusConflict)
			return
		}
	}
	if !confirmed {
		c.render(w, "confirm", http.StatusOK, c.pageOf(ss, "Confirm", v))
		return
	}
	target, result := c.act(ctx, ss, v)
	c.auditAction(ctx, r, ss, act, target, result)
	http.Redirect(w, r, Prefix+"audit", http.StatusSeeOther)
}

// auditAction logs and audits an action taken through this console.
func (c *Console) auditAction(ctx context.Context, r *http.Request, ss session, act, target, result string) {
	e := AuditEntry{Time: c.opt.Now().UTC(), User: ss.User, From: clientAddr(r, c.opt.TrustedProxies), Node: c.opt.Node,
		Action: act, Target: target, Result: result}
	c.log.Info("console action", "user", e.User, "from", e.From, "action", e.Action, "target", e.Target, "result", e.Result)
	if err := c.audit(ctx, e); err != nil {
		c.log.Error("console audit entry not stored", "err", err, "action", e.Action, "target", e.Target)
	}
}

// handOverTarget is a hand-over's target in the audit log.
func handOverTarget(tenant, node string) string { return tenant + " → " + node }

// handOverCheck says why tenant cannot be handed to node, if so, and
// returns its current lease: node must be live, ready and not draining,
// serve the tenant, and the tenant must be owned by another node. Both
// nodes must write status records: a node without one (console off) takes
// no console requests.
func (c *Console) handOverCheck(ctx context.Context, tenant, node string) (cluster.Lease, error) {
	b := c.opt.Backend
	if b.Ownership == nil || b.Sessions == nil || b.Console == nil {
		return cluster.Lease{}, errors.New("the store keeps no leases or console requests")
	}
	live, err := b.Sessions.Nodes(ctx)
	if err != nil {
		return cluster.Lease{}, fmt.Errorf("live nodes: %w", err)
	}
	recs, err := b.Console.Statuses(ctx)
	if err != nil {
		return cluster.Lease{}, fmt.Errorf("node status: %w", err)
	}
	raw, hasStatus := recs[node]
	isLive := slices.Contains(live, node)
	var st NodeStatus
	switch {
	case !isLive && !hasStatus:
		return cluster.Lease{}, fmt.Errorf("unknown node %q: no live node of that name", node)
	case !isLive:
		return cluster.Lease{}, fmt.Errorf("node %s is not ready: no heartbeat", node)
	case !hasStatus:
		return cluster.Lease{}, fmt.Errorf("node %s is not ready: it writes no status record (console off, or just started), so it takes no console requests", node)
	}
	if err := json.Unmarshal(raw, &st); err != nil {
		return cluster.Lease{}, fmt.Errorf("node %s: status record: %w", node, err)
	}
	switch {
	case st.Draining:
		return cluster.Lease{}, fmt.Errorf("node %s is draining", node)
	case st.StoreErr != "":
		return cluster.Lease{}, fmt.Errorf("node %s is not ready: it cannot reach the store (%s)", node, st.StoreErr)
	case !slices.ContainsFunc(st.Tenants, func(tn TenantOnNode) bool { return tn.ID == tenant }):
		return cluster.Lease{}, fmt.Errorf("node %s does not serve tenant %s", node, tenant)
	}
	l, owned, err := b.Ownership.Owner(ctx, tenant)
	switch {
	case err != nil:
		return cluster.Lease{}, fmt.Errorf("lease of %s: %w", tenant, err)
	case !owned:
		return cluster.Lease{}, fmt.Errorf("tenant %s is not owned by any node: nothing to hand over", tenant)
	case l.Node == node:
		return cluster.Lease{}, fmt.Errorf("node %s already owns tenant %s", node, tenant)
	}
	if _, ok := recs[l.Node]; !ok {
		return cluster.Lease{}, fmt.Errorf("the owner %s writes no status record (console off, or an older version), so it takes no console requests", l.Node)
	}
	return l, nil
}

// act carries an action out and says on what and how it went.
func (c *Console) act(ctx context.Context, ss session, v confirmView) (target, result string) {
	b := c.opt.Backend
	if b.Console == nil {
		return v.Node, "error: the store keeps no console requests"
	}
	switch v.Action {
	case ActDrain:
		if err := c.request(ctx, v.Node, nodeRequest{Action: ActDrain, By: ss.User}); err != nil {
			return v.Node, "error: " + err.Error()
		}
		return v.Node, "requested"
	case ActHandOver:
		target = handOverTarget(v.Tenant, v.Node)
		l, err := c.handOverCheck(ctx, v.Tenant, v.Node)
		if err != nil {
			return target, "refused: " + err.Error()
		}
		// The target first: it then tries as soon as the owner lets go,
		// whichever node takes its requests first.
		if err := c.request(ctx, v.Node, nodeRequest{Action: actTakeOver, Tenant: v.Tenant, By: ss.User}); err != nil {
			return target, "error: " + err.Error()
		}
		if err := c.request(ctx, l.Node, nodeRequest{Action: ActHandOver, Tenant: v.Tenant, To: v.Node, By: ss.User}); err != nil {
			return target, "error: " + err.Error()
		}
		return target, fmt.Sprintf("requested of the owner %s (epoch %d)", l.Node, l.Epoch)
	case ActRevoke:
		target = v.Tenant + "/" + v.User
		if b.Tokens == nil {
			return target, "error: no token store"
		}
		n, err := b.Tokens.RevokeUser(ctx, v.Tenant, v.User, c.opt.Now())
		if err != nil {
			return target, "error: " + err.Error()
		}
		result = fmt.Sprintf("revoked (%d persistent tokens deleted); ", n)
	case ActDisconnect:
		target = v.Tenant + "/" + v.User
	}
	nodes, err := b.Sessions.Nodes(ctx)
	if err != nil {
		return target, result + "error: live nodes: " + err.Error()
	}
	for _, n := range nodes {
		if err := c.request(ctx, n, nodeRequest{Action: ActDisconnect, Tenant: v.Tenant, User: v.User, By: ss.User}); err != nil {
			return target, result + "error: " + err.Error()
		}
	}
	return target, result + fmt.Sprintf("disconnect requested on %d nodes", len(nodes))
}

func (c *Console) request(ctx context.Context, node string, req nodeRequest) error {
	b, err := json.Marshal(req)
	if err != nil {
		return err
	}
	return c.opt.Backend.Console.Request(ctx, node, b)
}

func (c *Console) audit(ctx context.Context, e AuditEntry) error {
	if c.opt.Backend.Console == nil {
		return nil
	}
	b, err := json.Marshal(e)
	if err != nil {
		return err
	}
	return c.opt.Backend.Console.Audit(ctx, b, c.opt.AuditMax)
}

// serveRequests carries out the requests queued for this node and audits
// what they did.
func (c *Console) serveRequests(ctx context.Context) {
	reqs, err := c.opt.Backend.Console.TakeRequests(ctx, c.opt.Node)
	if err != nil {
		c.log.Warn("console requests not read", "err", err)
		return
	}
	for _, raw := range reqs {
		var q nodeRequest
		if err := json.Unmarshal(raw, &q); err != nil {
			c.log.Warn("console request dropped", "err", err)
			continue
		}
		e := AuditEntry{Time: c.opt.Now().UTC(), User: q.By, From: "node " + c.opt.Node, Node: c.opt.Node, Action: q.Action}
		switch q.Action {
		case ActDrain:
			e.Target, e.Result = c.opt.Node, "draining"
			if c.opt.Actions.Drain == nil {
				e.Result = "error: this node cannot drain"
			} else if !c.opt.Draining() {
				go c.opt.Actions.Drain()
			}
		case ActDisconnect:
			e.Target = q.Tenant + "/" + q.User
			if c.opt.Actions.Disconnect == nil {
				e.Result = "error: this node cannot disconnect"
				break
			}
			n := c.opt.Actions.Disconnect(q.Tenant, q.User)
			if n == 0 {
				continue // nothing here: no entry for every node
			}
			e.Result = fmt.Sprintf("%d sockets closed", n)
		case ActHandOver:
			e.Target = handOverTarget(q.Tenant, q.To)
			if c.opt.Actions.HandOver == nil {
				e.Result = "error: this node cannot hand over"
				break
			}
			l, err := c.opt.Actions.HandOver(ctx, q.Tenant, q.To)
			if err != nil {
				e.Result = "error: " + err.Error()
				break
			}
			e.Result = fmt.Sprintf("lease epoch %d released, kept for %s", l.Epoch, q.To)
		case actTakeOver:
			e.Target = handOverTarget(q.Tenant, c.opt.Node)
			e.Result = "taking the lease"
			if c.opt.Actions.TakeOver == nil {
				e.Result = "error: this node cannot take over"
			} else if err := c.opt.Actions.TakeOver(q.Tenant); err != nil {
				e.Result = "error: " + err.Error()
			}
		default:
			continue
		}
		c.log.Info("console request carried out", "user", e.User, "action", e.Action, "target", e.Target, "result", e.Result)
		if err := c.audit(ctx, e); err != nil {
			c.log.Error("console audit entry not stored", "err", err)
		}
	}
}

type auditView struct {
	Entries []AuditEntry
	Err     string
}

func (c *Console) auditPage(w http.ResponseWriter, r *http.Request, ss session) {
	ctx, cancel := timeout(r)
	defer cancel()
	var v auditView
	if c.opt.Backend.Console != nil {
		raw, err := c.opt.Backend.Console.AuditLog(ctx, auditShown)
		if err != nil {
			v.Err = err.Error()
		}
		for _, b := range raw {
			var e AuditEntry
			if json.Unmarshal(b, &e) == nil {
				v.Entries = append(v.Entries, e)
			}
		}
	}
	c.render(w, "audit", http.StatusOK, c.pageOf(ss, "Audit log", v))
}
