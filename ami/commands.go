package ami

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/ctiws/ctiws/cluster"
	"github.com/ctiws/ctiws/pbx"
)

// Do carries out a command on the PBX and returns its result data (nil
// for most commands; {"uniqueid": …} for a call):
//
//   - Presence: status dnd | online | callforward | voicemail | cellphone,
//     written with DBPut/DBDel on DND/<ext> and CF/<ext> (voicemail →
//     "vmu<ext>", cellphone → the user's cellphone or "to"); the
//     Custom:DND<ext> device state is set too (best effort);
//   - QueueLogin / QueueLogout: QueueAdd (and QueuePause false) /
//     QueueRemove on the queues where the extension is a dynamic member
//     (or only "queue");
//   - the call control commands of control.go (call, hangup, transfers,
//     park, pickups, recording, intrude/listen).
//
// For presence and queues the model is updated (our own DB actions raise
// no AMI event) and the resulting change events are emitted through Run
// before Do returns. Refusals wrap cluster.ErrCommandInvalid, …Forbidden
// or …NotFound; the user hooks (UserLoggedIn/Out) belong to the owner.
func (r *Runner) Do(ctx context.Context, c cluster.Command) (json.RawMessage, error) {
	args, err := pbx.DecodeCommand(c.Name, c.Args)
	if err != nil {
		return nil, fmt.Errorf("ami: %w", err)
	}
	conn := r.getConn()
	if conn == nil {
		return nil, ErrNotConnected
	}
	switch a := args.(type) {
	case pbx.Presence:
		return nil, r.presence(ctx, conn, a)
	case pbx.QueueLogin:
		return nil, r.queueLog(ctx, conn, a.Exten, a.Queue, true)
	case pbx.QueueLogout:
		return nil, r.queueLog(ctx, conn, a.Exten, a.Queue, false)
	case pbx.UserLoggedIn, pbx.UserLoggedOut:
		return nil, fmt.Errorf("ami: %s is carried out by the owner, not the PBX: %w", c.Name, cluster.ErrCommandInvalid)
	}
	return r.control(ctx, conn, c.User, args)
}

// dbWrite is one AstDB change: val "" deletes.
type dbWrite struct{ family, key, val string }

func (r *Runner) presence(ctx context.Context, conn *Conn, a pbx.Presence) error {
	if !pbx.ValidID(a.Exten) {
		return fmt.Errorf("ami: presence: bad extension %q: %w", safeName(a.Exten), cluster.ErrCommandInvalid)
	}
	m := r.model
	m.mu.Lock()
	_, known := m.exts[a.Exten]
	u, _ := m.dir.OwnerOf(a.Exten)
	m.mu.Unlock()
	if !known {
		return fmt.Errorf("ami: presence: unknown extension %q: %w", a.Exten, cluster.ErrCommandNotFound)
	}
	var writes []dbWrite
	switch a.Status {
	case "dnd":
		writes = []dbWrite{{"DND", a.Exten, "YES"}, {"CF", a.Exten, ""}}
	case "online":
		writes = []dbWrite{{"DND", a.Exten, ""}, {"CF", a.Exten, ""}}
	case "callforward":
		// The node validated the number; the owner checks again, since a
		// command may come from any node (or anything that can write to
		// the command stream).
		if !pbx.ValidNumber(a.To) {
			return fmt.Errorf("ami: presence callforward: \"to\" is not a valid number: %w", cluster.ErrCommandInvalid)
		}
		writes = []dbWrite{{"DND", a.Exten, ""}, {"CF", a.Exten, a.To}}
	case "voicemail":
		writes = []dbWrite{{"DND", a.Exten, ""}, {"CF", a.Exten, "vmu" + a.Exten}}
	case "cellphone":
		// Always the cellphone of the extension's user in users.json,
		// never a number from the request.
		to := ""
		if u != nil {
			to = pbx.NormaliseNumber(u.Cellphone)
		}
		if !pbx.ValidNumber(to) {
			return fmt.Errorf("ami: presence cellphone: no valid cellphone number for %s", a.Exten)
		}
		writes = []dbWrite{{"DND", a.Exten, ""}, {"CF", a.Exten, to}}
	default:
		return fmt.Errorf("ami: presence: unknown status %q: %w", safeName(a.Status), cluster.ErrCommandInvalid)
	}
	for _, w := range writes {
		name, kv := "DBDel", []string{"Family", w.family, "Key", w.key}
		if w.val != "" {
			name, kv = "DBPut", append(kv, "Val", w.val)
		}
		resp, err := do(ctx, conn, name, kv...)
		if err != nil {
			return fmt.Errorf("ami: presence %s: %w", a.Status, err)
		}
		if err := resp.Err(); err != nil && w.val != "" {
			return fmt.Errorf("ami: presence %s: DBPut %s/%s: %w", a.Status, w.family, w.key, err)
		}
		// A DBDel of a missing key fails harmlessly.
	}
	state := "NOT_INUSE"
	if a.Status == "dnd" {
		state = "BUSY"
	}
	if resp, err := do(ctx, conn, "Command", "Command", "devstate change Custom:DND"+a.Exten+" "+state); err != nil {
		return fmt.Errorf("ami: presence %s: %w", a.Status, err)
	} else if err := resp.Err(); err != nil {
		r.log.Debug("ami: devstate change refused", "err", err)
	}
	return r.apply(ctx, conn, func() []cluster.Event {
		return m.update(func() {
			for _, w := range writes {
				m.setDB(w.family, w.key, w.val)
			}
		})
	})
}

func (r *Runner) queueLog(ctx context.Context, conn *Conn, exten, queue string, login bool) error {
	a := pbx.QueueLogin{Exten: exten, Queue: queue}
	if !pbx.ValidID(a.Exten) || (a.Queue != "" && !pbx.ValidID(a.Queue)) {
		return fmt.Errorf("ami: queue login/logout: bad extension or queue id: %w", cluster.ErrCommandInvalid)
	}
	m := r.model
	m.mu.Lock()
	var queues []string
	if m.objs != nil {
		for id, q := range m.objs.Queues {
			if (a.Queue == "" || a.Queue == id) && slices.Contains(q.DynMembers, a.Exten) {
				queues = append(queues, id)
			}
		}
	}
	name := m.extName(a.Exten)
	m.mu.Unlock()
	if len(queues) == 0 {
		return fmt.Errorf("ami: extension %s is not a dynamic member of %s: %w", a.Exten, orAll(a.Queue), cluster.ErrCommandForbidden)
	}
	sort.Strings(queues)
	iface := "Local/" + a.Exten + "@from-queue/n"
	for _, q := range queues {
		if login {
			if err := queueAction(ctx, conn, "already there", "QueueAdd", "Queue", q, "Interface", iface, "MemberName", name,
				"StateInterface", "PJSIP/"+a.Exten, "Paused", "false"); err != nil {
				return err
			}
			// Unpause in case the member was already there, paused.
			if err := queueAction(ctx, conn, "", "QueuePause", "Queue", q, "Interface", iface, "Paused", "false"); err != nil {
				r.log.Debug("ami: queue unpause refused", "queue", q, "err", err)
			}
		} else {
			if err := queueAction(ctx, conn, "not there", "QueueRemove", "Queue", q, "Interface", iface); err != nil {
				return err
			}
		}
	}
	return r.apply(ctx, conn, func() []cluster.Event {
		return m.update(func() {
			for _, id := range queues {
				q := m.queueFor(id)
				if q == nil {
					continue
				}
				mem := q.obj.Members[a.Exten]
				mem.Member, mem.Queue, mem.Name = a.Exten, id, m.extName(a.Exten)
				if mem.Type == "" {
					mem.Type = "dynamic"
				}
				mem.LoggedIn = login
				if mem.Paused {
					m.pauseChange(&mem, false, "")
				}
				m.setMember(q, mem)
			}
		})
	})
}

// queueAction runs a queue action; an error answer containing tolerate
// (e.g. "already there") counts as success.
func queueAction(ctx context.Context, conn *Conn, tolerate, name string, kv ...string) error {
	resp, err := do(ctx, conn, name, kv...)
	if err != nil {
		return fmt.Errorf("ami: %s: %w", name, err)
	}
	if err := resp.Err(); err != nil {
		if tolerate != "" && strings.Contains(strings.ToLower(err.Error()), tolerate) {
			return nil
		}
		return fmt.Errorf("ami: %s: %w", name, err)
	}
	return nil
}

func orAll(q string) string {
	if q == "" {
		return "any queue"
	}
	return "queue " + q
}
