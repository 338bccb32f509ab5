package pbx

import "strings"

// Kind is the kind of a keyed PBX object: it fixes the object's state key
// prefix and the name of the owner event that carries its changes. The PBX
// owner (package ami) writes objects with it and the nodes (package ws)
// read them back with KindOf, so the two sides cannot disagree.
type Kind uint8

// The kinds of keyed PBX objects.
const (
	KindExten Kind = iota
	KindQueue
	KindQueueMember
	KindTrunk
	KindParking
	KindConf
	KindVoicemail
)

// kinds lists every Kind, in the order KindOf tries their prefixes.
var kinds = [...]Kind{KindExten, KindQueueMember, KindQueue, KindTrunk, KindParking, KindConf, KindVoicemail}

// Prefix is the kind's state key prefix (KeyExten, …).
func (k Kind) Prefix() string {
	switch k {
	case KindExten:
		return KeyExten
	case KindQueue:
		return KeyQueue
	case KindQueueMember:
		return KeyQueueMember
	case KindTrunk:
		return KeyTrunk
	case KindParking:
		return KeyParking
	case KindConf:
		return KeyConf
	default:
		return KeyVoicemail
	}
}

// ChangeEvent is the name of the owner event that carries a change of an
// object of this kind (EvExtenChanged, …).
func (k Kind) ChangeEvent() string {
	switch k {
	case KindExten:
		return EvExtenChanged
	case KindQueue:
		return EvQueueChanged
	case KindQueueMember:
		return EvQueueMemberChanged
	case KindTrunk:
		return EvTrunkChanged
	case KindParking:
		return EvParkingChanged
	case KindConf:
		return EvConfBridgeConfChanged
	default:
		return EvVoicemailChanged
	}
}

// Key is the state key of the object id of this kind ("exten/201"); a
// queue member's id is "<queue>/<exten>".
func (k Kind) Key(id string) string { return k.Prefix() + id }

// KindOf returns the kind of a state key and the object id after its
// prefix; ok is false for a key of no known kind.
func KindOf(key string) (k Kind, id string, ok bool) {
	for _, k := range kinds {
		if id, ok := strings.CutPrefix(key, k.Prefix()); ok {
			return k, id, true
		}
	}
	return 0, "", false
}
