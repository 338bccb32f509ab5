package pbx

import "encoding/json"

// Event names published by the owner of a tenant's PBX (the model events of
// docs/ami-model.md, named like astproxy's). The bus carries them as opaque
// names (cluster.Event.Name); the owner (package ami) publishes them and the
// nodes (package ws) route them. The bus's own resync marker,
// cluster.EvResync, is not among them: it belongs to the bus contract.
const (
	EvExtenChanged          = "extenChanged"
	EvExtenDialing          = "extenDialing"
	EvExtenConnected        = "extenConnected"
	EvExtenHangup           = "extenHangup"
	EvQueueChanged          = "queueChanged"
	EvQueueMemberChanged    = "queueMemberChanged"
	EvTrunkChanged          = "trunkChanged"
	EvParkingChanged        = "parkingChanged"
	EvConfBridgeConfChanged = "confBridgeConfChanged"
	EvConfBridgeConfEnd     = "confBridgeConfEnd"
	EvVoicemailChanged      = "voicemailChanged"
)

// ExtenDialing is the data of EvExtenDialing: extension DialingExten is
// being called (docs/ami-model.md, section 4.3).
type ExtenDialing struct {
	DialingExten   string         `json:"dialingExten"`
	CallerIdentity CallerIdentity `json:"callerIdentity"`
	CallerHasConf  bool           `json:"callerHasConf"`
	Channel        string         `json:"channel"`
	DestUniqueID   string         `json:"destUniqueId"`
}

// CallerIdentity is who calls a dialled extension (ExtenDialing).
type CallerIdentity struct {
	NumCalled  string `json:"numCalled"`
	CallerNum  string `json:"callerNum"`
	CallerName string `json:"callerName"`
}

// ExtenConnected is the data of EvExtenConnected: extension Num1 is
// connected to Num2 (docs/protocol.md, section 4.3).
type ExtenConnected struct {
	Num1         string `json:"num1"`
	Num2         string `json:"num2"`
	Direction    string `json:"direction"`
	UniqueID     string `json:"uniqueid"`
	LinkedID     string `json:"linkedid"`
	ThroughTrunk bool   `json:"throughTrunk"`
}

// ExtenHangup is the data of EvExtenHangup: a channel of extension
// ChannelExten hung up (docs/ami-model.md, section 4.3).
type ExtenHangup struct {
	Cause        string `json:"cause"`
	CallerNum    string `json:"callerNum"`
	ChannelExten string `json:"channelExten"`
	CalledNum    string `json:"calledNum"`
}

// Voicemail is a voicemail box's message counters: the stored object
// "voicemail/<box>" and the data of EvVoicemailChanged. The counters stay
// strings, as AMI gives them.
type Voicemail struct {
	Voicemail string `json:"voicemail"`
	New       string `json:"new"`
	Old       string `json:"old"`
}

// ConfEnd is the data of EvConfBridgeConfEnd and of the clients'
// confBridgeEnd/meetmeConfEnd: the id of the conference that ended.
type ConfEnd struct {
	ID string `json:"id"`
}

// ConfEndJSON is the JSON of ConfEnd{id}: {"id":"<conference id>"}.
func ConfEndJSON(id string) []byte {
	b, _ := json.Marshal(ConfEnd{id}) // a struct of one string always marshals
	return b
}
