package ami

import (
	"strings"

	"github.com/ctiws/ctiws/cluster"
	"github.com/ctiws/ctiws/pbx"
	"github.com/staskobzar/goami2"
)

// deviceStatus maps a DeviceStateChange State to an extension status.
func deviceStatus(state string) (string, bool) {
	switch strings.ToUpper(state) {
	case "NOT_INUSE":
		return "online", true
	case "INUSE", "BUSY":
		return "busy", true
	case "RINGING":
		return "ringing", true
	case "RINGINUSE":
		return "busy_ringing", true
	case "ONHOLD":
		return "onhold", true
	case "UNAVAILABLE", "INVALID", "UNKNOWN":
		return "offline", true
	}
	return "", false
}

// hintStatus maps an ExtensionStatus Status code (2 = Busy, caused by
// Custom:DND in FreePBX hints, is online on purpose; -2 and 17 unmapped).
func hintStatus(code string) (string, bool) {
	switch code {
	case "-1", "4":
		return "offline", true
	case "0", "2":
		return "online", true
	case "1":
		return "busy", true
	case "8":
		return "ringing", true
	case "9":
		return "busy_ringing", true
	case "16":
		return "onhold", true
	}
	return "", false
}

// trunkStatus maps a device state to a trunk status.
func trunkStatus(state string) (string, bool) {
	switch strings.ToUpper(state) {
	case "NOT_INUSE":
		return "online", true
	case "INUSE", "BUSY", "RINGING", "RINGINUSE", "ONHOLD":
		return "busy", true
	case "UNAVAILABLE", "INVALID":
		return "offline", true
	}
	return "", false
}

func (m *Model) setStatus(id, status string) {
	if e := m.exts[id]; e != nil && e.obj.Status != status {
		e.obj.Status = status
		m.markExt(id)
	}
}

func (m *Model) setTrunkStatus(id, status string) {
	if t := m.trunks[id]; t != nil && t.obj.Status != status {
		t.obj.Status = status
		m.markTrunk(id)
	}
}

func (m *Model) onDeviceState(dev, state string) {
	if rest, ok := strings.CutPrefix(dev, "Custom:DND"); ok {
		if e := m.exts[rest]; e != nil {
			on := strings.EqualFold(state, "BUSY") || strings.EqualFold(state, "INUSE")
			if e.obj.DND != on {
				e.obj.DND = on
				m.markExt(rest)
			}
		}
		return
	}
	i := strings.IndexByte(dev, '/')
	if i < 0 {
		return
	}
	switch strings.ToUpper(dev[:i]) {
	case "PJSIP", "SIP", "IAX2":
	default:
		return
	}
	id := dev[i+1:]
	if _, ok := m.exts[id]; ok {
		if st, ok := deviceStatus(state); ok {
			m.setStatus(id, st)
		}
	} else if _, ok := m.trunks[id]; ok {
		if st, ok := trunkStatus(state); ok {
			m.setTrunkStatus(id, st)
		}
	}
}

// onExtensionStatus applies a hint's state (ExtensionStatus, and the items
// of ExtensionStateList) to the extension of the same number, but only when
// the hint covers nothing but that extension's own device
// (docs/ami-model.md, section 5.1): a FreePBX hint of a user with several
// devices (PJSIP/201&PJSIP/91201&…) is busy when any of them is, which says
// nothing about the desk phone 201.
func (m *Model) onExtensionStatus(msg *goami2.Message) {
	id := field(msg, "Exten")
	e := m.exts[id]
	if e == nil {
		return
	}
	if !hintOwnDevice(field(msg, "Hint"), id) {
		return
	}
	// Status 2 (Busy) is what a FreePBX hint reports when its
	// Custom:DND<ext> part is BUSY, whatever the phone does: it says
	// nothing about a phone in a call, whose own device state wins.
	if field(msg, "Status") == "2" && len(e.chans) > 0 {
		return
	}
	if st, ok := hintStatus(field(msg, "Status")); ok {
		m.setStatus(id, st)
	}
}

// hintOwnDevice reports whether a hint's devices are only extension ext's
// own device (tech/ext) and its FreePBX DND state (Custom:DND<ext>); the
// presence part after the comma does not count. An empty hint (an event
// without the Hint header) is taken as the extension's own.
func hintOwnDevice(hint, ext string) bool {
	devices, _, _ := strings.Cut(hint, ",")
	if devices == "" {
		return true
	}
	for _, d := range strings.Split(devices, "&") {
		d = strings.TrimSpace(d)
		if rest, ok := strings.CutPrefix(strings.ToLower(d), "custom:dnd"); ok && rest == strings.ToLower(ext) {
			continue
		}
		tech, name, ok := strings.Cut(d, "/")
		if !ok || name != ext {
			return false
		}
		switch strings.ToUpper(tech) {
		case "PJSIP", "SIP", "IAX2":
		default:
			return false
		}
	}
	return true
}

func (m *Model) onHold(msg *goami2.Message, hold bool) {
	c := m.chans[field(msg, "Channel")]
	if c == nil || c.ext == "" {
		return
	}
	if hold {
		m.setStatus(c.ext, "onhold")
	} else {
		m.setStatus(c.ext, "busy")
	}
}

// hostPort extracts ip and port from a SIP URI or a "host:port" address
// (sip:201@192.168.1.10:5062;transport=udp → 192.168.1.10, 5062).
func hostPort(s string) (ip, port string) {
	if i := strings.IndexByte(s, '@'); i >= 0 {
		s = s[i+1:]
	} else {
		s = strings.TrimPrefix(strings.TrimPrefix(s, "sips:"), "sip:")
	}
	if i := strings.IndexAny(s, ";>/"); i >= 0 {
		s = s[:i]
	}
	if strings.HasPrefix(s, "[") { // IPv6
		if j := strings.IndexByte(s, ']'); j >= 0 {
			ip, rest := s[1:j], s[j+1:]
			return ip, strings.TrimPrefix(rest, ":")
		}
	}
	if i := strings.LastIndexByte(s, ':'); i >= 0 {
		return s[:i], s[i+1:]
	}
	return s, ""
}

// contact applies a contact's address and user agent to an extension or a
// trunk.
func (m *Model) contact(id, via, uri, ua string, removed bool) {
	switch {
	case removed:
		delete(m.contactURI, id)
	case uri != "":
		m.contactURI[id] = uri
	}
	addr := via
	if addr == "" {
		addr = uri
	}
	var ip, port string
	if !removed && addr != "" {
		ip, port = hostPort(addr)
	}
	if e := m.exts[id]; e != nil {
		if setContact(&e.obj.IP, &e.obj.Port, &e.obj.SIPUserAgent, ip, port, ua, removed) {
			m.markExt(id)
		}
	} else if t := m.trunks[id]; t != nil {
		if setContact(&t.obj.IP, &t.obj.Port, &t.obj.SIPUserAgent, ip, port, ua, removed) {
			m.markTrunk(id)
		}
	}
}

func (m *Model) onContactStatus(msg *goami2.Message) {
	id := field(msg, "EndpointName")
	if id == "" {
		id = field(msg, "AOR")
	}
	st := strings.ToLower(field(msg, "ContactStatus"))
	if _, ok := m.exts[id]; !ok {
		if _, ok := m.trunks[id]; !ok {
			return
		}
	}
	if st == "removed" {
		if shown, uri := m.contactURI[id], field(msg, "URI"); shown != "" && uri != "" && shown != uri {
			// Another contact of the AOR went away: the one shown
			// is still registered (and a pending read of its user
			// agent still applies).
			return
		}
	}
	m.contactSeq[id] = m.seq
	switch st {
	case "removed":
		m.contact(id, "", "", "", true)
		delete(m.contactQueries, id)
	case "nonqualified", "reachable", "unknown", "created", "updated":
		// The contact is registered: NonQualified is what Asterisk 22
		// reports for a new contact of an AOR without qualify (no Created
		// follows), Reachable / Unknown for one with qualify (Created and
		// Updated were older versions' names). The event carries URI but
		// no user agent: the runner reads it (PJSIPShowEndpoint), and an
		// empty one meanwhile keeps the known one.
		m.contact(id, "", field(msg, "URI"), field(msg, "UserAgent"), false)
		if field(msg, "UserAgent") == "" {
			m.contactQueries[id] = m.seq
		}
	}
	if _, ok := m.trunks[id]; ok {
		switch st {
		case "reachable", "created":
			if m.trunks[id].obj.Status != "busy" {
				m.setTrunkStatus(id, "online")
			}
		case "unreachable", "removed":
			m.setTrunkStatus(id, "offline")
		}
	}
}

func (m *Model) onPeerStatus(msg *goami2.Message) {
	id := endpointOf(field(msg, "Peer") + "-")
	st := strings.ToLower(field(msg, "PeerStatus"))
	if _, ok := m.trunks[id]; ok {
		switch st {
		case "reachable", "registered", "lagged":
			if m.trunks[id].obj.Status != "busy" {
				m.setTrunkStatus(id, "online")
			}
		case "unreachable", "unregistered", "rejected":
			m.setTrunkStatus(id, "offline")
		}
		return
	}
	if _, ok := m.exts[id]; ok && st == "unreachable" {
		m.setStatus(id, "offline")
	}
}

// registration maps an AMI registration state to astproxy's value.
func registration(s string) string {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "registered":
		return "registered"
	case "unregistered":
		return "unregistered"
	case "rejected":
		return "rejected"
	case "failed", "timeout":
		return "failed"
	case "sent", "request sent", "auth. sent", "registering":
		return "sent"
	case "no authentication", "noauth":
		return "noauth"
	case "":
		return "unmonitored"
	}
	return strings.ToLower(s)
}

// matchTrunk finds the trunk of a registration: by endpoint name, else by
// the configured host and username contained in Domain and Username.
func (m *Model) matchTrunk(endpoint, username, domain string) *trunk {
	if t := m.trunks[endpoint]; t != nil {
		return t
	}
	for _, t := range m.trunks {
		if t.cfg.Host != "" && strings.Contains(domain, t.cfg.Host) &&
			(t.cfg.Username == "" || strings.Contains(username, t.cfg.Username)) {
			return t
		}
	}
	return nil
}

func (m *Model) onRegistry(msg *goami2.Message) {
	t := m.matchTrunk(field(msg, "Endpoint"), field(msg, "Username"), field(msg, "Domain"))
	if t == nil {
		return
	}
	if r := registration(field(msg, "Status")); r != t.obj.Registration {
		t.obj.Registration = r
		m.markTrunk(t.obj.Exten)
	}
}

// onNewexten detects the AstDB writes of the FreePBX DND and call-forward
// feature codes: Set(DB(DND/201)=YES) and Noop(Deleting: DND/201 …).
func (m *Model) onNewexten(msg *goami2.Message) {
	data := field(msg, "AppData")
	if len(data) < 8 {
		return
	}
	if rest, ok := strings.CutPrefix(data, "DB("); ok {
		key, val, ok := strings.Cut(rest, ")=")
		if !ok {
			return
		}
		fam, ext, ok := strings.Cut(key, "/")
		if ok {
			m.setDB(fam, ext, val)
		}
		return
	}
	if i := strings.Index(data, "Deleting: "); i >= 0 {
		key := data[i+len("Deleting: "):]
		if j := strings.IndexAny(key, " )"); j >= 0 {
			key = key[:j]
		}
		fam, ext, ok := strings.Cut(key, "/")
		if ok {
			m.setDB(fam, ext, "")
		}
	}
}

// setDB applies an AstDB value (val "" = deleted) of family DND, CF, CFB or
// CFU for an extension.
func (m *Model) setDB(fam, ext, val string) {
	e := m.exts[ext]
	if e == nil {
		return
	}
	o := &e.obj
	before := *o
	switch strings.ToUpper(fam) {
	case "DND":
		o.DND = val != ""
	case "CF":
		o.CF, o.CFVm = splitCF(val)
	case "CFB":
		o.CFB, o.CFBVm = splitCF(val)
	case "CFU":
		o.CFU, o.CFUVm = splitCF(val)
	default:
		return
	}
	if before.DND != o.DND || before.CF != o.CF || before.CFVm != o.CFVm || before.CFB != o.CFB ||
		before.CFBVm != o.CFBVm || before.CFU != o.CFU || before.CFUVm != o.CFUVm {
		m.markExt(ext)
	}
}

// splitCF splits a call-forward destination into a number or, for values
// starting with "vmu" or "*", a voicemail box.
func splitCF(val string) (num, vm string) {
	if rest, ok := strings.CutPrefix(val, "vmu"); ok {
		return "", keep(rest)
	}
	if rest, ok := strings.CutPrefix(val, "*"); ok {
		return "", keep(rest)
	}
	return keep(val), ""
}

// newExtension creates the model object of a directory extension.
func (m *Model) newExtension(id string) *extension {
	id = keep(id)
	e := &extension{chans: map[string]*channel{}}
	e.obj = pbx.Extension{Exten: id, Status: "offline", ChanType: "pjsip", Codecs: pbx.Codecs{}}
	m.fillIdentity(e)
	m.exts[id] = e
	return e
}

// fillIdentity copies name, username and MAC from the directory.
func (m *Model) fillIdentity(e *extension) {
	e.obj.Name, e.obj.Username, e.obj.MAC = "", "", ""
	if u, ok := m.dir.OwnerOf(e.obj.Exten); ok {
		e.obj.Name, e.obj.Username = u.Name, u.Username
		de, _ := u.Extension(e.obj.Exten)
		e.obj.MAC = strings.ToLower(strings.ReplaceAll(de.MAC, ":", "-"))
	}
}

// codecs parses an Allow value: "(ulaw|alaw)" → [ulaw alaw].
func codecs(allow string) pbx.Codecs {
	allow = strings.Trim(allow, "() ")
	out := pbx.Codecs{}
	if allow == "" {
		return out
	}
	for _, c := range strings.FieldsFunc(allow, func(r rune) bool { return r == '|' || r == ',' }) {
		if c = strings.TrimSpace(c); c != "" {
			out = append(out, intern(c))
		}
	}
	return out
}

// setContact writes an object's address and user agent (a removed contact
// clears the user agent; an empty one keeps the known one) and reports
// whether anything changed.
func setContact(objIP, objPort, objUA *string, ip, port, ua string, removed bool) bool {
	if removed {
		ua = ""
	} else if ua == "" {
		ua = *objUA
	}
	if *objIP == ip && *objPort == port && *objUA == ua {
		return false
	}
	*objIP, *objPort, *objUA = keep(ip), keep(port), intern(ua)
	return true
}

// takeContactQueries returns the endpoints whose contact details are to be
// read, with the seq of the ContactStatus that asked, and forgets them.
func (m *Model) takeContactQueries() map[string]uint64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.contactQueries) == 0 {
		return nil
	}
	q := m.contactQueries
	m.contactQueries = map[string]uint64{}
	return q
}

// applyContactDetails applies the ContactStatusDetail items of a
// PJSIPShowEndpoint that a ContactStatus of id with seq asked for, unless a
// later ContactStatus of id came meanwhile (it is newer than the answer).
func (m *Model) applyContactDetails(id string, seq uint64, items []*goami2.Message) []cluster.Event {
	return m.update(func() {
		if m.contactSeq[id] != seq {
			return
		}
		for _, it := range items {
			if field(it, "Event") == "ContactStatusDetail" && !strings.EqualFold(field(it, "Status"), "removed") {
				m.contact(id, field(it, "ViaAddress"), field(it, "URI"), field(it, "UserAgent"), false)
			}
		}
	})
}
