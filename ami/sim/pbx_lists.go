package sim

import (
	"sort"
	"strconv"
	"strings"
	"time"
)

// list builds an AMI event list answer: the Response with "EventList:
// start", the items carrying the ActionID, and the …Complete event.
type list struct {
	id  string
	out []*Message
}

func newList(actionID, message string) *list {
	r := &Message{}
	r.Add("Response", "Success")
	if actionID != "" {
		r.Add("ActionID", actionID)
	}
	r.Add("EventList", "start")
	r.Add("Message", message)
	return &list{id: actionID, out: []*Message{r}}
}

// item starts a list item event.
func (l *list) item(name string) *Message {
	m := &Message{Headers: make([]Header, 0, 24)}
	m.Add("Event", name)
	if l.id != "" {
		m.Add("ActionID", l.id)
	}
	l.out = append(l.out, m)
	return m
}

// done appends the …Complete event and returns the whole answer.
func (l *list) done(name string, extra ...Header) []*Message {
	m := &Message{}
	m.Add("Event", name)
	if l.id != "" {
		m.Add("ActionID", l.id)
	}
	m.Add("EventList", "Complete")
	m.Add("ListItems", strconv.Itoa(len(l.out)-1))
	m.Headers = append(m.Headers, extra...)
	return append(l.out, m)
}

// emptyList is the well-formed empty answer of a list action.
func emptyList(actionID, message, complete string) []*Message {
	return newList(actionID, message).done(complete)
}

// listActions maps list actions (lower case) to the start message and the
// name of the Complete event; replay mode uses it for empty answers.
func listAction(name string) (message, complete string, ok bool) {
	switch strings.ToLower(name) {
	case "pjsipshowendpoints":
		return "A listing of Endpoints follows, presented as EndpointList events", "EndpointListComplete", true
	case "pjsipshowendpoint":
		return "Following are Events for each object associated with the Endpoint", "EndpointDetailComplete", true
	case "pjsipshowcontacts":
		return "A listing of Contacts follows, presented as ContactList events", "ContactListComplete", true
	case "pjsipshowregistrationsoutbound":
		return "Following are Events for each Outbound registration", "OutboundRegistrationDetailComplete", true
	case "pjsipshowaors":
		return "A listing of Aors follows, presented as AorList events", "AorListComplete", true
	case "coreshowchannels":
		return "Channels will follow", "CoreShowChannelsComplete", true
	case "queuestatus":
		return "Queue status will follow", "QueueStatusComplete", true
	case "queuesummary":
		return "Queue summary will follow", "QueueSummaryComplete", true
	case "parkinglots":
		return "Parking lots will follow", "ParkinglotsComplete", true
	case "parkedcalls":
		return "Parked calls will follow", "ParkedCallsComplete", true
	case "extensionstatelist":
		return "Extension Statuses will follow", "ExtensionStateListComplete", true
	case "devicestatelist":
		return "Device State Changes will follow", "DeviceStateListComplete", true
	case "voicemailuserslist":
		return "Voicemail user list will follow", "VoicemailUserEntryComplete", true
	case "sippeers":
		return "Peer status list will follow", "PeerlistComplete", true
	case "sipshowregistry":
		return "Registrations will follow", "RegistrationsComplete", true
	case "meetmelist":
		return "Meetme user list will follow", "MeetmeListComplete", true
	case "dbgettree":
		return "Result will follow", "DBGetTreeComplete", true
	}
	return "", "", false
}

func devStateText(s string) string {
	switch s {
	case "NOT_INUSE":
		return "Not in use"
	case "INUSE":
		return "In use"
	case "BUSY":
		return "Busy"
	case "INVALID":
		return "Invalid"
	case "UNAVAILABLE":
		return "Unavailable"
	case "RINGING":
		return "Ringing"
	case "RINGINUSE":
		return "Ring+Inuse"
	case "ONHOLD":
		return "On Hold"
	}
	return "Unknown"
}

// endpoints returns the extensions followed by the trunk.
func (p *pbx) endpoints() []*endpoint {
	return append(append([]*endpoint(nil), p.extList...), p.trunk)
}

func (p *pbx) endpoint(id string) *endpoint {
	if e := p.exts[id]; e != nil {
		return e
	}
	if id == p.trunk.id {
		return p.trunk
	}
	return nil
}

func (p *pbx) activeChannels(e *endpoint) string {
	var ids []string
	for _, c := range p.sortedChannels() {
		if c.ep == e {
			ids = append(ids, c.uid)
		}
	}
	return strings.Join(ids, ",")
}

func (p *pbx) sortedChannels() []*channel {
	out := make([]*channel, 0, len(p.chans))
	for _, c := range p.chans {
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].seq < out[j].seq })
	return out
}

func (p *pbx) contactsField(e *endpoint) string {
	return e.id + "/" + p.contactURI(e) + ","
}

func (p *pbx) pjsipShowEndpoints(id string) []*Message {
	l := newList(id, "A listing of Endpoints follows, presented as EndpointList events")
	for _, e := range p.endpoints() {
		m := l.item("EndpointList")
		m.Add("ObjectType", "endpoint")
		m.Add("ObjectName", e.id)
		m.Add("Transport", "0.0.0.0-udp")
		m.Add("Aor", e.id)
		m.Add("Auths", e.id+"-auth")
		if e.isTrunk {
			m.Headers[len(m.Headers)-1].Value = ""
			m.Add("OutboundAuths", e.id+"-auth")
		} else {
			m.Add("OutboundAuths", "")
		}
		m.Add("Contacts", p.contactsField(e))
		m.Add("DeviceState", devStateText(p.devState(e)))
		m.Add("ActiveChannels", p.activeChannels(e))
	}
	return l.done("EndpointListComplete")
}

func (p *pbx) pjsipShowEndpoint(id, name string) []*Message {
	e := p.endpoint(name)
	if e == nil {
		return []*Message{errorResponse(id, "Unable to retrieve endpoint "+name)}
	}
	l := newList(id, "Following are Events for each object associated with the Endpoint")
	m := l.item("EndpointDetail")
	m.Add("ObjectType", "endpoint")
	m.Add("ObjectName", e.id)
	if e.isTrunk {
		m.Add("Context", "from-pstn")
		m.Add("Callerid", "")
		m.Add("MailBoxes", "")
		m.Add("OutboundAuth", e.id+"-auth")
		m.Add("Auth", "")
	} else {
		m.Add("Context", "from-internal")
		m.Add("Callerid", `"`+e.name+`" <`+e.id+`>`)
		m.Add("MailBoxes", e.id+"@default")
		m.Add("OutboundAuth", "")
		m.Add("Auth", e.id+"-auth")
	}
	m.Add("Disallow", "")
	m.Add("Allow", "(ulaw|alaw|g722|opus)")
	m.Add("DtmfMode", "rfc4733")
	m.Add("Aors", e.id)
	m.Add("Transport", "0.0.0.0-udp")
	m.Add("Language", "it")
	m.Add("DirectMedia", "false")
	m.Add("RtpSymmetric", "true")
	m.Add("ForceRport", "true")
	m.Add("RewriteContact", "true")
	m.Add("DeviceState", devStateText(p.devState(e)))
	m.Add("ActiveChannels", p.activeChannels(e))

	a := l.item("AorDetail")
	a.Add("ObjectType", "aor")
	a.Add("ObjectName", e.id)
	a.Add("MinimumExpiration", "60")
	a.Add("MaximumExpiration", "7200")
	a.Add("DefaultExpiration", "3600")
	a.Add("QualifyFrequency", "60")
	a.Add("AuthenticateQualify", "false")
	a.Add("MaxContacts", "1")
	a.Add("RemoveExisting", "true")
	a.Add("Mailboxes", "")
	a.Add("Contacts", p.contactsField(e))
	a.Add("TotalContacts", "1")
	if e.isTrunk {
		a.Add("ContactsRegistered", "0")
	} else {
		a.Add("ContactsRegistered", "1")
	}
	a.Add("EndpointName", e.id)

	c := l.item("ContactStatusDetail")
	c.Add("AOR", e.id)
	c.Add("URI", p.contactURI(e))
	c.Add("UserAgent", e.ua)
	c.Add("RegExpire", strconv.FormatInt(p.regExpire(e), 10))
	if e.isTrunk {
		c.Add("ViaAddress", "")
		c.Add("CallID", "")
	} else {
		c.Add("ViaAddress", e.ip+":"+strconv.Itoa(e.port))
		c.Add("CallID", e.callID)
	}
	c.Add("Status", contactStatusText(e))
	rtt := 0
	if e.reachable {
		rtt = e.rtt
	}
	c.Add("RoundtripUsec", strconv.Itoa(rtt))
	c.Add("EndpointName", e.id)
	c.Add("ID", p.contactID(e))
	c.Add("AuthenticateQualify", "0")
	c.Add("OutboundProxy", "")
	c.Add("Path", "")
	c.Add("QualifyFrequency", "60")
	c.Add("QualifyTimeout", "3.000000")
	return l.done("EndpointDetailComplete")
}

func (p *pbx) pjsipShowContacts(id string) []*Message {
	l := newList(id, "A listing of Contacts follows, presented as ContactList events")
	for _, e := range p.endpoints() {
		m := l.item("ContactList")
		m.Add("ObjectType", "contact")
		m.Add("ObjectName", p.contactID(e))
		if e.isTrunk {
			m.Add("ViaAddr", "")
			m.Add("ViaPort", "0")
			m.Add("CallId", "")
		} else {
			m.Add("ViaAddr", e.ip)
			m.Add("ViaPort", strconv.Itoa(e.port))
			m.Add("CallId", e.callID)
		}
		m.Add("QualifyTimeout", "3.000000")
		m.Add("RegServer", "")
		m.Add("PruneOnBoot", "true")
		m.Add("Path", "")
		m.Add("Endpoint", e.id)
		m.Add("AuthenticateQualify", "false")
		m.Add("Uri", p.contactURI(e))
		m.Add("QualifyFrequency", "60")
		m.Add("UserAgent", e.ua)
		m.Add("ExpirationTime", strconv.FormatInt(p.regExpire(e), 10))
		m.Add("OutboundProxy", "")
		m.Add("Status", contactStatusText(e))
		rtt := 0
		if e.reachable {
			rtt = e.rtt
		}
		m.Add("RoundtripUsec", strconv.Itoa(rtt))
	}
	return l.done("ContactListComplete")
}

func (p *pbx) pjsipShowRegistrationsOutbound(id string) []*Message {
	l := newList(id, "Following are Events for each Outbound registration")
	t := p.cfg.Trunk
	m := l.item("OutboundRegistrationDetail")
	m.Add("ObjectType", "registration")
	m.Add("ObjectName", t.Name)
	m.Add("MaxRetries", "10")
	m.Add("ClientUri", "sip:"+t.Username+"@"+t.Host)
	m.Add("ServerUri", "sip:"+t.Host)
	m.Add("OutboundAuth", t.Name+"-auth")
	m.Add("Transport", "0.0.0.0-udp")
	m.Add("Expiration", "3600")
	m.Add("RetryInterval", "60")
	m.Add("Line", "no")
	m.Add("Endpoint", t.Name)
	m.Add("Status", registrationText(p.trunkRegistered()))
	next := "0"
	if p.trunkRegistered() {
		next = "3300"
	}
	m.Add("NextReg", next)
	reg, not := "1", "0"
	if !p.trunkRegistered() {
		reg, not = "0", "1"
	}
	return l.done("OutboundRegistrationDetailComplete", Header{"Registered", reg}, Header{"NotRegistered", not})
}

func (p *pbx) coreShowChannels(id string) []*Message {
	l := newList(id, "Channels will follow")
	for _, c := range p.sortedChannels() {
		m := addChan(l.item("CoreShowChannel"), "", c)
		m.Add("Application", c.app)
		m.Add("ApplicationData", c.appData)
		m.Add("Duration", hms(p.now-c.created))
		bid := ""
		if c.bridge != nil {
			bid = c.bridge.id
		}
		m.Add("BridgeId", bid)
	}
	return l.done("CoreShowChannelsComplete")
}

func (q *queue) holdTime() int64 {
	if q.completed == 0 {
		return 0
	}
	return q.holdSum / int64(q.completed)
}

func (q *queue) talkTime() int64 {
	if q.completed == 0 {
		return 0
	}
	return q.talkSum / int64(q.completed)
}

func (p *pbx) queueStatus(id, qname, memberFilter string) []*Message {
	l := newList(id, "Queue status will follow")
	for _, q := range p.queueList {
		if qname != "" && q.num != qname {
			continue
		}
		m := l.item("QueueParams")
		m.Add("Queue", q.num)
		m.Add("Max", "0")
		m.Add("Strategy", "rrmemory")
		m.Add("Calls", strconv.Itoa(len(q.callers)))
		m.Add("Holdtime", strconv.FormatInt(q.holdTime(), 10))
		m.Add("TalkTime", strconv.FormatInt(q.talkTime(), 10))
		m.Add("Completed", strconv.Itoa(q.completed))
		m.Add("Abandoned", strconv.Itoa(q.abandoned))
		m.Add("ServiceLevel", "60")
		perf := 0.0
		if q.completed > 0 {
			perf = 100 * float64(q.slOK) / float64(q.completed)
		}
		m.Add("ServicelevelPerf", strconv.FormatFloat(perf, 'f', 1, 64))
		perf2 := 0.0
		if q.completed+q.abandoned > 0 {
			perf2 = 100 * float64(q.slOK) / float64(q.completed+q.abandoned)
		}
		m.Add("ServicelevelPerf2", strconv.FormatFloat(perf2, 'f', 1, 64))
		m.Add("Weight", "0")
		for _, mb := range q.members {
			if memberFilter != "" && !strings.EqualFold(memberFilter, mb.iface) && !strings.EqualFold(memberFilter, mb.name) {
				continue
			}
			e := l.item("QueueMember")
			e.Add("Queue", q.num)
			e.Add("Name", mb.name)
			e.Add("Location", mb.iface)
			e.Add("StateInterface", mb.stateIface)
			e.Add("Membership", mb.membership)
			e.Add("Penalty", strconv.Itoa(mb.penalty))
			e.Add("CallsTaken", strconv.Itoa(mb.callsTaken))
			e.Add("LastCall", strconv.FormatInt(mb.lastCall, 10))
			e.Add("LastPause", strconv.FormatInt(mb.lastPause, 10))
			e.Add("LoginTime", strconv.FormatInt(mb.loginTime, 10))
			e.Add("InCall", boolNum(mb.inCall))
			e.Add("Status", strconv.Itoa(mb.status))
			e.Add("Paused", boolNum(mb.paused))
			e.Add("PausedReason", mb.reason)
			e.Add("Wrapuptime", "0")
		}
		for i, qc := range q.callers {
			e := l.item("QueueEntry")
			e.Add("Queue", q.num)
			e.Add("Position", strconv.Itoa(i+1))
			e.Add("Channel", qc.ch.name)
			e.Add("Uniqueid", qc.ch.uid)
			e.Add("CallerIDNum", orUnknown(qc.ch.cidNum))
			e.Add("CallerIDName", orUnknown(qc.ch.cidName))
			e.Add("ConnectedLineNum", orUnknown(qc.ch.conNum))
			e.Add("ConnectedLineName", orUnknown(qc.ch.conName))
			e.Add("Wait", strconv.FormatInt(int64((p.now-qc.joined)/time.Second), 10))
			e.Add("Priority", "0")
		}
	}
	return l.done("QueueStatusComplete")
}

func (p *pbx) queueSummary(id, qname string) []*Message {
	l := newList(id, "Queue summary will follow")
	for _, q := range p.queueList {
		if qname != "" && q.num != qname {
			continue
		}
		avail := 0
		for _, mb := range q.members {
			if !mb.paused && mb.status == devNumber("NOT_INUSE") {
				avail++
			}
		}
		var longest time.Duration
		for _, qc := range q.callers {
			longest = max(longest, p.now-qc.joined)
		}
		m := l.item("QueueSummary")
		m.Add("Queue", q.num)
		m.Add("LoggedIn", strconv.Itoa(len(q.members)))
		m.Add("Available", strconv.Itoa(avail))
		m.Add("Callers", strconv.Itoa(len(q.callers)))
		m.Add("HoldTime", strconv.FormatInt(q.holdTime(), 10))
		m.Add("TalkTime", strconv.FormatInt(q.talkTime(), 10))
		m.Add("LongestHoldTime", strconv.FormatInt(int64(longest/time.Second), 10))
	}
	return l.done("QueueSummaryComplete")
}

func (p *pbx) parkinglots(id string) []*Message {
	l := newList(id, "Parking lots will follow")
	pk := p.cfg.Parking
	m := l.item("Parkinglot")
	m.Add("Name", pk.Name)
	m.Add("StartSpace", strconv.Itoa(pk.Start))
	m.Add("StopSpace", strconv.Itoa(pk.Stop))
	m.Add("Timeout", strconv.Itoa(int(pk.Timeout/time.Second)))
	return l.done("ParkinglotsComplete")
}

// parkedFields appends the ParkedCall body (parkee snapshot, lot data).
func (p *pbx) parkedFields(m *Message, pc *parkedCall) *Message {
	addChan(m, "Parkee", pc.ch)
	m.Add("ParkerDialString", pc.parker)
	m.Add("Parkinglot", p.cfg.Parking.Name)
	m.Add("ParkingSpace", strconv.Itoa(pc.space))
	left := p.cfg.Parking.Timeout - (p.now - pc.parkedAt)
	m.Add("ParkingTimeout", strconv.FormatInt(int64(max(left, 0)/time.Second), 10))
	m.Add("ParkingDuration", strconv.FormatInt(int64((p.now-pc.parkedAt)/time.Second), 10))
	return m
}

func (p *pbx) parkedCalls(id, lot string) []*Message {
	l := newList(id, "Parked calls will follow")
	if lot == "" || lot == p.cfg.Parking.Name {
		for space := p.cfg.Parking.Start; space <= p.cfg.Parking.Stop; space++ {
			if pc := p.parked[space]; pc != nil {
				p.parkedFields(l.item("ParkedCall"), pc)
			}
		}
	}
	return l.done("ParkedCallsComplete")
}

func (p *pbx) confbridgeListRooms(id string) []*Message {
	if p.conf == nil {
		return []*Message{errorResponse(id, "No active conferences.")}
	}
	l := newList(id, "Confbridge conferences will follow")
	m := l.item("ConfbridgeListRooms")
	m.Add("Conference", p.conf.room)
	m.Add("Parties", strconv.Itoa(len(p.conf.users)))
	m.Add("Marked", "0")
	m.Add("Locked", "No")
	m.Add("Muted", "No")
	return l.done("ConfbridgeListRoomsComplete")
}

func (p *pbx) confbridgeList(id, room string) []*Message {
	if p.conf == nil {
		if room == "" {
			return []*Message{errorResponse(id, "No active conferences.")}
		}
		return []*Message{errorResponse(id, "No Conference by that name found.")}
	}
	if room != "" && room != p.conf.room {
		return []*Message{errorResponse(id, "No Conference by that name found.")}
	}
	l := newList(id, "Confbridge user list will follow")
	for _, u := range p.conf.users {
		m := l.item("ConfbridgeList")
		m.Add("Conference", p.conf.room)
		addChan(m, "", u.ch)
		m.Add("Admin", yesNo(u.admin))
		m.Add("MarkedUser", "No")
		m.Add("WaitMarked", "No")
		m.Add("EndMarked", "No")
		m.Add("Waiting", "No")
		m.Add("Muted", yesNo(u.muted))
		m.Add("Talking", "No")
		m.Add("AnsweredTime", strconv.FormatInt(int64((p.now-u.joined)/time.Second), 10))
	}
	return l.done("ConfbridgeListComplete")
}

// hints lists every hint: extensions, their DND hints, parking spaces.
func (p *pbx) extensionStateList(id string) []*Message {
	l := newList(id, "Extension Statuses will follow")
	for _, e := range p.extList {
		extensionStatus(l.item("ExtensionStatus"), e.id, "ext-local", hintOf(e.id), p.hintStatus(e))
	}
	for _, e := range p.extList {
		dev := "Custom:DND" + e.id
		extensionStatus(l.item("ExtensionStatus"), "*76"+e.id, "ext-dnd-hints", dev, extenState(p.custom[dev]))
	}
	for space := p.cfg.Parking.Start; space <= p.cfg.Parking.Stop; space++ {
		s := strconv.Itoa(space)
		extensionStatus(l.item("ExtensionStatus"), s, "park-hints", p.parkDevice(space), extenState(p.parkState(space)))
	}
	return l.done("ExtensionStateListComplete")
}

// extensionState answers the ExtensionState action.
func (p *pbx) extensionState(id, exten, context string) []*Message {
	r := successResponse(id, "Extension Status")
	hint, status := "", -1
	switch {
	case p.exts[exten] != nil:
		hint, status = hintOf(exten), p.hintStatus(p.exts[exten])
	case strings.HasPrefix(exten, "*76") && p.exts[exten[3:]] != nil:
		hint = "Custom:DND" + exten[3:]
		status = extenState(p.custom[hint])
	default:
		if n, err := strconv.Atoi(exten); err == nil && n >= p.cfg.Parking.Start && n <= p.cfg.Parking.Stop {
			hint, status = p.parkDevice(n), extenState(p.parkState(n))
		}
	}
	r.Add("Exten", exten).Add("Context", context).Add("Hint", hint).
		Add("Status", strconv.Itoa(status)).Add("StatusText", extenStateText(status))
	return []*Message{r}
}

func (p *pbx) parkDevice(space int) string {
	return "park:" + strconv.Itoa(space) + "@" + p.cfg.Parking.Name
}

func (p *pbx) parkState(space int) string {
	if p.parked[space] != nil {
		return "INUSE"
	}
	return "NOT_INUSE"
}

func (p *pbx) deviceStateList(id string) []*Message {
	l := newList(id, "Device State Changes will follow")
	devs := make([]string, 0, len(p.lastDev))
	for d := range p.lastDev {
		devs = append(devs, d)
	}
	sort.Strings(devs)
	for _, d := range devs {
		l.item("DeviceStateChange").Add("Device", d).Add("State", p.lastDev[d])
	}
	return l.done("DeviceStateListComplete")
}

func (p *pbx) mailboxCount(id, box string) []*Message {
	r := successResponse(id, "Mailbox Message Count")
	ext, _, _ := strings.Cut(box, "@")
	var nw, old int
	if mb := p.mailboxes[ext]; mb != nil {
		nw, old = mb.newMsgs, mb.oldMsgs
	}
	r.Add("Mailbox", box).Add("UrgMessages", "0").Add("NewMessages", strconv.Itoa(nw)).Add("OldMessages", strconv.Itoa(old))
	return []*Message{r}
}

func (p *pbx) mailboxStatus(id, box string) []*Message {
	r := successResponse(id, "Mailbox Status")
	ext, _, _ := strings.Cut(box, "@")
	waiting := false
	if mb := p.mailboxes[ext]; mb != nil {
		waiting = mb.newMsgs > 0
	}
	r.Add("Mailbox", box).Add("Waiting", boolNum(waiting))
	return []*Message{r}
}

func (p *pbx) voicemailUsersList(id string) []*Message {
	l := newList(id, "Voicemail user list will follow")
	for _, e := range p.extList {
		mb := p.mailboxes[e.id]
		m := l.item("VoicemailUserEntry")
		m.Add("VMContext", "default")
		m.Add("VoiceMailbox", e.id)
		m.Add("Fullname", e.name)
		m.Add("Email", "")
		m.Add("Pager", "")
		m.Add("ServerEmail", "")
		m.Add("FromString", "")
		m.Add("MailCommand", "/usr/sbin/sendmail -t")
		m.Add("Language", "it")
		m.Add("TimeZone", "europe")
		m.Add("Callback", "")
		m.Add("Dialout", "")
		m.Add("UniqueID", "")
		m.Add("ExitContext", "")
		m.Add("SayDurationMinimum", "2")
		m.Add("SayEnvelope", "Yes")
		m.Add("SayCID", "No")
		m.Add("AttachMessage", "No")
		m.Add("AttachmentFormat", "wav")
		m.Add("DeleteMessage", "No")
		m.Add("VolumeGain", "0.00")
		m.Add("CanReview", "No")
		m.Add("CallOperator", "No")
		m.Add("MaxMessageCount", "100")
		m.Add("MaxMessageLength", "300")
		m.Add("NewMessageCount", strconv.Itoa(mb.newMsgs))
		m.Add("OldMessageCount", strconv.Itoa(mb.oldMsgs))
	}
	return l.done("VoicemailUserEntryComplete")
}

func (p *pbx) dbGet(id, family, key string) []*Message {
	k := dbKey(family, key)
	v, ok := p.db[k]
	if !ok || family == "" || key == "" {
		return []*Message{errorResponse(id, "Database entry not found")}
	}
	l := newList(id, "Result will follow")
	l.item("DBGetResponse").Add("Family", family).Add("Key", key).Add("Val", v)
	return l.done("DBGetComplete")
}

func (p *pbx) dbGetTree(id, family, key string) []*Message {
	l := newList(id, "Result will follow")
	for _, k := range p.dbTree(family, key) {
		fam, last := "", k
		if i := strings.LastIndexByte(k, '/'); i >= 0 {
			fam, last = k[:i], k[i+1:]
		}
		l.item("DBGetTreeResponse").Add("Family", fam).Add("Key", last).Add("Val", p.db[k])
	}
	return l.done("DBGetTreeComplete")
}
