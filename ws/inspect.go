package ws

import "slices"

// TenantIDs lists the tenants this node serves, sorted (for the operator
// console).
func (s *Server) TenantIDs() []string {
	all := s.tenants.Load().all
	ids := make([]string, 0, len(all))
	for _, t := range all {
		ids = append(ids, t.ID)
	}
	slices.Sort(ids)
	return ids
}
