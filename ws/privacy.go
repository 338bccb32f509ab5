package ws

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/ctiws/ctiws/directory"
	"github.com/ctiws/ctiws/pbx"
)

// extensionVariant is the per-recipient privacy decision of docs/protocol.md, section 3.3, for
// extension exten: clear for users without privacy and for the owner,
// masked out of queue for queue admins, masked otherwise. u is nil for an
// unknown user (authentication disabled): masked.
func extensionVariant(u *directory.User, exten, priv string) string {
	switch {
	case priv == "":
		return variantClear
	case u == nil:
		return variantMasked
	case !u.Perms.Privacy || u.Owns(exten):
		return variantClear
	case u.Perms.AdminQueues:
		return variantMaskedOutQ
	}
	return variantMasked
}

// seesOf is the variant user u gets of the extensions it does not own,
// decided once per login (socketIndex keeps it with the socket): the
// fan-out then checks ownership only for a login that would see a masked
// variant (extenVariant, which equals extensionVariant).
func seesOf(u *directory.User) variant {
	switch {
	case u == nil:
		return vMasked
	case !u.Perms.Privacy:
		return vClear
	case u.Perms.AdminQueues:
		return vMaskedOutQ
	}
	return vMasked
}

// extenVariant is extensionVariant for a fan-out to m: the login's
// seesOf and its user's extension digest are the index's (decided per
// login), owner and bit (extBit) the extension's, found once per event.
// Only a user whose digest has the bit is asked whether it owns exten;
// the owner pointer is a shortcut only (a login's user from before a
// reload is still asked).
func extenVariant(m *member, owner *directory.User, bit uint64, exten, priv string) variant {
	switch {
	case priv == "" || m.sees == vClear:
		return vClear
	case m.exts&bit == 0:
		return m.sees
	}
	if u := m.l.user; u != nil && (u == owner || ownsExten(u, exten)) {
		return vClear
	}
	return m.sees
}

// ownsExten is u.Owns(exten), scanning a short list instead of a binary
// search.
func ownsExten(u *directory.User, exten string) bool {
	if len(u.Extensions) > 8 {
		return u.Owns(exten)
	}
	for i := range u.Extensions {
		if u.Extensions[i].ID == exten {
			return true
		}
	}
	return false
}

// extensionJSON returns an extension's JSON in a privacy variant.
func extensionJSON(e *pbx.Extension, clear []byte, variant, priv string) ([]byte, error) {
	switch variant {
	case variantMasked:
		return pbx.Marshal(e.Masked(priv, priv))
	case variantMaskedOutQ:
		return pbx.Marshal(e.Masked(priv, ""))
	}
	return clear, nil
}

// maskedObject returns the masked JSON of a queue, trunk or parking (by its
// state key prefix) for the privacy rooms.
func maskedObject(prefix string, data []byte, priv string) ([]byte, error) {
	switch prefix {
	case objectPrefixQueue:
		return remask(data, func(v *pbx.Queue) any { return v.Masked(priv) })
	case objectPrefixTrunk:
		return remask(data, func(v *pbx.Trunk) any { return v.Masked(priv) })
	case objectPrefixParking:
		return remask(data, func(v *pbx.Parking) any { return v.Masked(priv) })
	}
	return nil, fmt.Errorf("no masking for objects %q", strings.TrimSuffix(prefix, "/"))
}

// remask decodes data into a T and encodes its masked copy.
func remask[T any](data []byte, mask func(*T) any) ([]byte, error) {
	var v T
	if err := json.Unmarshal(data, &v); err != nil {
		return nil, err
	}
	return pbx.Marshal(mask(&v))
}
