package ami

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/staskobzar/goami2"
)

// fetchConcurrency bounds the snapshot actions in flight.
const fetchConcurrency = 8

// actionLister is the part of Conn the snapshot needs.
type actionLister interface {
	Action(ctx context.Context, a *goami2.Message) (*Response, error)
}

// list runs a list action. A Response: Error (e.g. "No active
// conferences.") is an empty list with ok false; only transport errors are
// returned.
func list(ctx context.Context, c actionLister, name string, kv ...string) (items []*goami2.Message, ok bool, err error) {
	r, err := do(ctx, c, name, kv...)
	if err != nil {
		return nil, false, err
	}
	if r.Err() != nil {
		return nil, false, nil
	}
	return r.Items, true, nil
}

// fetchSnapshot reads the whole PBX state (docs/ami-model.md, section 3.1).
func (m *Model) fetchSnapshot(ctx context.Context, c actionLister) (*snapshotData, error) {
	d := &snapshotData{details: map[string][]*goami2.Message{}}
	var (
		mu    sync.Mutex
		wg    sync.WaitGroup
		first error
		sem   = make(chan struct{}, fetchConcurrency)
	)
	run := func(fn func() error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			if err := fn(); err != nil {
				mu.Lock()
				if first == nil {
					first = err
				}
				mu.Unlock()
			}
		}()
	}
	into := func(dst *[]*goami2.Message, name string) func() error {
		return func() error {
			items, _, err := list(ctx, c, name)
			mu.Lock()
			*dst = items
			mu.Unlock()
			return err
		}
	}
	var rooms []*goami2.Message
	dbFailed := false
	run(func() error {
		items, ok, err := list(ctx, c, "PJSIPShowEndpoints")
		mu.Lock()
		d.endpoints, d.endpointsOK = items, ok
		mu.Unlock()
		return err
	})
	run(into(&d.channels, "CoreShowChannels"))
	run(into(&d.queues, "QueueStatus"))
	run(into(&d.lots, "Parkinglots"))
	run(into(&d.parked, "ParkedCalls"))
	run(into(&rooms, "ConfbridgeListRooms"))
	run(into(&d.voicemail, "VoicemailUsersList"))
	run(into(&d.regs, "PJSIPShowRegistrationsOutbound"))
	run(into(&d.hints, "ExtensionStateList"))
	run(into(&d.contacts, "PJSIPShowContacts"))
	for _, fam := range []string{"DND", "CF", "CFB", "CFU"} {
		run(func() error {
			r, err := do(ctx, c, "DBGetTree", "Family", fam)
			if err != nil {
				return err
			}
			mu.Lock()
			defer mu.Unlock()
			if r.Err() != nil {
				// "Database entry not found" is an empty family; an
				// unknown action (Asterisk before 16.28/18.14) needs DBGet.
				if !strings.Contains(strings.ToLower(field(r.Message, "Message")), "not found") {
					dbFailed = true
				}
				return nil
			}
			for _, it := range r.Items {
				d.db = append(d.db, dbItem(fam, it))
			}
			return nil
		})
	}
	wg.Wait()
	if first != nil {
		return nil, first
	}

	// Second round: per-endpoint details, per-room lists, DBGet fallback.
	m.mu.Lock()
	var endpoints []string
	if d.endpointsOK {
		for _, it := range d.endpoints {
			id := field(it, "ObjectName")
			_, isExt := m.dir.OwnerOf(id)
			_, isTrunk := m.objs.trunk(id)
			if isExt || isTrunk {
				endpoints = append(endpoints, id)
			}
		}
	}
	var dbExts []string
	if dbFailed {
		for _, u := range m.dir.Users() {
			for _, e := range u.Extensions {
				dbExts = append(dbExts, e.ID)
			}
		}
	}
	m.mu.Unlock()
	for _, id := range endpoints {
		run(func() error {
			items, _, err := list(ctx, c, "PJSIPShowEndpoint", "Endpoint", id)
			mu.Lock()
			d.details[id] = items
			mu.Unlock()
			return err
		})
	}
	for _, r := range rooms {
		room := field(r, "Conference")
		run(func() error {
			items, _, err := list(ctx, c, "ConfbridgeList", "Conference", room)
			mu.Lock()
			d.confs = append(d.confs, items...)
			mu.Unlock()
			return err
		})
	}
	for _, ext := range dbExts {
		for _, fam := range []string{"DND", "CF", "CFB", "CFU"} {
			run(func() error {
				r, err := do(ctx, c, "DBGet", "Family", fam, "Key", ext)
				if err != nil {
					return err
				}
				if r.Err() == nil {
					for _, it := range r.Items {
						if field(it, "Event") == "DBGetResponse" {
							mu.Lock()
							d.db = append(d.db, dbEntry{family: fam, key: ext, val: field(it, "Val")})
							mu.Unlock()
						}
					}
				}
				return nil
			})
		}
	}
	wg.Wait()
	if first != nil {
		return nil, first
	}
	return d, nil
}

// dbItem reads a DBGetTreeResponse item; Key may be "201" or "/DND/201".
func dbItem(fam string, it *goami2.Message) dbEntry {
	key := field(it, "Key")
	if i := strings.LastIndexByte(key, '/'); i >= 0 {
		key = key[i+1:]
	}
	if f := field(it, "Family"); f != "" {
		fam = strings.Trim(f, "/")
	}
	return dbEntry{family: fam, key: key, val: field(it, "Val")}
}

// fetchReconcile reads CoreShowChannels and QueueStatus.
func fetchReconcile(ctx context.Context, c actionLister) (channels, queues []*goami2.Message, err error) {
	chans, ok, err := list(ctx, c, "CoreShowChannels")
	if err != nil {
		return nil, nil, err
	}
	if !ok {
		return nil, nil, errors.New("ami: CoreShowChannels refused")
	}
	qs, ok, err := list(ctx, c, "QueueStatus")
	if err != nil {
		return nil, nil, fmt.Errorf("ami: reconcile: %w", err)
	}
	if !ok {
		qs = nil
	} else if qs == nil {
		qs = []*goami2.Message{}
	}
	if chans == nil {
		chans = []*goami2.Message{}
	}
	return chans, qs, nil
}
