package ami

import "github.com/ctiws/ctiws/cluster"

// okind is the kind of a keyed model object.
type okind uint8

const (
	kExten okind = iota
	kQueue
	kMember
	kTrunk
	kParking
	kConf
	kVoicemail
)

// okey identifies a model object without building its string key.
type okey struct {
	k   okind
	id  string
	sub string // member of a queue
}

// String is the cluster.Event key: exten/201, queuemember/401/201, …
func (k okey) String() string {
	switch k.k {
	case kExten:
		return cluster.KeyExten + k.id
	case kQueue:
		return cluster.KeyQueue + k.id
	case kMember:
		return cluster.KeyQueueMember + k.id + "/" + k.sub
	case kTrunk:
		return cluster.KeyTrunk + k.id
	case kParking:
		return cluster.KeyParking + k.id
	case kConf:
		return cluster.KeyConf + k.id
	default:
		return cluster.KeyVoicemail + k.id
	}
}

// event is the name of the change event of the object.
func (k okey) event() string {
	switch k.k {
	case kExten:
		return cluster.EvExtenChanged
	case kQueue:
		return cluster.EvQueueChanged
	case kMember:
		return cluster.EvQueueMemberChanged
	case kTrunk:
		return cluster.EvTrunkChanged
	case kParking:
		return cluster.EvParkingChanged
	case kConf:
		return cluster.EvConfBridgeConfChanged
	default:
		return cluster.EvVoicemailChanged
	}
}
