package cluster

// Object key prefixes of the PBX state (Event.Key, Object.Key): the owner
// writes "<prefix><id>" (queue members "<prefix><queue>/<exten>"), the
// nodes read by prefix. Both sides use these constants.
const (
	KeyExten       = "exten/"
	KeyQueue       = "queue/"
	KeyQueueMember = "queuemember/"
	KeyTrunk       = "trunk/"
	KeyParking     = "parking/"
	KeyConf        = "conf/"
	KeyVoicemail   = "voicemail/"
)
