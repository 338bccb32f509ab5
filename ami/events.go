package ami

import (
	"github.com/staskobzar/goami2"
)

// event applies one AMI event to the model.
func (m *Model) event(msg *goami2.Message) {
	switch field(msg, "Event") {
	case "Newchannel":
		m.onNewchannel(msg)
	case "Newstate", "NewCallerid", "NewConnectedLine":
		m.onChannelUpdate(msg)
	case "Rename":
		m.onRename(msg)
	case "DialBegin":
		m.onDialBegin(msg)
	case "DialEnd":
		m.onDialEnd(msg)
	case "BridgeEnter":
		m.onBridgeEnter(msg)
	case "BridgeLeave":
		m.onBridgeLeave(msg)
	case "Hangup":
		m.onHangup(msg)
	case "Hold":
		m.onHold(msg, true)
	case "Unhold":
		m.onHold(msg, false)
	case "DeviceStateChange":
		m.onDeviceState(field(msg, "Device"), field(msg, "State"))
	case "ExtensionStatus":
		m.onExtensionStatus(msg)
	case "ContactStatus":
		m.onContactStatus(msg)
	case "PeerStatus":
		m.onPeerStatus(msg)
	case "Registry":
		m.onRegistry(msg)
	case "Newexten":
		m.onNewexten(msg)
	case "QueueCallerJoin":
		m.onQueueCallerJoin(msg)
	case "QueueCallerLeave":
		m.onQueueCallerLeave(msg)
	case "QueueCallerAbandon":
		m.onQueueCallerAbandon(msg)
	case "QueueMemberAdded", "QueueMemberStatus":
		m.onQueueMember(msg, true)
	case "AgentConnect":
		m.onAgentConnect(msg)
	case "AgentComplete":
		m.onAgentComplete(msg)
	case "QueueMemberRemoved":
		m.onQueueMemberRemoved(msg)
	case "QueueMemberPause", "QueueMemberPaused":
		m.onQueueMemberPause(msg)
	case "ParkedCall":
		m.onParkedCall(msg)
	case "ParkedCallSwap":
		m.onParkedCall(msg)
	case "UnParkedCall", "ParkedCallTimeOut", "ParkedCallGiveUp":
		m.onUnparked(msg)
	case "ConfbridgeJoin":
		m.onConfJoin(msg)
	case "ConfbridgeLeave":
		m.onConfLeave(msg)
	case "ConfbridgeEnd":
		m.onConfEnd(msg)
	case "ConfbridgeMute":
		m.onConfMute(msg, true)
	case "ConfbridgeUnmute":
		m.onConfMute(msg, false)
	case "ChanSpyStart":
		m.onChanSpy(msg, true)
	case "ChanSpyStop":
		m.onChanSpy(msg, false)
	case "MixMonitorStart":
		m.onMixMonitor(msg, true, false)
	case "MixMonitorStop":
		m.onMixMonitor(msg, false, false)
	case "MixMonitorMute":
		m.onMixMonitor(msg, true, field(msg, "State") == "1")
	case "MessageWaiting":
		m.onMessageWaiting(msg)
	}
}
