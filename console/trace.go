package console

import (
	"context"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/ctiws/ctiws/cluster"
)

// TraceFunc hands fn, until ctx ends, the frames this node builds for a
// socket of the tenant's user, each with the bus event that caused it
// (nil when none), masked as with privacy on when masked is set (ws's
// Server.Trace). fn must not block.
type TraceFunc func(ctx context.Context, tenant, user string, masked bool, fn func(frame []byte, cause *cluster.Event)) error

// traceLine is one traced frame as the page shows it.
type traceLine struct {
	Kind    string    `json:"kind"`
	Time    time.Time `json:"time"`
	Name    string    `json:"name"`
	Frame   string    `json:"data"`
	Cause   string    `json:"cause,omitempty"`
	Dropped int64     `json:"dropped,omitempty"`
}

type traceView struct {
	Tenant, User string
	Users        []string
	Masked       bool
}

func (c *Console) tracePage(w http.ResponseWriter, r *http.Request, ss session) {
	tenant, user := r.PathValue("tenant"), r.PathValue("user")
	if q := r.URL.Query().Get("user"); q != "" && user == "" {
		http.Redirect(w, r, Prefix+"trace/"+tenant+"/"+q, http.StatusSeeOther)
		return
	}
	dir, _, ok := c.opt.Directory(tenant)
	if !ok || dir == nil {
		http.NotFound(w, r)
		return
	}
	v := traceView{Tenant: tenant, User: user, Masked: !c.unmasked[ss.User]}
	for _, u := range dir.Users() {
		v.Users = append(v.Users, u.Username)
	}
	if user != "" {
		if _, ok := dir.User(user); !ok {
			http.NotFound(w, r)
			return
		}
	}
	c.render(w, "trace", http.StatusOK, c.pageOf(ss, "Trace "+user, v))
}

// traceEvents streams the trace of one user.
func (c *Console) traceEvents(w http.ResponseWriter, r *http.Request, ss session) {
	tenant, user := r.PathValue("tenant"), r.PathValue("user")
	if c.opt.Trace == nil {
		http.NotFound(w, r)
		return
	}
	if dir, _, ok := c.opt.Directory(tenant); !ok || dir == nil {
		http.NotFound(w, r)
		return
	} else if _, ok := dir.User(user); !ok {
		http.NotFound(w, r)
		return
	}
	masked := !c.unmasked[ss.User]
	// Seeing a user's frames is an action of its own: audited.
	e := AuditEntry{Time: c.opt.Now().UTC(), User: ss.User, From: clientAddr(r, c.opt.TrustedProxies), Node: c.opt.Node,
		Action: ActTrace, Target: tenant + "/" + strings.ToLower(user), Result: "started, numbers unmasked"}
	if masked {
		e.Result = "started, numbers masked"
	}
	c.log.Info("console trace", "user", e.User, "from", e.From, "target", e.Target, "result", e.Result)
	actx, cancel := timeout(r)
	if err := c.audit(actx, e); err != nil {
		c.log.Error("console audit entry not stored", "err", err, "action", e.Action, "target", e.Target)
	}
	cancel()
	c.stream(w, r, func(ctx context.Context, send func(any)) error {
		ch := make(chan traceLine, liveBuffer)
		var dropped atomic.Int64
		err := c.opt.Trace(ctx, tenant, user, masked, func(frame []byte, cause *cluster.Event) {
			l := traceLine{Kind: "frame", Time: time.Now(), Name: frameName(frame), Frame: string(frame)}
			if cause != nil {
				l.Cause = cause.Name
				if cause.Key != "" {
					l.Cause += " " + cause.Key
				}
				if cause.Seq != 0 {
					l.Cause += " #" + itoa(cause.Seq)
				}
			}
			select {
			case ch <- l:
			default:
				dropped.Add(1)
			}
		})
		if err != nil {
			return err
		}
		for {
			select {
			case <-ctx.Done():
				return nil
			case l := <-ch:
				l.Dropped = dropped.Swap(0)
				send(l)
			}
		}
	})
}

// frameName is the event name of a Socket.IO event frame (42["name",…]).
func frameName(f []byte) string {
	s, ok := strings.CutPrefix(string(f), `42["`)
	if !ok {
		return ""
	}
	name, _, _ := strings.Cut(s, `"`)
	return name
}

func itoa(n uint64) string {
	var b [20]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
		if n == 0 {
			return string(b[i:])
		}
	}
}
