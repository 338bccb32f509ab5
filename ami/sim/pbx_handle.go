package sim

import (
	"strconv"
	"strings"
	"time"
)

// handle answers one action of a logged-in client from the PBX state. It
// returns nil for actions it does not know. Connection-level actions
// (Login, Logoff, Ping, Events) are handled by the connection.
func (p *pbx) handle(a *Message) []*Message {
	id := a.Get("ActionID")
	switch strings.ToLower(strings.TrimSpace(a.Get("Action"))) {
	case "pjsipshowendpoints":
		return p.pjsipShowEndpoints(id)
	case "pjsipshowendpoint":
		return p.pjsipShowEndpoint(id, a.Get("Endpoint"))
	case "pjsipshowcontacts":
		return p.pjsipShowContacts(id)
	case "pjsipshowregistrationsoutbound":
		return p.pjsipShowRegistrationsOutbound(id)
	case "coreshowchannels":
		return p.coreShowChannels(id)
	case "queuestatus":
		return p.queueStatus(id, a.Get("Queue"), a.Get("Member"))
	case "queuesummary":
		return p.queueSummary(id, a.Get("Queue"))
	case "parkinglots":
		return p.parkinglots(id)
	case "parkedcalls":
		return p.parkedCalls(id, a.Get("ParkingLot"))
	case "confbridgelistrooms":
		return p.confbridgeListRooms(id)
	case "confbridgelist":
		return p.confbridgeList(id, a.Get("Conference"))
	case "extensionstatelist":
		return p.extensionStateList(id)
	case "extensionstate":
		return p.extensionState(id, a.Get("Exten"), a.Get("Context"))
	case "devicestatelist":
		return p.deviceStateList(id)
	case "mailboxcount":
		return p.mailboxCount(id, a.Get("Mailbox"))
	case "mailboxstatus":
		return p.mailboxStatus(id, a.Get("Mailbox"))
	case "voicemailuserslist":
		return p.voicemailUsersList(id)
	case "dbget":
		return p.dbGet(id, a.Get("Family"), a.Get("Key"))
	case "dbgettree":
		return p.dbGetTree(id, a.Get("Family"), a.Get("Key"))
	case "dbput":
		return p.actDBPut(id, a)
	case "dbdel":
		if a.Get("Family") == "" || a.Get("Key") == "" {
			return []*Message{errorResponse(id, "No family or key specified")}
		}
		if !p.dbDel(a.Get("Family"), a.Get("Key")) {
			return []*Message{errorResponse(id, "Database entry not found")}
		}
		return []*Message{successResponse(id, "Key deleted successfully")}
	case "dbdeltree":
		if a.Get("Family") == "" {
			return []*Message{errorResponse(id, "No family specified.")}
		}
		if p.dbDelTree(a.Get("Family"), a.Get("Key")) == 0 {
			return []*Message{errorResponse(id, "Database entry not found")}
		}
		return []*Message{successResponse(id, "Key tree deleted successfully")}
	case "queueadd":
		return p.actQueueAdd(id, a)
	case "queueremove":
		return p.actQueueRemove(id, a)
	case "queuepause":
		return p.actQueuePause(id, a)
	case "command":
		return p.actCommand(id, a.Get("Command"))
	case "simring":
		return p.simRing(id, a)
	case "simanswer":
		return p.simAnswer(id, a)
	case "simhangup":
		return p.simHangup(id, a)
	case "originate":
		return p.actOriginate(id, a)
	case "hangup":
		return p.actHangup(id, a)
	case "redirect":
		return p.actRedirect(id, a)
	case "blindtransfer":
		return p.actBlindTransfer(id, a)
	case "atxfer":
		return p.actAtxfer(id, a)
	case "bridge":
		return p.actBridge(id, a)
	case "park":
		return p.actPark(id, a)
	case "mixmonitor":
		return p.actMixMonitor(id, a)
	case "stopmixmonitor":
		return p.actStopMixMonitor(id, a)
	case "mixmonitormute":
		return p.actMixMonitorMute(id, a)
	case "setvar":
		return p.actSetvar(id, a)
	case "muteaudio", "userevent", "filter":
		// Accepted without simulating their effect.
		return []*Message{successResponse(id, "")}
	}
	return nil
}

func (p *pbx) actDBPut(id string, a *Message) []*Message {
	fam, key := a.Get("Family"), a.Get("Key")
	switch {
	case fam == "":
		return []*Message{errorResponse(id, "No family specified")}
	case key == "":
		return []*Message{errorResponse(id, "No key specified")}
	}
	p.dbPut(fam, key, a.Get("Val"))
	return []*Message{successResponse(id, "Updated database successfully")}
}

func (p *pbx) actQueueAdd(id string, a *Message) []*Message {
	q, iface := a.Get("Queue"), a.Get("Interface")
	switch {
	case q == "":
		return []*Message{errorResponse(id, "'Queue' not specified.")}
	case iface == "":
		return []*Message{errorResponse(id, "'Interface' not specified.")}
	}
	penalty, _ := strconv.Atoi(a.Get("Penalty"))
	paused := truthy(a.Get("Paused"))
	switch err := p.queueAdd(q, iface, a.Get("MemberName"), a.Get("StateInterface"), penalty, paused); err {
	case nil:
		return []*Message{successResponse(id, "Added interface to queue")}
	case errNoQueue:
		return []*Message{errorResponse(id, "Unable to add interface to queue: No such queue")}
	default:
		return []*Message{errorResponse(id, "Unable to add interface: "+err.Error())}
	}
}

func (p *pbx) actQueueRemove(id string, a *Message) []*Message {
	q, iface := a.Get("Queue"), a.Get("Interface")
	if q == "" || iface == "" {
		return []*Message{errorResponse(id, "Need 'Queue' and 'Interface' parameters.")}
	}
	switch err := p.queueRemove(q, iface); err {
	case nil:
		return []*Message{successResponse(id, "Removed interface from queue")}
	case errNoQueue:
		return []*Message{errorResponse(id, "Unable to remove interface from queue: No such queue")}
	default:
		return []*Message{errorResponse(id, "Unable to remove interface: "+err.Error())}
	}
}

func (p *pbx) actQueuePause(id string, a *Message) []*Message {
	iface, paused := a.Get("Interface"), a.Get("Paused")
	if iface == "" || paused == "" {
		return []*Message{errorResponse(id, "Need 'Interface' and 'Paused' parameters.")}
	}
	on := truthy(paused)
	if err := p.queuePause(a.Get("Queue"), iface, on, a.Get("Reason")); err != nil {
		return []*Message{errorResponse(id, err.Error())}
	}
	if on {
		return []*Message{successResponse(id, "Interface paused successfully")}
	}
	return []*Message{successResponse(id, "Interface unpaused successfully")}
}

func truthy(s string) bool {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "1", "true", "yes", "on", "y", "t":
		return true
	}
	return false
}

// actCommand runs the few CLI commands NethCTI uses through AMI.
func (p *pbx) actCommand(id, cmd string) []*Message {
	r := successResponse(id, "Command output follows")
	out := func(lines ...string) []*Message {
		for _, l := range lines {
			r.Add("Output", l)
		}
		return []*Message{r}
	}
	f := strings.Fields(cmd)
	switch {
	case len(f) == 0:
		return []*Message{errorResponse(id, "No command specified")}
	case strings.EqualFold(strings.Join(f, " "), "core show version"):
		return out("Asterisk " + p.cfg.AsteriskVersion + " built by ctiws-sim @ sim on a x86_64 running Linux")
	case strings.EqualFold(strings.Join(f, " "), "core show uptime") || strings.EqualFold(strings.Join(f, " "), "core show uptime seconds"):
		up := int64(time.Since(p.bootedAt) / time.Second)
		rl := int64(time.Since(p.reloadedAt) / time.Second)
		return out("System uptime: "+strconv.FormatInt(up, 10), "Last reload: "+strconv.FormatInt(rl, 10))
	case len(f) == 4 && strings.EqualFold(f[0], "devstate") && strings.EqualFold(f[1], "change"):
		dev, st := f[2], strings.ToUpper(f[3])
		if !strings.HasPrefix(dev, "Custom:") {
			return out("The devstate command can only be used to set 'Custom:' device state!")
		}
		if devOrder(st) == 0 && st != "INVALID" {
			return out("Invalid device state: " + f[3])
		}
		p.setCustom(dev, st)
		return out("Changing " + dev + " to " + st)
	case len(f) >= 4 && strings.EqualFold(f[0], "presencestate") && strings.EqualFold(f[1], "change"):
		m := NewEvent("PresenceStateChange", privCall)
		m.Add("Presentity", f[2]).Add("Status", strings.ToLower(f[3]))
		sub, msg := "", ""
		if len(f) > 4 {
			sub = f[4]
		}
		if len(f) > 5 {
			msg = strings.Join(f[5:], " ")
		}
		m.Add("Subtype", sub).Add("Message", msg)
		p.emit(m)
		return out("Changing " + f[2] + " to " + f[3])
	case len(f) >= 2 && strings.EqualFold(f[0], "database") && strings.EqualFold(f[1], "show"):
		var lines []string
		fam := ""
		if len(f) > 2 {
			fam = f[2]
		}
		keys := p.dbTree(fam, "")
		for _, k := range keys {
			lines = append(lines, "/"+k+" : "+p.db[k])
		}
		lines = append(lines, strconv.Itoa(len(keys))+" results found.")
		return out(lines...)
	}
	return out("No such command '" + cmd + "' (type 'core show help " + f[0] + "' for other possible commands)")
}
