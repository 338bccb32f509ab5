// Package pbx is the PBX vocabulary shared by the owner of a tenant's PBX
// (package ami) and the nodes (package ws), importing neither: the object
// kinds and their state keys (kind.go, keys.go), the owner's event names
// and one type per event payload (events.go), the commands a user asks of
// the PBX (command.go), and the JSON object types of the live PBX model, with exactly
// the shapes astproxy's toJSON produces (docs/protocol.md, section 4;
// docs/ami-model.md, section 2): Extension, Conversation, Channel, Queue, QueueMember,
// WaitingCaller, Trunk, TrunkConversation, Parking, ParkedCaller, Conference
// and ConfUser, plus the privacy masking of docs/protocol.md, section 3.3, as pure functions.
//
// Numbers copied from AMI stay strings; fields the original leaves undefined
// are omitted, never null (chSource/chDest are the exception: null is kept).
//
// Time-varying fields (a conversation's duration, a waiting caller's waiting
// seconds, a parked caller's remaining timeout) are not stored: they are
// derived from stored timestamps by SetTimes(now) just before marshalling.
// SetTimes(0) zeroes them, which is how the model compares objects for change
// detection without the clock making every object look changed.
package pbx
