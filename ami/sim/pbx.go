package sim

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"time"
)

// pbx is the state of the simulated Asterisk. It is not safe for
// concurrent use: the Server guards it with its mutex. Every mutation emits
// the AMI events that describe it through emit, in order, so that snapshot
// answers built from the state always agree with the events sent so far.
type pbx struct {
	cfg   *Config
	rng   *rand.Rand
	epoch int64         // unix seconds at simulated time 0
	now   time.Duration // simulated time
	emit  func(m *Message)
	sched sched

	uidSeq  uint64
	chanSeq uint32
	brSeq   uint64
	calls   uint64

	exts    map[string]*endpoint
	extList []*endpoint
	trunk   *endpoint

	trunkUnregistered bool

	chans   map[string]*channel
	bridges map[string]*bridge

	queues    map[string]*queue
	queueList []*queue

	parked     map[int]*parkedCall
	parkBridge *bridge
	conf       *conference

	db        map[string]string // AstDB without the leading "/": "DND/201" → "YES"
	mailboxes map[string]*mailbox
	custom    map[string]string // custom device states: "Custom:DND201" → "BUSY"
	lastDev   map[string]string // last DeviceStateChange per device
	lastHint  map[string]int    // last ExtensionStatus per hint exten

	bootedAt   time.Time // real time of the last (re)start, for Uptime
	reloadedAt time.Time
	restarts   int
}

// endpoint is a PJSIP endpoint: an extension or the trunk.
type endpoint struct {
	id, name  string
	idx       int
	isTrunk   bool
	chans     map[*channel]struct{}
	reachable bool
	ua        string
	ip        string
	port      int
	callID    string
	rtt       int   // qualify round trip, usec
	regExpire int64 // unix seconds
	benchBusy bool  // in use by the bench (BenchPresence), without a channel
}

// channel is one live channel.
type channel struct {
	seq       uint64
	name      string
	uid       string
	linked    string
	state     int
	cidNum    string
	cidName   string
	conNum    string
	conName   string
	context   string
	exten     string
	priority  int
	app       string
	appData   string
	bridge    *bridge
	created   time.Duration
	ep        *endpoint // owning extension or trunk; nil for Local channels
	hold      bool
	recording bool // MixMonitor runs on it
	alive     bool
}

// bridge is one bridge (basic, parking or conference).
type bridge struct {
	id      string
	typ     string
	tech    string
	creator string
	name    string
	chans   []*channel
}

type queue struct {
	num, name string
	ringall   bool
	members   []*member
	callers   []*queueCaller
	completed int
	abandoned int
	holdSum   int64 // seconds, over completed calls
	talkSum   int64
	slOK      int // answered within the service level
}

type member struct {
	ext        string
	iface      string
	stateIface string
	name       string
	membership string // static | dynamic
	penalty    int
	paused     bool
	reason     string
	callsTaken int
	lastCall   int64
	lastPause  int64
	loginTime  int64
	inCall     bool
	status     int // AST_DEVICE_* number
	busy       bool
}

type queueCaller struct {
	ch      *channel
	joined  time.Duration
	origPos int
	waiting bool
	rings   []*queueRing // the members being rung, if any
}

// queueRing is one attempt to reach a member: the Local pair and the
// member's phone channel.
type queueRing struct {
	l1, l2, phone *channel
	m             *member
	at            time.Duration
}

type parkedCall struct {
	space    int
	ch       *channel
	parker   string // ParkerDialString, e.g. PJSIP/202
	parkedAt time.Duration
}

type conference struct {
	room    string
	bridge  *bridge
	users   []*confUser
	started time.Duration
}

type confUser struct {
	ch     *channel
	admin  bool
	muted  bool
	joined time.Duration
}

type mailbox struct {
	newMsgs, oldMsgs int
}

// Channel states (ast_channel_state).
const (
	stDown    = 0
	stRing    = 4
	stRinging = 5
	stUp      = 6
)

func stateDesc(s int) string {
	switch s {
	case 0:
		return "Down"
	case 1:
		return "Rsrvd"
	case 2:
		return "OffHook"
	case 3:
		return "Dialing"
	case 4:
		return "Ring"
	case 5:
		return "Ringing"
	case 6:
		return "Up"
	case 7:
		return "Busy"
	case 8:
		return "Dialing Offhook"
	case 9:
		return "Pre-ring"
	}
	return "Unknown"
}

func newPBX(cfg *Config, epoch int64, emit func(*Message)) *pbx {
	p := &pbx{
		cfg:   cfg,
		rng:   rand.New(rand.NewPCG(uint64(cfg.Seed), 0x9e3779b97f4a7c15)),
		epoch: epoch,
		emit:  emit,
		exts:  map[string]*endpoint{},
		db:    map[string]string{},
	}
	p.bootedAt = time.Now()
	p.reloadedAt = p.bootedAt
	for i, e := range cfg.Extensions {
		ep := &endpoint{id: e.ID, name: e.Name, idx: i, reachable: true}
		p.initContact(ep)
		p.exts[e.ID] = ep
		p.extList = append(p.extList, ep)
	}
	p.trunk = &endpoint{id: cfg.Trunk.Name, name: cfg.Trunk.Name, isTrunk: true, reachable: true,
		ua: "", ip: cfg.Trunk.Host, port: 5060, rtt: 23000}
	p.mailboxes = map[string]*mailbox{}
	for _, e := range p.extList {
		p.mailboxes[e.id] = &mailbox{}
	}
	p.resetCalls()
	return p
}

// resetCalls clears everything an Asterisk restart loses: channels,
// bridges, queue callers and statistics, parked calls, conferences and the
// cached device states. AstDB, mailboxes, contacts and dynamic queue members
// survive (AstDB is persistent, like queues' persistentmembers).
func (p *pbx) resetCalls() {
	p.chans = map[string]*channel{}
	p.bridges = map[string]*bridge{}
	p.parked = map[int]*parkedCall{}
	p.parkBridge = nil
	p.conf = nil
	p.custom = map[string]string{}
	p.lastDev = map[string]string{}
	p.lastHint = map[string]int{}
	for _, e := range p.extList {
		e.chans = map[*channel]struct{}{}
		if p.db["DND/"+e.id] != "" {
			p.custom["Custom:DND"+e.id] = "BUSY"
		} else {
			p.custom["Custom:DND"+e.id] = "NOT_INUSE"
		}
	}
	p.trunk.chans = map[*channel]struct{}{}
	old := map[string]*queue{}
	for _, q := range p.queueList {
		old[q.num] = q
	}
	p.queues = map[string]*queue{}
	p.queueList = nil
	for _, qc := range p.cfg.Queues {
		q := &queue{num: qc.Number, name: qc.Name, ringall: qc.Strategy == "ringall"}
		if prev := old[q.num]; prev != nil {
			// Keep who is logged in (persistent members), reset counters.
			for _, m := range prev.members {
				m.callsTaken, m.lastCall, m.inCall, m.busy = 0, 0, false, false
				q.members = append(q.members, m)
			}
		} else {
			for _, ext := range qc.Static {
				q.members = append(q.members, p.newMember(ext, "static"))
			}
			for _, ext := range qc.Dynamic {
				q.members = append(q.members, p.newMember(ext, "dynamic"))
			}
		}
		p.queues[q.num] = q
		p.queueList = append(p.queueList, q)
	}
	for space := p.cfg.Parking.Start; space <= p.cfg.Parking.Stop && space-p.cfg.Parking.Start <= 1000; space++ {
		p.lastDev[p.parkDevice(space)] = "NOT_INUSE"
	}
	for _, e := range p.extList {
		p.lastDev["PJSIP/"+e.id] = p.devState(e)
		p.lastHint[e.id] = p.hintStatus(e)
		p.lastDev["Custom:DND"+e.id] = p.custom["Custom:DND"+e.id]
	}
	p.lastDev["PJSIP/"+p.trunk.id] = p.devState(p.trunk)
	for _, q := range p.queueList {
		for _, m := range q.members {
			m.status = p.memberStatus(m)
		}
	}
}

func (p *pbx) initContact(e *endpoint) {
	uas := []string{"Yealink SIP-T46U 108.86.0.70", "Snom D785 10.1.141.13", "Fanvil X6U 2.12.3", "NethLink 1.2.0", "Linphone 5.2.0 (belle-sip/5.2.0)"}
	e.ua = uas[e.idx%len(uas)]
	e.ip = fmt.Sprintf("192.168.5.%d", 10+e.idx%240)
	e.port = 5060 + e.idx/240
	e.callID = fmt.Sprintf("%08x-%04x-4a5b-9c1d-%012x", 0x5eed0000+e.idx, e.idx*7, 0xabcdef000000+e.idx)
	e.rtt = 2000 + e.idx*37%3000
}

func (p *pbx) newMember(ext, membership string) *member {
	name := ext
	if e := p.exts[ext]; e != nil {
		name = e.name
	}
	m := &member{
		ext:        ext,
		iface:      "Local/" + ext + "@from-queue/n",
		stateIface: "hint:" + ext + "@ext-local",
		name:       name,
		membership: membership,
		loginTime:  p.unix(),
	}
	m.status = p.memberStatus(m)
	return m
}

// unix returns the simulated wall clock in unix seconds.
func (p *pbx) unix() int64 { return p.epoch + int64(p.now/time.Second) }

// nextUID returns a new Uniqueid "<epoch>.<seq>".
func (p *pbx) nextUID() string {
	p.uidSeq++
	return strconv.FormatInt(p.unix(), 10) + "." + strconv.FormatUint(p.uidSeq, 10)
}

// nextChanSuffix returns the next 8-hex channel suffix.
func (p *pbx) nextChanSuffix() string {
	p.chanSeq++
	return fmt.Sprintf("%08x", p.chanSeq)
}

// uuid returns an RNG-derived UUID (bridge ids).
func (p *pbx) uuid() string {
	a, b := p.rng.Uint64(), p.rng.Uint64()
	return fmt.Sprintf("%08x-%04x-4%03x-%04x-%012x", a>>32, (a>>16)&0xffff, a&0xfff, 0x8000|(b>>48)&0x3fff, b&0xffffffffffff)
}

// duration formats d as Asterisk's HH:MM:SS.
func hms(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	s := int64(d / time.Second)
	return fmt.Sprintf("%02d:%02d:%02d", s/3600, s/60%60, s%60)
}
