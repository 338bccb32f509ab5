package ownership

import "errors"

// ErrObjectsFile marks a tenant whose objects file cannot be loaded
// (PBXs.Add): a configuration error.
var ErrObjectsFile = errors.New("objects_file")

// ErrNotOwned: this node does not hold the tenant's lease (a hand-over
// asked of a node that is not, or no longer, the owner).
var ErrNotOwned = errors.New("this node does not own the tenant")

// ErrUnknownTenant: the node does not serve the tenant.
var ErrUnknownTenant = errors.New("this node does not serve the tenant")

// errDeferred marks a login or logout hook kept for when the PBX is ready
// (readyGate).
var errDeferred = errors.New("deferred until the PBX connection is ready")

// errUnknown: no read of the live node list has succeeded yet (members).
var errUnknown = errors.New("live nodes not known yet")
