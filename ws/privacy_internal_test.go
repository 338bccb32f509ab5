package ws

import (
	"fmt"
	"testing"

	"github.com/ctiws/ctiws/directory"
)

// TestExtenVariantIsExtensionVariant: the fan-out's privacy decision
// (decided per login and per event) gives every recipient the variant of
// the per-recipient rule, docs/protocol.md section 3.3, for owners and
// others, every kind of user, a user from before a reload (not the
// directory's owner pointer, yet owning the extension) and many
// extensions (digest collisions included).
func TestExtenVariantIsExtensionVariant(t *testing.T) {
	exts := func(ids ...string) []directory.Extension {
		var out []directory.Extension
		for _, id := range ids {
			out = append(out, directory.Extension{ID: id})
		}
		return out
	}
	many := make([]string, 0, 40)
	for i := range 40 {
		many = append(many, fmt.Sprint(300+i))
	}
	users := []*directory.User{
		nil,
		{Username: "clear", Extensions: exts("200")},
		{Username: "priv", Perms: directory.Permissions{Privacy: true}, Extensions: exts("201", "202")},
		{Username: "adminq", Perms: directory.Permissions{Privacy: true, AdminQueues: true}, Extensions: exts("203")},
		{Username: "many", Perms: directory.Permissions{Privacy: true}, Extensions: exts(many...)},
		{Username: "none", Perms: directory.Permissions{Privacy: true}},
	}
	stale := &directory.User{Username: "priv", Perms: directory.Permissions{Privacy: true}, Extensions: exts("201", "202")}
	users = append(users, stale)
	owners := map[string]*directory.User{"200": users[1], "201": users[2], "202": users[2], "203": users[3]}
	for _, id := range many {
		owners[id] = users[4]
	}
	tested := append([]string{"200", "201", "202", "203", "204", "999", ""}, many...)
	for i := range 500 {
		tested = append(tested, fmt.Sprint(1000+i))
	}
	for _, priv := range []string{"", "xxx"} {
		for _, u := range users {
			m := newMember(nil, &login{user: u})
			for _, ext := range tested {
				want := extensionVariant(u, ext, priv)
				got := variantNames[extenVariant(&m, owners[ext], extBit(ext), ext, priv)]
				if got != want {
					name := "<nil>"
					if u != nil {
						name = u.Username
					}
					t.Errorf("user %s, extension %q, privacy %q: %s, want %s", name, ext, priv, got, want)
				}
			}
		}
	}
}
