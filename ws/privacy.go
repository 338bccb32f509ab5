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
