package ws

import "github.com/ctiws/ctiws/directory"

// rooms is the set of NethCTI rooms a login joined (docs/protocol.md, section 3.1), as bits.
type rooms uint16

const (
	roomExtensionsClear rooms = 1 << iota
	roomExtensionsPrivacy
	roomQueuesClear
	roomQueuesPrivacy
	roomTrunksClear
	roomTrunksPrivacy
	roomParkingsClear
	roomParkingsPrivacy
	roomQManager
)

// roomsFor computes the rooms of a user from its profile (docs/protocol.md, section 3.1). Trunk
// events go to the trunks rooms (a fix: the original sent them to the
// extensions rooms).
func roomsFor(u *directory.User) rooms {
	if u == nil {
		return 0
	}
	p := u.Perms
	var r rooms
	pick := func(clear, privacy rooms, priv bool) rooms {
		if priv {
			return privacy
		}
		return clear
	}
	if p.PresencePanel {
		r |= pick(roomExtensionsClear, roomExtensionsPrivacy, p.Privacy)
	}
	if p.Queues || p.AdminQueues {
		r |= pick(roomQueuesClear, roomQueuesPrivacy, p.Privacy && !p.AdminQueues)
	}
	if p.Trunks {
		r |= pick(roomTrunksClear, roomTrunksPrivacy, p.Privacy)
	}
	if p.Parkings {
		r |= pick(roomParkingsClear, roomParkingsPrivacy, p.Privacy)
	}
	if p.QManager {
		r |= roomQManager
	}
	return r
}
