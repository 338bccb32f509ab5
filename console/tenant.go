package console

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/ctiws/ctiws/cluster"
	"github.com/ctiws/ctiws/directory"
	"github.com/ctiws/ctiws/pbx"
)

// objectKinds are the PBX objects the tenant page lists, as the REST
// snapshot has them.
var objectKinds = []struct{ Title, Prefix string }{
	{"Extensions", pbx.KeyExten}, {"Queues", pbx.KeyQueue}, {"Trunks", pbx.KeyTrunk},
	{"Parkings", pbx.KeyParking}, {"Conferences", pbx.KeyConf},
}

// userRow is one user of a tenant: devices, presence and sockets.
type userRow struct {
	Username, Name, Main string
	Devices              []string
	Presence             string
	Sockets              []cluster.Session
}

type objectRow struct {
	Key, ID, Summary, JSON string
}

type objectGroup struct {
	Title   string
	Objects []objectRow
}

// tenantView is what the tenant page shows.
type tenantView struct {
	ID      string
	Served  bool // this node serves it (its users are known here)
	Users   []userRow
	Objects []objectGroup
	Seq     uint64
	Err     []string
}

// knownTenant reports whether id is a tenant of this node or of any
// node's status record: the console never reads a store key of a tenant
// nobody serves.
func (c *Console) knownTenant(ctx context.Context, id string) bool {
	if slices.Contains(c.opt.Tenants(), id) {
		return true
	}
	v := c.clusterOf(ctx, false)
	return slices.ContainsFunc(v.Tenants, func(t tenantRow) bool { return t.ID == id })
}

// privacyOf is the privacy string the console masks a tenant's numbers
// with for ss: none for console users given the right.
func (c *Console) privacyOf(ss session, tenant string) string {
	if c.unmasked[ss.User] {
		return ""
	}
	if _, priv, ok := c.opt.Directory(tenant); ok {
		return priv
	}
	return "xxx"
}

func (c *Console) tenantPage(w http.ResponseWriter, r *http.Request, ss session) {
	id := r.PathValue("id")
	ctx, cancel := timeout(r)
	defer cancel()
	if !c.knownTenant(ctx, id) {
		http.NotFound(w, r)
		return
	}
	v := tenantView{ID: id}
	priv := c.privacyOf(ss, id)
	b := c.opt.Backend
	exts := map[string]pbx.Extension{}
	for _, k := range objectKinds {
		g := objectGroup{Title: k.Title}
		if b.Bus != nil {
			objs, seq, err := b.Bus.State(ctx, id, k.Prefix)
			if err != nil {
				v.Err = append(v.Err, fmt.Sprintf("%s: %v", k.Title, err))
			}
			v.Seq = max(v.Seq, seq)
			for _, o := range objs {
				if k.Prefix == pbx.KeyExten {
					var e pbx.Extension
					if json.Unmarshal(o.Data, &e) == nil {
						exts[e.Exten] = e
					}
				}
				g.Objects = append(g.Objects, objectRow{Key: o.Key, ID: strings.TrimPrefix(o.Key, k.Prefix),
					Summary: summary(o.Data), JSON: indent(masked(o.Key, o.Data, priv))})
			}
		}
		slices.SortFunc(g.Objects, func(a, b objectRow) int { return strings.Compare(a.Key, b.Key) })
		v.Objects = append(v.Objects, g)
	}
	if dir, _, ok := c.opt.Directory(id); ok && dir != nil {
		v.Served = true
		v.Users = c.usersOf(ctx, id, dir, exts, &v.Err)
	}
	c.render(w, "tenant", http.StatusOK, c.pageOf(ss, "Tenant "+id, v))
}

// usersOf lists the tenant's users with their presence (from the main
// extension's state) and their sockets anywhere in the cluster.
func (c *Console) usersOf(ctx context.Context, tenant string, dir *directory.Directory, exts map[string]pbx.Extension, errs *[]string) []userRow {
	var out []userRow
	for _, u := range dir.Users() {
		row := userRow{Username: u.Username, Name: u.Name, Main: u.MainExtension}
		for _, e := range u.Extensions {
			row.Devices = append(row.Devices, e.ID)
		}
		row.Presence = presence(exts[u.MainExtension])
		if c.opt.Backend.Sessions != nil {
			ss, err := c.opt.Backend.Sessions.UserSessions(ctx, tenant, strings.ToLower(u.Username))
			if err != nil {
				*errs = append(*errs, fmt.Sprintf("sockets of %s: %v", u.Username, err))
				break
			}
			slices.SortFunc(ss, cluster.CompareSessions)
			row.Sockets = ss
		}
		out = append(out, row)
	}
	return out
}

// presence is an extension's state as a user would read it.
func presence(e pbx.Extension) string {
	if e.Exten == "" {
		return "—"
	}
	p := e.Status
	if e.DND {
		p += ", dnd"
	}
	if e.CF != "" || e.CFU != "" || e.CFB != "" {
		p += ", forwarded"
	}
	return p
}

// summary is a one-line description of an object: its name and status.
func summary(data []byte) string {
	var v struct{ Name, Status string }
	_ = json.Unmarshal(data, &v)
	return strings.TrimSpace(strings.Join(slices.DeleteFunc([]string{v.Name, v.Status}, func(s string) bool { return s == "" }), " · "))
}

func indent(b []byte) string {
	var out bytes.Buffer
	if json.Indent(&out, b, "", "  ") != nil {
		return string(b)
	}
	return out.String()
}
