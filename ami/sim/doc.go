// Package sim is a simulated Asterisk PBX that speaks the Asterisk Manager
// Interface (AMI) over TCP like Asterisk 18/20 with chan_pjsip.
//
// A Server runs in one of two modes:
//
//   - generate (the default): a configurable PBX (extensions, queues, a trunk,
//     a parking lot, a conference room, voicemail boxes, AstDB) produces
//     realistic call traffic from a seeded RNG and answers every snapshot
//     action from the same state the events were generated from, so that a
//     snapshot taken at any moment agrees with the events sent before it on
//     the same connection. The scenarios (Config.Mix) cover internal and
//     inbound calls with hold and voicemail, queues (ringall through Local
//     channel pairs), parking, conferences, blind and attended transfers,
//     directed pickup, recording, DND/call-forward feature codes and phone
//     or trunk flaps. The call control actions a client sends (Originate,
//     Hangup, Redirect, BlindTransfer, Atxfer, Park, MixMonitor,
//     StopMixMonitor, MixMonitorMute) are carried out with the events
//     Asterisk raises. Config.ChangesPerSecond adds a paced stream of
//     cheap ContactStatus changes whose UserAgent carries a latency marker
//     (bench traffic).
//   - replay: Config.Transcripts holds .ami transcripts (see ParseTranscript);
//     each accepted connection plays the next transcript (the last one
//     repeats).
//
// Login, the banner and FullyBooted are always handled by the server.
// Every connection that logged in receives every event (subject to its
// Events mask).
package sim
