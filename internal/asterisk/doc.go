// Package asterisk starts the lab PBX for live tests: a real Asterisk
// (built by scripts/asterisk-build.sh) configured like a FreePBX/NethVoice
// PBX, bound to loopback on ports picked at start, with every file
// (configuration, AstDB, spool, logs, recordings) in the test's folder.
//
//	pbx, err := asterisk.Start(ctx, asterisk.Options{Prefix: prefix, Dir: t.TempDir(), Log: &buf})
//	defer pbx.Close()
//
// Start renders the templates under conf/ into Dir/etc, runs
// `asterisk -f -C Dir/etc/asterisk.conf` as a child and returns once
// Asterisk is fully booted and the AMI login (AMIUser, AMISecret: read and
// write "all", no event filter) succeeds. The control socket lives in a
// short /tmp/ast* folder that Close removes.
//
// The numbering plan (plan.go; phones: package internal/sipp):
//
//   - users 201 (alice: devices 201, 91201, 92201, all with caller id
//     "Alice Rossi" <201>), 202, 203, 204 and 205 (configured, never
//     registered); SIP user = device, password "pw<device>" (Password);
//     FreePBX's hints (201 => PJSIP/201&PJSIP/91201&PJSIP/92201&Custom:DND201,CustomPresence:201;
//     91201 and 92201 => their device)
//   - dialling a user rings all its devices (sub-dial-user): DND → busy
//     (486), CF → forward, CFB when busy, CFU when unanswered or
//     unavailable; 204 goes to voicemail after 15 s unanswered
//   - _0XXX. goes out through trunk1 (the peer at 127.0.0.2, TrunkAddr;
//     calls from 127.0.0.2 are trunk1's, context from-pstn):
//     0721405516 → 201, 0721405517 → queue 401, 0721405518 → ring group 600
//   - queues 401 (static Local/203@from-queue/n, state PJSIP/203; bob logs
//     in with QueueAdd) and 402 (203, 204), ringall, 15 s, ringinuse no;
//     callers are answered before they queue (FreePBX's way); ring group
//     600 (202, 203, 204, 20 s, skipping members in DND)
//   - feature codes: *78/*79 DND, *72<n>/*73 CF, *90<n>/*91 CFB,
//     *52<n>/*53 CFU (AstDB and Custom:DND<ext> written exactly as
//     FreePBX does: Set(DB(DND/201)=YES), Noop(Deleting: DND/201 …)),
//     **<ext> directed pickup (any device of the user, also through a
//     queue or a ring group), *8 group pickup, *97 own voicemail,
//     *<ext> leaves a message in <ext>'s box at once, vmu<ext> after the
//     unavailable greeting (the CF value ctiws writes for "voicemail")
//   - parking: 70 parks, 71-78 spaces (dial to pick up), comeback to the
//     parker after Options.ParkingTimeout
//   - ConfBridge rooms 300 and 3<ext> (ctiws's confbridge_prefix "3"; the
//     owner joins as admin); nothing is announced
//   - features.conf: blindxfer ##, atxfer *2, automixmon *3; transfers and
//     ctiws's Originates use context from-internal; MixMonitor's relative
//     files land in MonitorDir (Dir/monitor)
//
// Asterisk behaviours the lab's tests pin down (they matter to ctiws):
// after a REFER blind transfer Asterisk sends NOTIFY 100 and NOTIFY 200
// back to back and never BYEs the transferer, although AMI already
// reported its channel's Hangup (phones hang up themselves); a Redirect
// out of a parking space is a ParkedCallGiveUp, not an UnParkedCall;
// MixMonitorStop is raised by StopMixMonitor only, not when the recorded
// channel hangs up; with qualify_frequency 0 a first REGISTER raises
// ContactStatus NonQualified (no Created), PeerStatus Reachable and
// DeviceStateChange NOT_INUSE, a refresh nothing, and Expires 0
// ContactStatus Removed, DeviceStateChange UNAVAILABLE, PeerStatus
// Unreachable.
package asterisk
