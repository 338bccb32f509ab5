package pbx

import (
	"encoding/json"
)

// Extension is a PBX extension (astproxy Extension.toJSON, ws extenUpdate).
type Extension struct {
	IP       string `json:"ip"`
	Port     string `json:"port"`
	MAC      string `json:"mac"`
	Exten    string `json:"exten"`
	Name     string `json:"name"`
	Username string `json:"username"`
	// Status is online, offline, busy, ringing, busy_ringing or onhold.
	Status string `json:"status"`
	DND    bool   `json:"dnd"`
	CF     string `json:"cf"`
	CFB    string `json:"cfb"`
	CFU    string `json:"cfu"`
	CFVm   string `json:"cfVm"`
	CFBVm  string `json:"cfbVm"`
	CFUVm  string `json:"cfuVm"`
	Codecs Codecs `json:"codecs"`
	// Context is the endpoint's dialplan context.
	Context  string `json:"context"`
	ChanType string `json:"chanType"`
	// UseWebsocket is set only for chan_sip extensions (absent for PJSIP).
	UseWebsocket  *bool         `json:"useWebsocket,omitempty"`
	SIPUserAgent  string        `json:"sipuseragent"`
	Conversations Conversations `json:"conversations"`
}

// Map is a JSON object keyed by id; nil marshals as {} (never null).
type Map[V any] map[string]V

// MarshalJSON writes nil as {}.
func (m Map[V]) MarshalJSON() ([]byte, error) {
	if m == nil {
		return []byte("{}"), nil
	}
	return json.Marshal(map[string]V(m))
}

// Codecs is a list of codec names; nil marshals as [] like astproxy's empty
// array.
type Codecs []string

// MarshalJSON writes nil as [].
func (c Codecs) MarshalJSON() ([]byte, error) {
	if c == nil {
		return []byte("[]"), nil
	}
	return json.Marshal([]string(c))
}

// Conversations maps conversation id to Conversation.
type Conversations = Map[Conversation]

// Conversation is one call leg of an extension (extension.conversations[id]).
type Conversation struct {
	ID       string   `json:"id"`
	Owner    string   `json:"owner"`
	ChSource *Channel `json:"chSource"`
	ChDest   *Channel `json:"chDest"`
	// QueueID is absent unless the call came through a queue.
	QueueID   string `json:"queueId,omitempty"`
	LinkedID  string `json:"linkedId"`
	UniqueID  string `json:"uniqueId"`
	Duration  int64  `json:"duration"`
	StartTime int64  `json:"startTime"`
	Connected bool   `json:"connected"`
	// Recording is "false", "true" or "mute".
	Recording       string `json:"recording"`
	Direction       string `json:"direction"`
	InConference    bool   `json:"inConference"`
	ThroughQueue    bool   `json:"throughQueue"`
	ThroughTrunk    bool   `json:"throughTrunk"`
	CounterpartNum  string `json:"counterpartNum"`
	CounterpartName string `json:"counterpartName"`
}

// Channel is one side of a conversation (chSource / chDest).
type Channel struct {
	Type           string `json:"type"`
	Channel        string `json:"channel"`
	CallerNum      string `json:"callerNum"`
	CallerName     string `json:"callerName"`
	BridgedNum     string `json:"bridgedNum"`
	BridgedName    string `json:"bridgedName"`
	StartTime      int64  `json:"startTime"`
	InConference   bool   `json:"inConference"`
	ChannelStatus  string `json:"channelStatus"`
	BridgedChannel string `json:"bridgedChannel"`
}

// Queue is an ACD queue (ws queueUpdate). The statistics are AMI strings.
type Queue struct {
	Name                   string             `json:"name"`
	Queue                  string             `json:"queue"`
	Members                Map[QueueMember]   `json:"members"`
	AvgHoldTime            string             `json:"avgHoldTime"`
	AvgTalkTime            string             `json:"avgTalkTime"`
	WaitingCallers         Map[WaitingCaller] `json:"waitingCallers"`
	CompletedCallsCount    string             `json:"completedCallsCount"`
	AbandonedCallsCount    string             `json:"abandonedCallsCount"`
	ServiceLevelTimePeriod string             `json:"serviceLevelTimePeriod"`
	ServiceLevelPercentage string             `json:"serviceLevelPercentage"`
}

// QueueMember is one member of a queue (ws queueMemberUpdate). It is never
// masked.
type QueueMember struct {
	// Type is static, dynamic or realtime.
	Type                   string `json:"type"`
	Name                   string `json:"name"`
	Queue                  string `json:"queue"`
	Member                 string `json:"member"`
	Paused                 bool   `json:"paused"`
	LoggedIn               bool   `json:"loggedIn"`
	CallsTakenCount        int64  `json:"callsTakenCount"`
	LastCallTimestamp      int64  `json:"lastCallTimestamp"`
	LastPausedInReason     string `json:"lastPausedInReason"`
	LastPausedInTimestamp  int64  `json:"lastPausedInTimestamp"`
	LastPausedOutTimestamp int64  `json:"lastPausedOutTimestamp"`
}

// WaitingCaller is a caller waiting in a queue (queue.waitingCallers[channel]).
type WaitingCaller struct {
	ID      string `json:"id"`
	Num     string `json:"num"`
	Name    string `json:"name"`
	Queue   string `json:"queue"`
	Waiting int64  `json:"waiting"` // seconds, derived by SetTimes
	Channel string `json:"channel"`
	// Position is the AMI string.
	Position    string `json:"position"`
	WaitingTime int64  `json:"waitingTime"` // epoch ms when the wait started
}

// Trunk is a configured trunk (ws trunkUpdate).
type Trunk struct {
	IP           string `json:"ip"`
	Port         string `json:"port"`
	Name         string `json:"name"`
	Exten        string `json:"exten"`
	Codecs       Codecs `json:"codecs"`
	Status       string `json:"status"`
	Registration string `json:"registration"`
	ChanType     string `json:"chanType"`
	MaxChannels  int    `json:"maxChannels"`
	SIPUserAgent string `json:"sipuseragent"`
	// Conversations maps conversation id to TrunkConversation; nil
	// marshals as {}.
	Conversations TrunkConversations `json:"conversations"`
}

// TrunkConversations maps conversation id to TrunkConversation.
type TrunkConversations = Map[TrunkConversation]

// TrunkConversation is one call on a trunk.
type TrunkConversation struct {
	ID           string   `json:"id"`
	Owner        string   `json:"owner"`
	ChDest       *Channel `json:"chDest"`
	ChSource     *Channel `json:"chSource"`
	Duration     int64    `json:"duration"`
	Recording    string   `json:"recording"`
	Direction    string   `json:"direction"`
	InternalNum  string   `json:"internalNum"`
	ExternalNum  string   `json:"externalNum"`
	InternalName string   `json:"internalName"`
	ExternalName string   `json:"externalName"`
	ThroughQueue bool     `json:"throughQueue"`
	// StartTime (epoch ms) is kept to derive Duration; it is not part of
	// the original's JSON.
	StartTime int64 `json:"-"`
}

// Parking is one parking space (ws parkingUpdate).
type Parking struct {
	Name    string `json:"name"`
	Parking string `json:"parking"`
	Timeout int    `json:"timeout"` // the lot's timeout in seconds
	// ParkedCaller is the parked call; the zero value (no Channel)
	// marshals as {}.
	ParkedCaller ParkedCaller `json:"parkedCaller"`
}

// ParkedCaller is the call parked in a space.
type ParkedCaller struct {
	Num     string `json:"num"`
	Name    string `json:"name"`
	Parking string `json:"parking"`
	Channel string `json:"channel"`
	Timeout int64  `json:"timeout"` // seconds left, derived by SetTimes
	// ParkeeNum and ParkeeName identify who parked the call (the parker:
	// astproxy's naming is kept for compatibility).
	ParkeeNum  string `json:"parkeeNum"`
	ParkeeName string `json:"parkeeName"`
	// ParkedAt is the local epoch ms when the timeout below was read.
	ParkedAt int64 `json:"-"`
	// TimeoutAt is the timeout in seconds left at ParkedAt.
	TimeoutAt int64 `json:"-"`
}

// Empty reports whether no call is parked.
func (p ParkedCaller) Empty() bool { return p.Channel == "" }

type parkedCallerJSON ParkedCaller

// MarshalJSON writes an empty slot as {}.
func (p ParkedCaller) MarshalJSON() ([]byte, error) {
	if p.Empty() {
		return []byte("{}"), nil
	}
	return json.Marshal(parkedCallerJSON(p))
}

// Conference is a ConfBridge conference owned by an extension.
type Conference struct {
	ID    string        `json:"id"`
	Users Map[ConfUser] `json:"users"`
}

// ConfUser is a conference participant.
type ConfUser struct {
	ID      string `json:"id"`
	Name    string `json:"name"`
	Site    string `json:"site,omitempty"`
	Owner   bool   `json:"owner"`
	Muted   bool   `json:"muted"`
	Prefix  string `json:"prefix,omitempty"`
	ExtenID string `json:"extenId"`
	// Channel is kept to hang up or mute the participant; not in the JSON.
	Channel string `json:"-"`
}
