package pbx

import (
	"slices"
	"strconv"
	"unicode/utf8"
)

// The append encoders below write the fixed shapes of this package byte for
// byte as encoding/json does (Encoder: no HTML escaping at the top level).
// A field whose type has a MarshalJSON method (Map, Codecs, ParkedCaller)
// is written as that method writes it: with json.Marshal, which escapes
// '<', '>' and '&' — hence the html flag, set for everything nested in one
// of them. TestAppendMatchesEncodingJSON and FuzzAppendJSON hold the two
// in step; a type added here needs a row there.

// appender holds the scratch space of one Encoder.
type appender struct {
	keys []string // sorted map keys
	// cmp writes the comparison JSON: every clock-derived field as 0 (as
	// after SetTimes(0)), its place and inputs noted in marks for stamp.
	cmp   bool
	marks []clockMark
	memo  chanMemo
	heads headMemo
}

const hexDigits = "0123456789abcdef"

// safeBytes classifies each byte for appendString: bit 0 set when the byte
// is written as is, bit 1 when it is so even with HTML escaping. Bytes of
// multi-byte characters (>= 0x80) are neither: they take the slow path.
const safeBytes = "\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00" +
	"\x03\x03\x00\x03\x03\x03\x01\x03\x03\x03\x03\x03\x03\x03\x03\x03\x03\x03\x03\x03\x03\x03\x03\x03\x03\x03\x03\x03\x01\x03\x01\x03" +
	"\x03\x03\x03\x03\x03\x03\x03\x03\x03\x03\x03\x03\x03\x03\x03\x03\x03\x03\x03\x03\x03\x03\x03\x03\x03\x03\x03\x03\x00\x03\x03\x03" +
	"\x03\x03\x03\x03\x03\x03\x03\x03\x03\x03\x03\x03\x03\x03\x03\x03\x03\x03\x03\x03\x03\x03\x03\x03\x03\x03\x03\x03\x03\x03\x03\x03" +
	"\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00" +
	"\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00" +
	"\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00" +
	"\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"

// appendString is encoding/json's string encoder.
func appendString(dst []byte, s string, html bool) []byte {
	dst = append(dst, '"')
	start := 0
	var mask byte = 1
	if html {
		mask = 2
	}
	for i := 0; i < len(s); {
		if i+8 <= len(s) && safe8(s[i:i+8], html) {
			i += 8
			continue
		}
		if safeBytes[s[i]]&mask != 0 {
			i++
			continue
		}
		if b := s[i]; b < utf8.RuneSelf {
			dst = append(dst, s[start:i]...)
			switch b {
			case '\\', '"':
				dst = append(dst, '\\', b)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[b>>4], hexDigits[b&0xF])
			}
			i++
			start = i
			continue
		}
		c, size := utf8.DecodeRuneInString(s[i:])
		if c == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if c == '\u2028' || c == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[c&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// The key arguments below carry the punctuation before the value: `{"id":`
// for an object's first field, `,"owner":` for the others.

func appendStrField(dst []byte, key, v string, html bool) []byte {
	return appendString(append(dst, key...), v, html)
}

func appendIntField(dst []byte, key string, v int64) []byte {
	return strconv.AppendInt(append(dst, key...), v, 10)
}

func appendBoolField(dst []byte, key string, v bool) []byte {
	return strconv.AppendBool(append(dst, key...), v)
}

// appendCodecs writes Codecs as its MarshalJSON does.
func appendCodecs(dst []byte, c Codecs) []byte {
	if c == nil {
		return append(dst, "[]"...)
	}
	dst = append(dst, '[')
	for i, s := range c {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendString(dst, s, true)
	}
	return append(dst, ']')
}

// appendMap writes m as Map's MarshalJSON does: keys sorted, HTML escaped.
// val takes its value by copy: a pointer through a func value would move
// every value to the heap.
func appendMap[V any](a *appender, dst []byte, m Map[V], val func(*appender, []byte, V) []byte) []byte {
	if len(m) == 0 {
		return append(dst, "{}"...)
	}
	keys := a.keys[:0]
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	dst = append(dst, '{')
	for i, k := range keys {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendString(dst, k, true)
		dst = append(dst, ':')
		dst = val(a, dst, m[k])
	}
	clear(keys)
	a.keys = keys[:0]
	return append(dst, '}')
}

func appendChannel(dst []byte, c *Channel, html bool) []byte {
	if c == nil {
		return append(dst, "null"...)
	}
	dst = appendStrField(dst, `{"type":`, c.Type, html)
	dst = appendStrField(dst, `,"channel":`, c.Channel, html)
	dst = appendStrField(dst, `,"callerNum":`, c.CallerNum, html)
	dst = appendStrField(dst, `,"callerName":`, c.CallerName, html)
	dst = appendStrField(dst, `,"bridgedNum":`, c.BridgedNum, html)
	dst = appendStrField(dst, `,"bridgedName":`, c.BridgedName, html)
	dst = appendIntField(dst, `,"startTime":`, c.StartTime)
	dst = appendBoolField(dst, `,"inConference":`, c.InConference)
	dst = appendStrField(dst, `,"channelStatus":`, c.ChannelStatus, html)
	dst = appendStrField(dst, `,"bridgedChannel":`, c.BridgedChannel, html)
	return append(dst, '}')
}

func appendConversation(a *appender, dst []byte, c Conversation) []byte {
	const html = true // only ever inside a Map
	dst = appendStrField(dst, `{"id":`, c.ID, html)
	dst = appendStrField(dst, `,"owner":`, c.Owner, html)
	dst = a.memo.channel(append(dst, `,"chSource":`...), c.ChSource)
	dst = a.memo.channel(append(dst, `,"chDest":`...), c.ChDest)
	if c.QueueID != "" {
		dst = appendStrField(dst, `,"queueId":`, c.QueueID, html)
	}
	dst = appendStrField(dst, `,"linkedId":`, c.LinkedID, html)
	dst = appendStrField(dst, `,"uniqueId":`, c.UniqueID, html)
	dst = a.clock(dst, `,"duration":`, c.Duration, clockMark{start: c.StartTime})
	dst = appendIntField(dst, `,"startTime":`, c.StartTime)
	dst = appendBoolField(dst, `,"connected":`, c.Connected)
	dst = appendStrField(dst, `,"recording":`, c.Recording, html)
	dst = appendStrField(dst, `,"direction":`, c.Direction, html)
	dst = appendBoolField(dst, `,"inConference":`, c.InConference)
	dst = appendBoolField(dst, `,"throughQueue":`, c.ThroughQueue)
	dst = appendBoolField(dst, `,"throughTrunk":`, c.ThroughTrunk)
	dst = appendStrField(dst, `,"counterpartNum":`, c.CounterpartNum, html)
	dst = appendStrField(dst, `,"counterpartName":`, c.CounterpartName, html)
	return append(dst, '}')
}

func (a *appender) extension(dst []byte, e *Extension) []byte {
	dst = extensionHead(dst, e)
	dst = appendMap(a, dst, e.Conversations, appendConversation)
	return append(dst, '}')
}

// extensionHead writes e up to its conversations' key.
func extensionHead(dst []byte, e *Extension) []byte {
	const html = false
	dst = appendStrField(dst, `{"ip":`, e.IP, html)
	dst = appendStrField(dst, `,"port":`, e.Port, html)
	dst = appendStrField(dst, `,"mac":`, e.MAC, html)
	dst = appendStrField(dst, `,"exten":`, e.Exten, html)
	dst = appendStrField(dst, `,"name":`, e.Name, html)
	dst = appendStrField(dst, `,"username":`, e.Username, html)
	dst = appendStrField(dst, `,"status":`, e.Status, html)
	dst = appendBoolField(dst, `,"dnd":`, e.DND)
	dst = appendStrField(dst, `,"cf":`, e.CF, html)
	dst = appendStrField(dst, `,"cfb":`, e.CFB, html)
	dst = appendStrField(dst, `,"cfu":`, e.CFU, html)
	dst = appendStrField(dst, `,"cfVm":`, e.CFVm, html)
	dst = appendStrField(dst, `,"cfbVm":`, e.CFBVm, html)
	dst = appendStrField(dst, `,"cfuVm":`, e.CFUVm, html)
	dst = appendCodecs(append(dst, `,"codecs":`...), e.Codecs)
	dst = appendStrField(dst, `,"context":`, e.Context, html)
	dst = appendStrField(dst, `,"chanType":`, e.ChanType, html)
	if e.UseWebsocket != nil {
		dst = appendBoolField(dst, `,"useWebsocket":`, *e.UseWebsocket)
	}
	dst = appendStrField(dst, `,"sipuseragent":`, e.SIPUserAgent, html)
	return append(dst, `,"conversations":`...)
}

func appendTrunkConversation(a *appender, dst []byte, c TrunkConversation) []byte {
	const html = true // only ever inside a Map
	dst = appendStrField(dst, `{"id":`, c.ID, html)
	dst = appendStrField(dst, `,"owner":`, c.Owner, html)
	dst = a.memo.channel(append(dst, `,"chDest":`...), c.ChDest)
	dst = a.memo.channel(append(dst, `,"chSource":`...), c.ChSource)
	dst = a.clock(dst, `,"duration":`, c.Duration, clockMark{start: c.StartTime})
	dst = appendStrField(dst, `,"recording":`, c.Recording, html)
	dst = appendStrField(dst, `,"direction":`, c.Direction, html)
	dst = appendStrField(dst, `,"internalNum":`, c.InternalNum, html)
	dst = appendStrField(dst, `,"externalNum":`, c.ExternalNum, html)
	dst = appendStrField(dst, `,"internalName":`, c.InternalName, html)
	dst = appendStrField(dst, `,"externalName":`, c.ExternalName, html)
	dst = appendBoolField(dst, `,"throughQueue":`, c.ThroughQueue)
	return append(dst, '}')
}

func (a *appender) trunk(dst []byte, t *Trunk) []byte {
	const html = false
	dst = appendStrField(dst, `{"ip":`, t.IP, html)
	dst = appendStrField(dst, `,"port":`, t.Port, html)
	dst = appendStrField(dst, `,"name":`, t.Name, html)
	dst = appendStrField(dst, `,"exten":`, t.Exten, html)
	dst = appendCodecs(append(dst, `,"codecs":`...), t.Codecs)
	dst = appendStrField(dst, `,"status":`, t.Status, html)
	dst = appendStrField(dst, `,"registration":`, t.Registration, html)
	dst = appendStrField(dst, `,"chanType":`, t.ChanType, html)
	dst = appendIntField(dst, `,"maxChannels":`, int64(t.MaxChannels))
	dst = appendStrField(dst, `,"sipuseragent":`, t.SIPUserAgent, html)
	dst = appendMap(a, append(dst, `,"conversations":`...), t.Conversations, appendTrunkConversation)
	return append(dst, '}')
}

func appendQueueMember(dst []byte, q *QueueMember, html bool) []byte {
	dst = appendStrField(dst, `{"type":`, q.Type, html)
	dst = appendStrField(dst, `,"name":`, q.Name, html)
	dst = appendStrField(dst, `,"queue":`, q.Queue, html)
	dst = appendStrField(dst, `,"member":`, q.Member, html)
	dst = appendBoolField(dst, `,"paused":`, q.Paused)
	dst = appendBoolField(dst, `,"loggedIn":`, q.LoggedIn)
	dst = appendIntField(dst, `,"callsTakenCount":`, q.CallsTakenCount)
	dst = appendIntField(dst, `,"lastCallTimestamp":`, q.LastCallTimestamp)
	dst = appendStrField(dst, `,"lastPausedInReason":`, q.LastPausedInReason, html)
	dst = appendIntField(dst, `,"lastPausedInTimestamp":`, q.LastPausedInTimestamp)
	dst = appendIntField(dst, `,"lastPausedOutTimestamp":`, q.LastPausedOutTimestamp)
	return append(dst, '}')
}

func appendWaitingCaller(a *appender, dst []byte, w WaitingCaller) []byte {
	const html = true // only ever inside a Map
	dst = appendStrField(dst, `{"id":`, w.ID, html)
	dst = appendStrField(dst, `,"num":`, w.Num, html)
	dst = appendStrField(dst, `,"name":`, w.Name, html)
	dst = appendStrField(dst, `,"queue":`, w.Queue, html)
	dst = a.clock(dst, `,"waiting":`, w.Waiting, clockMark{start: w.WaitingTime})
	dst = appendStrField(dst, `,"channel":`, w.Channel, html)
	dst = appendStrField(dst, `,"position":`, w.Position, html)
	dst = appendIntField(dst, `,"waitingTime":`, w.WaitingTime)
	return append(dst, '}')
}

func (a *appender) queue(dst []byte, q *Queue) []byte {
	const html = false
	dst = appendStrField(dst, `{"name":`, q.Name, html)
	dst = appendStrField(dst, `,"queue":`, q.Queue, html)
	dst = appendMap(a, append(dst, `,"members":`...), q.Members, func(_ *appender, b []byte, m QueueMember) []byte {
		return appendQueueMember(b, &m, true)
	})
	dst = appendStrField(dst, `,"avgHoldTime":`, q.AvgHoldTime, html)
	dst = appendStrField(dst, `,"avgTalkTime":`, q.AvgTalkTime, html)
	dst = appendMap(a, append(dst, `,"waitingCallers":`...), q.WaitingCallers, appendWaitingCaller)
	dst = appendStrField(dst, `,"completedCallsCount":`, q.CompletedCallsCount, html)
	dst = appendStrField(dst, `,"abandonedCallsCount":`, q.AbandonedCallsCount, html)
	dst = appendStrField(dst, `,"serviceLevelTimePeriod":`, q.ServiceLevelTimePeriod, html)
	dst = appendStrField(dst, `,"serviceLevelPercentage":`, q.ServiceLevelPercentage, html)
	return append(dst, '}')
}

func (a *appender) parking(dst []byte, p *Parking) []byte {
	const html = false
	dst = appendStrField(dst, `{"name":`, p.Name, html)
	dst = appendStrField(dst, `,"parking":`, p.Parking, html)
	dst = appendIntField(dst, `,"timeout":`, int64(p.Timeout))
	dst = a.parkedCaller(append(dst, `,"parkedCaller":`...), &p.ParkedCaller)
	return append(dst, '}')
}

// parkedCaller writes c as its MarshalJSON does.
func (a *appender) parkedCaller(dst []byte, c *ParkedCaller) []byte {
	if c.Empty() {
		return append(dst, "{}"...)
	}
	const html = true
	dst = appendStrField(dst, `{"num":`, c.Num, html)
	dst = appendStrField(dst, `,"name":`, c.Name, html)
	dst = appendStrField(dst, `,"parking":`, c.Parking, html)
	dst = appendStrField(dst, `,"channel":`, c.Channel, html)
	dst = a.clock(dst, `,"timeout":`, c.Timeout, clockMark{start: c.ParkedAt, left: c.TimeoutAt, down: true})
	dst = appendStrField(dst, `,"parkeeNum":`, c.ParkeeNum, html)
	dst = appendStrField(dst, `,"parkeeName":`, c.ParkeeName, html)
	return append(dst, '}')
}

func appendConfUser(_ *appender, dst []byte, u ConfUser) []byte {
	const html = true // only ever inside a Map
	dst = appendStrField(dst, `{"id":`, u.ID, html)
	dst = appendStrField(dst, `,"name":`, u.Name, html)
	if u.Site != "" {
		dst = appendStrField(dst, `,"site":`, u.Site, html)
	}
	dst = appendBoolField(dst, `,"owner":`, u.Owner)
	dst = appendBoolField(dst, `,"muted":`, u.Muted)
	if u.Prefix != "" {
		dst = appendStrField(dst, `,"prefix":`, u.Prefix, html)
	}
	dst = appendStrField(dst, `,"extenId":`, u.ExtenID, html)
	return append(dst, '}')
}

func (a *appender) conference(dst []byte, c *Conference) []byte {
	dst = appendStrField(dst, `{"id":`, c.ID, false)
	dst = appendMap(a, append(dst, `,"users":`...), c.Users, appendConfUser)
	return append(dst, '}')
}

func appendVoicemail(dst []byte, v *Voicemail) []byte {
	dst = appendStrField(dst, `{"voicemail":`, v.Voicemail, false)
	dst = appendStrField(dst, `,"new":`, v.New, false)
	dst = appendStrField(dst, `,"old":`, v.Old, false)
	return append(dst, '}')
}

func appendExtenDialing(dst []byte, d *ExtenDialing) []byte {
	dst = appendStrField(dst, `{"dialingExten":`, d.DialingExten, false)
	dst = appendStrField(dst, `,"callerIdentity":{"numCalled":`, d.CallerIdentity.NumCalled, false)
	dst = appendStrField(dst, `,"callerNum":`, d.CallerIdentity.CallerNum, false)
	dst = appendStrField(dst, `,"callerName":`, d.CallerIdentity.CallerName, false)
	dst = appendBoolField(dst, `},"callerHasConf":`, d.CallerHasConf)
	dst = appendStrField(dst, `,"channel":`, d.Channel, false)
	dst = appendStrField(dst, `,"destUniqueId":`, d.DestUniqueID, false)
	return append(dst, '}')
}

func appendExtenConnected(dst []byte, c *ExtenConnected) []byte {
	dst = appendStrField(dst, `{"num1":`, c.Num1, false)
	dst = appendStrField(dst, `,"num2":`, c.Num2, false)
	dst = appendStrField(dst, `,"direction":`, c.Direction, false)
	dst = appendStrField(dst, `,"uniqueid":`, c.UniqueID, false)
	dst = appendStrField(dst, `,"linkedid":`, c.LinkedID, false)
	dst = appendBoolField(dst, `,"throughTrunk":`, c.ThroughTrunk)
	return append(dst, '}')
}

func appendExtenHangup(dst []byte, h *ExtenHangup) []byte {
	dst = appendStrField(dst, `{"cause":`, h.Cause, false)
	dst = appendStrField(dst, `,"callerNum":`, h.CallerNum, false)
	dst = appendStrField(dst, `,"channelExten":`, h.ChannelExten, false)
	dst = appendStrField(dst, `,"calledNum":`, h.CalledNum, false)
	return append(dst, '}')
}

// append writes v when it is one of the fixed shapes (ok false otherwise).
func (a *appender) append(dst []byte, v any) (_ []byte, ok bool) {
	switch v := v.(type) {
	case *Extension:
		if v == nil {
			return dst, false
		}
		return a.extension(dst, v), true
	case Extension:
		return a.extension(dst, &v), true
	case *Trunk:
		if v == nil {
			return dst, false
		}
		return a.trunk(dst, v), true
	case Trunk:
		return a.trunk(dst, &v), true
	case *Queue:
		if v == nil {
			return dst, false
		}
		return a.queue(dst, v), true
	case Queue:
		return a.queue(dst, &v), true
	case *QueueMember:
		if v == nil {
			return dst, false
		}
		return appendQueueMember(dst, v, false), true
	case QueueMember:
		return appendQueueMember(dst, &v, false), true
	case *Parking:
		if v == nil {
			return dst, false
		}
		return a.parking(dst, v), true
	case Parking:
		return a.parking(dst, &v), true
	case *Conference:
		if v == nil {
			return dst, false
		}
		return a.conference(dst, v), true
	case Conference:
		return a.conference(dst, &v), true
	case *Voicemail:
		if v == nil {
			return dst, false
		}
		return appendVoicemail(dst, v), true
	case Voicemail:
		return appendVoicemail(dst, &v), true
	case *ExtenDialing:
		if v == nil {
			return dst, false
		}
		return appendExtenDialing(dst, v), true
	case ExtenDialing:
		return appendExtenDialing(dst, &v), true
	case *ExtenConnected:
		if v == nil {
			return dst, false
		}
		return appendExtenConnected(dst, v), true
	case ExtenConnected:
		return appendExtenConnected(dst, &v), true
	case *ExtenHangup:
		if v == nil {
			return dst, false
		}
		return appendExtenHangup(dst, v), true
	case ExtenHangup:
		return appendExtenHangup(dst, &v), true
	}
	return dst, false
}
