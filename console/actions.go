package console

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// Actions an operator can take; each is confirmed, carried out and
// written to the audit log.
const (
	ActDrain      = "drain"
	ActDisconnect = "disconnect"
	ActRevoke     = "revoke"
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
	By     string `json:"by"`
}

// NodeActions are what this node does when asked through the store.
type NodeActions struct {
	// Drain makes the node not ready, hands its PBXs over and closes its
	// sockets in batches; the process stays up (stop it as usual).
	Drain func()
	// Disconnect closes this node's sockets of a tenant's user and says
	// how many.
	Disconnect func(tenant, user string) int
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
	default:
		http.Error(w, "unknown action or missing target", http.StatusBadRequest)
		return
	}
	if r.PostFormValue("confirm") != "yes" {
		c.render(w, "confirm", http.StatusOK, c.pageOf(ss, "Confirm", v))
		return
	}
	ctx, cancel := timeout(r)
	defer cancel()
	target, result := c.act(ctx, ss, v)
	e := AuditEntry{Time: c.opt.Now().UTC(), User: ss.User, From: clientAddr(r, c.opt.TrustedProxies), Node: c.opt.Node,
		Action: act, Target: target, Result: result}
	c.log.Info("console action", "user", e.User, "from", e.From, "action", e.Action, "target", e.Target, "result", e.Result)
	if err := c.audit(ctx, e); err != nil {
		c.log.Error("console audit entry not stored", "err", err, "action", e.Action, "target", e.Target)
	}
	http.Redirect(w, r, Prefix+"audit", http.StatusSeeOther)
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
