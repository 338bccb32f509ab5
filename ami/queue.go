package ami

import (
	"strconv"
	"strings"

	"github.com/ctiws/ctiws/pbx"
	"github.com/staskobzar/goami2"
)

// memberID extracts the extension of a queue member interface:
// Local/202@from-queue/n → 202, PJSIP/202 → 202.
func memberID(iface string) string {
	i := strings.IndexByte(iface, '/')
	if i < 0 {
		return iface
	}
	s := iface[i+1:]
	if j := strings.IndexAny(s, "@/"); j >= 0 {
		s = s[:j]
	}
	return s
}

// queueFor returns the queue id, creating it when it is allowed.
func (m *Model) queueFor(id string) *queue {
	if q := m.queues[id]; q != nil {
		return q
	}
	if !m.objs.queueAllowed(id) {
		return nil
	}
	q := &queue{obj: pbx.Queue{
		Queue: id, Name: m.objs.queueName(id), Members: pbx.Map[pbx.QueueMember]{},
		WaitingCallers: pbx.Map[pbx.WaitingCaller]{},
		AvgHoldTime:    "0", AvgTalkTime: "0", CompletedCallsCount: "0", AbandonedCallsCount: "0",
		ServiceLevelTimePeriod: "0", ServiceLevelPercentage: "0.0",
	}}
	if m.objs != nil {
		for _, ext := range m.objs.Queues[id].DynMembers {
			q.obj.Members[ext] = pbx.QueueMember{
				Type: "dynamic", Name: m.extName(ext), Queue: id, Member: ext,
			}
		}
	}
	m.queues[id] = q
	return q
}

// callerName is a caller id name as astproxy shows it.
func callerName(s string) string {
	if s == "unknown" || s == "<unknown>" {
		return ""
	}
	return s
}

func (m *Model) onQueueCallerJoin(msg *goami2.Message) {
	id := field(msg, "Queue")
	q := m.queueFor(id)
	if q == nil {
		m.skip("unknown_queue", "queue", id)
		return
	}
	s := readSnap(msg, "")
	if s.channel == "" {
		m.skip("missing_field", "event", "QueueCallerJoin")
		return
	}
	c := m.channelFor(s, true)
	q.obj.WaitingCallers[s.channel] = pbx.WaitingCaller{
		ID: s.channel, Channel: s.channel, Queue: id, Num: s.cidNum, Name: callerName(s.cidName),
		Position: field(msg, "Position"), WaitingTime: m.nowMs(),
	}
	q.touched = m.seq
	m.markQueue(id)
	if s.lid != "" {
		m.linkedQueue[s.lid] = id
	}
	if c != nil {
		m.markPair(c)
	}
}

func (m *Model) onQueueCallerLeave(msg *goami2.Message) {
	id := field(msg, "Queue")
	q := m.queues[id]
	if q == nil {
		return
	}
	ch := field(msg, "Channel")
	w, ok := q.obj.WaitingCallers[ch]
	if !ok {
		return
	}
	delete(q.obj.WaitingCallers, ch)
	left, _ := strconv.Atoi(w.Position)
	for k, o := range q.obj.WaitingCallers {
		if p, err := strconv.Atoi(o.Position); err == nil && left > 0 && p > left {
			o.Position = strconv.Itoa(p - 1)
			q.obj.WaitingCallers[k] = o
		}
	}
	q.touched = m.seq
	m.markQueue(id)
}

func (m *Model) onQueueCallerAbandon(msg *goami2.Message) {
	q := m.queues[field(msg, "Queue")]
	if q == nil {
		return
	}
	q.obj.AbandonedCallsCount = incr(q.obj.AbandonedCallsCount)
	q.touched = m.seq
	m.markQueue(q.obj.Queue)
}

func incr(s string) string {
	n, _ := strconv.Atoi(s)
	return strconv.Itoa(n + 1)
}

// memberOf returns the queue and member id of a member event, or nil when
// the member is not a known extension.
func (m *Model) memberOf(msg *goami2.Message) (*queue, string) {
	qid := field(msg, "Queue")
	q := m.queueFor(qid)
	if q == nil {
		return nil, ""
	}
	iface := field(msg, "Interface")
	if iface == "" {
		iface = field(msg, "Location")
	}
	id := memberID(iface)
	if _, ok := m.exts[id]; !ok {
		if _, ok := m.dir.OwnerOf(id); !ok {
			m.skip("unknown_member", "queue", qid, "member", id)
			return nil, ""
		}
	}
	return q, id
}

func (m *Model) setMember(q *queue, mem pbx.QueueMember) {
	if old, ok := q.obj.Members[mem.Member]; ok && old == mem {
		return
	}
	q.obj.Members[mem.Member] = mem
	q.touched = m.seq
	m.mark(okey{k: pbx.KindQueueMember, id: q.obj.Queue, sub: mem.Member})
	m.markQueue(q.obj.Queue)
}

// onQueueMember applies QueueMemberAdded / QueueMemberStatus and the
// QueueMember items of QueueStatus.
func (m *Model) onQueueMember(msg *goami2.Message, loggedIn bool) {
	q, id := m.memberOf(msg)
	if q == nil {
		return
	}
	mem := q.obj.Members[id]
	mem.Member, mem.Queue, mem.Name, mem.LoggedIn = id, q.obj.Queue, m.extName(id), loggedIn
	if t := strings.ToLower(field(msg, "Membership")); t != "" {
		mem.Type = t
	} else if mem.Type == "" {
		mem.Type = "static"
	}
	paused := field(msg, "Paused") == "1"
	if paused != mem.Paused {
		m.pauseChange(&mem, paused, pausedReason(msg))
	}
	if v := field(msg, "CallsTaken"); v != "" {
		mem.CallsTakenCount, _ = strconv.ParseInt(v, 10, 64)
	}
	if v := field(msg, "LastCall"); v != "" {
		mem.LastCallTimestamp, _ = strconv.ParseInt(v, 10, 64)
	}
	m.setMember(q, mem)
}

func pausedReason(msg *goami2.Message) string {
	if r := field(msg, "PausedReason"); r != "" {
		return r
	}
	return field(msg, "Reason")
}

func (m *Model) pauseChange(mem *pbx.QueueMember, paused bool, reason string) {
	mem.Paused = paused
	if paused {
		mem.LastPausedInReason = reason
		mem.LastPausedInTimestamp = m.nowMs()
	} else {
		mem.LastPausedOutTimestamp = m.nowMs()
	}
}

func (m *Model) onQueueMemberRemoved(msg *goami2.Message) {
	q, id := m.memberOf(msg)
	if q == nil {
		return
	}
	mem, ok := q.obj.Members[id]
	if !ok {
		mem = pbx.QueueMember{Type: "dynamic", Name: m.extName(id), Queue: q.obj.Queue, Member: id}
	}
	mem.LoggedIn, mem.Paused = false, false
	m.setMember(q, mem)
}

func (m *Model) onQueueMemberPause(msg *goami2.Message) {
	q, id := m.memberOf(msg)
	if q == nil {
		return
	}
	mem, ok := q.obj.Members[id]
	if !ok {
		return
	}
	paused := field(msg, "Paused") == "1"
	if paused == mem.Paused {
		return
	}
	m.pauseChange(&mem, paused, pausedReason(msg))
	m.setMember(q, mem)
}

// onQueueParams applies the statistics of a QueueParams item.
func (m *Model) onQueueParams(msg *goami2.Message) {
	q := m.queueFor(field(msg, "Queue"))
	if q == nil {
		return
	}
	o := &q.obj
	o.AvgHoldTime = field(msg, "Holdtime")
	o.AvgTalkTime = field(msg, "TalkTime")
	o.CompletedCallsCount = field(msg, "Completed")
	o.AbandonedCallsCount = field(msg, "Abandoned")
	o.ServiceLevelTimePeriod = field(msg, "ServiceLevel")
	o.ServiceLevelPercentage = field(msg, "ServicelevelPerf")
	m.markQueue(o.Queue) // published only if the JSON changed
}

// onQueueEntry applies a QueueEntry item (a waiting caller).
func (m *Model) onQueueEntry(msg *goami2.Message) {
	id := field(msg, "Queue")
	q := m.queueFor(id)
	if q == nil {
		return
	}
	s := readSnap(msg, "")
	wait, _ := strconv.ParseInt(field(msg, "Wait"), 10, 64)
	w := pbx.WaitingCaller{
		ID: s.channel, Channel: s.channel, Queue: id, Num: s.cidNum, Name: callerName(s.cidName),
		Position: field(msg, "Position"), WaitingTime: m.nowMs() - wait*1000,
	}
	if old, ok := q.obj.WaitingCallers[s.channel]; ok {
		w.WaitingTime = old.WaitingTime
	}
	q.obj.WaitingCallers[s.channel] = w
	m.markQueue(id)
	if lid := field(msg, "Linkedid"); lid != "" {
		m.linkedQueue[lid] = id
	}
}

// onAgentConnect updates the average hold time as app_queue does when an
// agent answers (an exponential average with weight 1/4 for the new
// value; the first call sets it), and remembers whether the caller was
// answered within the service level.
func (m *Model) onAgentConnect(msg *goami2.Message) {
	q := m.queues[field(msg, "Queue")]
	if q == nil {
		return
	}
	hold, err := strconv.Atoi(field(msg, "HoldTime"))
	if err != nil {
		return
	}
	o := &q.obj
	completed, _ := strconv.Atoi(o.CompletedCallsCount)
	abandoned, _ := strconv.Atoi(o.AbandonedCallsCount)
	old, _ := strconv.Atoi(o.AvgHoldTime)
	if completed+abandoned == 0 {
		o.AvgHoldTime = strconv.Itoa(hold)
	} else {
		o.AvgHoldTime = strconv.Itoa((old*3 + hold) >> 2)
	}
	if sl, err := strconv.Atoi(o.ServiceLevelTimePeriod); err == nil && hold <= sl {
		if q.inSL == nil || len(q.inSL) > 10_000 { // bounded if completions go missing
			q.inSL = map[string]bool{}
		}
		q.inSL[field(msg, "Linkedid")] = true
	}
	q.touched = m.seq
	m.markQueue(o.Queue)
}

// onAgentComplete counts a completed call at once (app_queue counts it
// when the agent's call ends, which is when it raises AgentComplete) and
// updates the average talk time and the service level percentage the same
// way, so clients do not wait for the next QueueStatus.
func (m *Model) onAgentComplete(msg *goami2.Message) {
	q := m.queues[field(msg, "Queue")]
	if q == nil {
		return
	}
	o := &q.obj
	completed, _ := strconv.Atoi(o.CompletedCallsCount)
	perf, _ := strconv.ParseFloat(o.ServiceLevelPercentage, 64)
	inSL := int(perf*float64(completed)/100 + 0.5)
	lid := field(msg, "Linkedid")
	if q.inSL[lid] {
		inSL++
		delete(q.inSL, lid)
	}
	completed++
	o.CompletedCallsCount = strconv.Itoa(completed)
	if talk, err := strconv.Atoi(field(msg, "TalkTime")); err == nil {
		old, _ := strconv.Atoi(o.AvgTalkTime)
		if completed == 1 {
			o.AvgTalkTime = strconv.Itoa(talk)
		} else {
			o.AvgTalkTime = strconv.Itoa((old*3 + talk) >> 2)
		}
	}
	o.ServiceLevelPercentage = strconv.FormatFloat(float64(inSL)*100/float64(completed), 'f', 1, 64)
	q.touched = m.seq
	m.markQueue(o.Queue)
}
