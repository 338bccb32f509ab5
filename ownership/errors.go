package ownership

import "errors"

// ErrObjectsFile marks a tenant whose objects file cannot be loaded
// (PBXs.Add): a configuration error.
var ErrObjectsFile = errors.New("objects_file")

// errDeferred marks a login or logout hook kept for when the PBX is ready
// (readyGate).
var errDeferred = errors.New("deferred until the PBX connection is ready")

// errUnknown: no read of the live node list has succeeded yet (members).
var errUnknown = errors.New("live nodes not known yet")
