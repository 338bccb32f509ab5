// Package asterisk starts the lab PBX for live tests: a real Asterisk
// (built by scripts/asterisk-build.sh) configured like a FreePBX/NethVoice
// PBX, bound to loopback on ports picked at start, with every file
// (configuration, AstDB, spool, logs, recordings) in the test's folder.
//
// The configuration is rendered from the templates under conf/. The
// numbering plan (plan.go):
//
//   - users 201 (alice: devices 201, 91201, 92201), 202, 203, 204 and 205
//     (configured, never registered); SIP password "pw<device>"; hints
//     FreePBX's (PJSIP/201&PJSIP/91201&PJSIP/92201&Custom:DND201,CustomPresence:201)
//   - dialling a user rings all its devices (sub-dial-user): DND → busy
//     (486), CF → forward, CFB when busy, CFU when unanswered or
//     unavailable; 204 goes to voicemail after 15 s unanswered
//   - _0XXX. goes out through trunk1 (the peer at 127.0.0.2, TrunkAddr);
//     from-pstn: 0721405516 → 201, 0721405517 → queue 401,
//     0721405518 → ring group 600
//   - queues 401 (static Local/203@from-queue/n, state PJSIP/203) and 402
//     (203, 204), ringall, 15 s; ring group 600 (202, 203, 204, 20 s)
//   - *78/*79 DND, *72<n>/*73 CF, *90<n>/*91 CFB, *52<n>/*53 CFU (AstDB
//     and Custom:DND the FreePBX way), **<ext> directed pickup, *8 group
//     pickup, *97 voicemail
//   - parking: 70 parks, 71-78 spaces, comeback to the parker after
//     Options.ParkingTimeout; ConfBridge rooms 300 and 3<ext>
//   - features: blindxfer ##, atxfer *2, automixmon *3; transfers and
//     ctiws's Originates use context from-internal
package asterisk
