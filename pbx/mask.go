package pbx

// MaskNumber replaces the last len(r) bytes of num with r, like JavaScript's
// num.slice(0, -N) + r: a number of len(r) or fewer bytes becomes r. An
// empty r means no privacy: num is returned unchanged. A placeholder that
// carries no number (no digit at all: "", "<unknown>", "anonymous") is
// returned unchanged too: masking it hides nothing and turns it into
// something that looks like a number (docs/compatibility.md).
func MaskNumber(num, r string) string {
	if r == "" || !hasDigit(num) {
		return num
	}
	if len(num) <= len(r) {
		return r
	}
	return num[:len(num)-len(r)] + r
}

// hasDigit reports whether s contains an ASCII digit: anything that does
// may be (part of) a phone number and is masked.
func hasDigit(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= '0' && s[i] <= '9' {
			return true
		}
	}
	return false
}

// maskName replaces a whole name with r; an empty r leaves it unchanged.
func maskName(name, r string) string {
	if r == "" {
		return name
	}
	return r
}

// Masked returns a copy of the channel with caller and bridged numbers and
// names masked with r.
func (c *Channel) Masked(r string) *Channel {
	if c == nil {
		return nil
	}
	m := *c
	if r == "" {
		return &m
	}
	m.CallerNum = MaskNumber(c.CallerNum, r)
	m.CallerName = r
	m.BridgedNum = MaskNumber(c.BridgedNum, r)
	m.BridgedName = r
	return &m
}

// Masked returns a copy of the conversation masked with r: counterpart
// number and name, and both channels.
func (c Conversation) Masked(r string) Conversation {
	if r == "" {
		return c
	}
	c.CounterpartNum = MaskNumber(c.CounterpartNum, r)
	c.CounterpartName = maskName(c.CounterpartName, r)
	c.ChSource = c.ChSource.Masked(r)
	c.ChDest = c.ChDest.Masked(r)
	return c
}

// Masked returns a copy of the extension as astproxy's toJSON(outQueue,
// inQueue): each conversation is masked with inQueue when it came through a
// queue and with outQueue otherwise; cf, cfb and cfu, when set, are masked
// with outQueue. Empty strings mean "leave clear".
func (e Extension) Masked(outQueue, inQueue string) Extension {
	e.CF = MaskNumber(e.CF, outQueue)
	e.CFB = MaskNumber(e.CFB, outQueue)
	e.CFU = MaskNumber(e.CFU, outQueue)
	if len(e.Conversations) > 0 && (outQueue != "" || inQueue != "") {
		convs := make(Conversations, len(e.Conversations))
		for id, c := range e.Conversations {
			r := outQueue
			if c.ThroughQueue {
				r = inQueue
			}
			convs[id] = c.Masked(r)
		}
		e.Conversations = convs
	}
	return e
}

// Masked returns a copy of the queue whose waiting callers' numbers and
// names are masked with r. Members are never masked.
func (q Queue) Masked(r string) Queue {
	if r == "" || len(q.WaitingCallers) == 0 {
		return q
	}
	wc := make(Map[WaitingCaller], len(q.WaitingCallers))
	for id, w := range q.WaitingCallers {
		w.Num = MaskNumber(w.Num, r)
		w.Name = r
		wc[id] = w
	}
	q.WaitingCallers = wc
	return q
}

// Masked returns a copy of the trunk whose conversations are masked with r:
// internal/external numbers (when set), names, and channels.
func (t Trunk) Masked(r string) Trunk {
	if r == "" || len(t.Conversations) == 0 {
		return t
	}
	convs := make(TrunkConversations, len(t.Conversations))
	for id, c := range t.Conversations {
		c.InternalNum = MaskNumber(c.InternalNum, r)
		c.ExternalNum = MaskNumber(c.ExternalNum, r)
		c.InternalName = r
		c.ExternalName = r
		c.ChSource = c.ChSource.Masked(r)
		c.ChDest = c.ChDest.Masked(r)
		convs[id] = c
	}
	t.Conversations = convs
	return t
}

// Masked returns a copy of the parking whose parked caller's numbers and
// names are masked with r. An empty slot stays {}.
func (p Parking) Masked(r string) Parking {
	if r == "" || p.ParkedCaller.Empty() {
		return p
	}
	p.ParkedCaller.Num = MaskNumber(p.ParkedCaller.Num, r)
	p.ParkedCaller.ParkeeNum = MaskNumber(p.ParkedCaller.ParkeeNum, r)
	p.ParkedCaller.Name = r
	p.ParkedCaller.ParkeeName = r
	return p
}
