package sim

import (
	"errors"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// memberEvent builds a QueueMember* event (QueueMemberAdded, Removed,
// Pause, Status) for member m of q.
func (p *pbx) memberEvent(name string, q *queue, m *member) *Message {
	e := NewEvent(name, privAgent)
	e.Add("Queue", q.num)
	e.Add("MemberName", m.name)
	e.Add("Interface", m.iface)
	e.Add("StateInterface", m.stateIface)
	e.Add("Membership", m.membership)
	e.Add("Penalty", strconv.Itoa(m.penalty))
	e.Add("CallsTaken", strconv.Itoa(m.callsTaken))
	e.Add("LastCall", strconv.FormatInt(m.lastCall, 10))
	e.Add("LastPause", strconv.FormatInt(m.lastPause, 10))
	e.Add("LoginTime", strconv.FormatInt(m.loginTime, 10))
	e.Add("InCall", boolNum(m.inCall))
	e.Add("Status", strconv.Itoa(m.status))
	e.Add("Paused", boolNum(m.paused))
	e.Add("PausedReason", m.reason)
	e.Add("Ringinuse", "0")
	e.Add("Wrapuptime", "0")
	return e
}

func boolNum(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

func yesNo(b bool) string {
	if b {
		return "Yes"
	}
	return "No"
}

// dbKey normalises family/key into the stored form "Family/Key".
func dbKey(family, key string) string {
	family = strings.Trim(family, "/")
	key = strings.Trim(key, "/")
	if key == "" {
		return family
	}
	return family + "/" + key
}

// dbPut writes AstDB; DND/<ext> also sets Custom:DND<ext> like the FreePBX
// dialplan does.
func (p *pbx) dbPut(family, key, val string) {
	k := dbKey(family, key)
	p.db[k] = val
	p.dbEffects(k)
}

// dbDel deletes one key; false when it did not exist.
func (p *pbx) dbDel(family, key string) bool {
	k := dbKey(family, key)
	if _, ok := p.db[k]; !ok {
		return false
	}
	delete(p.db, k)
	p.dbEffects(k)
	return true
}

// dbDelTree deletes a family (or family/key subtree); it returns how many
// keys were deleted.
func (p *pbx) dbDelTree(family, key string) int {
	prefix := dbKey(family, key)
	var gone []string
	for k := range p.db {
		if k == prefix || strings.HasPrefix(k, prefix+"/") {
			gone = append(gone, k)
		}
	}
	sort.Strings(gone)
	for _, k := range gone {
		delete(p.db, k)
		p.dbEffects(k)
	}
	return len(gone)
}

// dbTree lists the keys under family (and key), sorted.
func (p *pbx) dbTree(family, key string) []string {
	prefix := dbKey(family, key)
	var out []string
	for k := range p.db {
		if prefix == "" || k == prefix || strings.HasPrefix(k, prefix+"/") {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

func (p *pbx) dbEffects(k string) {
	if id, ok := strings.CutPrefix(k, "DND/"); ok && p.exts[id] != nil {
		st := "NOT_INUSE"
		if _, on := p.db[k]; on {
			st = "BUSY"
		}
		p.setCustom("Custom:DND"+id, st)
	}
}

// Queue member errors, worded like app_queue's AMI answers.
var (
	errNoQueue     = errors.New("No such queue")
	errMemberThere = errors.New("Already there")
	errNotThere    = errors.New("Not there")
	errNotDynamic  = errors.New("Member not dynamic")
	errNoInterface = errors.New("Interface not found")
)

// memberExt extracts the extension from a member interface:
// Local/202@from-queue/n, PJSIP/202, SIP/202 → 202.
func memberExt(iface string) string {
	s := iface
	if i := strings.IndexByte(s, '/'); i >= 0 {
		s = s[i+1:]
	}
	if i := strings.IndexAny(s, "@/-"); i >= 0 {
		s = s[:i]
	}
	return s
}

func (q *queue) member(iface string) *member {
	for _, m := range q.members {
		if strings.EqualFold(m.iface, iface) {
			return m
		}
	}
	return nil
}

func (p *pbx) queueAdd(qnum, iface, name, stateIface string, penalty int, paused bool) error {
	q := p.queues[qnum]
	if q == nil {
		return errNoQueue
	}
	if q.member(iface) != nil {
		return errMemberThere
	}
	ext := memberExt(iface)
	m := p.newMember(ext, "dynamic")
	m.iface = iface
	if name != "" {
		m.name = name
	}
	if stateIface != "" {
		m.stateIface = stateIface
	}
	m.penalty = penalty
	m.paused = paused
	q.members = append(q.members, m)
	p.emit(p.memberEvent("QueueMemberAdded", q, m))
	return nil
}

func (p *pbx) queueRemove(qnum, iface string) error {
	q := p.queues[qnum]
	if q == nil {
		return errNoQueue
	}
	m := q.member(iface)
	if m == nil {
		return errNotThere
	}
	if m.membership != "dynamic" {
		return errNotDynamic
	}
	q.members = slices.DeleteFunc(q.members, func(x *member) bool { return x == m })
	p.emit(p.memberEvent("QueueMemberRemoved", q, m))
	return nil
}

// queuePause pauses iface in qnum, or in every queue when qnum is "".
func (p *pbx) queuePause(qnum, iface string, paused bool, reason string) error {
	found := false
	for _, q := range p.queueList {
		if qnum != "" && q.num != qnum {
			continue
		}
		m := q.member(iface)
		if m == nil {
			continue
		}
		found = true
		if !paused {
			reason = ""
		}
		m.paused, m.reason = paused, reason
		m.lastPause = p.unix()
		ev := p.memberEvent("QueueMemberPause", q, m)
		ev.Add("Reason", reason)
		p.emit(ev)
	}
	if !found {
		return errNoInterface
	}
	return nil
}

// contactURI is the registered contact of an extension or the trunk's
// static contact.
func (p *pbx) contactURI(e *endpoint) string {
	if e.isTrunk {
		return "sip:" + e.ip + ":" + strconv.Itoa(e.port)
	}
	return "sip:" + e.id + "@" + e.ip + ":" + strconv.Itoa(e.port) + ";ob"
}

func (p *pbx) contactID(e *endpoint) string {
	return e.id + ";@" + strconv.FormatUint(uint64(0x1f3a0000+e.idx*7919), 16)
}

func contactStatusText(e *endpoint) string {
	if e.reachable {
		return "Reachable"
	}
	return "Unreachable"
}

// contactStatusEvent builds a ContactStatus event.
func (p *pbx) contactStatusEvent(e *endpoint, status string) *Message {
	m := NewEvent("ContactStatus", privSystem)
	m.Add("URI", p.contactURI(e))
	m.Add("ContactStatus", status)
	m.Add("AOR", e.id)
	m.Add("EndpointName", e.id)
	rtt := e.rtt
	if !e.reachable {
		rtt = 0
	}
	m.Add("RoundtripUsec", strconv.Itoa(rtt))
	m.Add("UserAgent", e.ua)
	m.Add("RegExpire", strconv.FormatInt(p.regExpire(e), 10))
	m.Add("ViaAddress", e.ip+":"+strconv.Itoa(e.port))
	m.Add("CallID", e.callID)
	return m
}

func (p *pbx) regExpire(e *endpoint) int64 {
	if e.isTrunk {
		return 0
	}
	return p.unix() + 3600 - int64(e.idx%600)
}

// setReachable flips the qualify result of e: ContactStatus, PeerStatus and
// the device state change.
func (p *pbx) setReachable(e *endpoint, ok bool) {
	if e.reachable == ok {
		return
	}
	e.reachable = ok
	status := contactStatusText(e)
	p.emit(p.contactStatusEvent(e, status))
	ps := NewEvent("PeerStatus", privSystem)
	ps.Add("ChannelType", "PJSIP").Add("Peer", "PJSIP/"+e.id).Add("PeerStatus", status)
	p.emit(ps)
	p.refresh(e)
}

// setRegistered changes the trunk's outbound registration and emits
// Registry.
func (p *pbx) setRegistered(ok bool) {
	if p.trunkRegistered() == ok {
		return
	}
	p.trunkUnregistered = !ok
	m := NewEvent("Registry", privSystem)
	m.Add("ChannelType", "PJSIP")
	m.Add("Username", "sip:"+p.cfg.Trunk.Username+"@"+p.cfg.Trunk.Host)
	m.Add("Domain", "sip:"+p.cfg.Trunk.Host)
	m.Add("Status", registrationText(ok))
	p.emit(m)
}

func (p *pbx) trunkRegistered() bool { return !p.trunkUnregistered }

func registrationText(ok bool) string {
	if ok {
		return "Registered"
	}
	return "Unregistered"
}

// messageWaiting emits MessageWaiting for the mailbox of ext.
func (p *pbx) messageWaiting(ext string) {
	mb := p.mailboxes[ext]
	if mb == nil {
		return
	}
	m := NewEvent("MessageWaiting", privCall)
	m.Add("Mailbox", ext+"@default")
	m.Add("Waiting", boolNum(mb.newMsgs > 0))
	m.Add("New", strconv.Itoa(mb.newMsgs))
	m.Add("Old", strconv.Itoa(mb.oldMsgs))
	p.emit(m)
}
