package pbx

// Object key prefixes of the PBX state (cluster.Event.Key,
// cluster.Object.Key): the owner writes "<prefix><id>" (queue members
// "<prefix><queue>/<exten>"), the nodes read by prefix. Kind.Prefix returns
// the one of a kind; both sides use these constants.
const (
	KeyExten       = "exten/"
	KeyQueue       = "queue/"
	KeyQueueMember = "queuemember/"
	KeyTrunk       = "trunk/"
	KeyParking     = "parking/"
	KeyConf        = "conf/"
	KeyVoicemail   = "voicemail/"
)
