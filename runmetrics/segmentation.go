package runmetrics

import "sort"

// SegmentMembers is one value of a segment attribute with the agents that
// have it, in the agents' order.
type SegmentMembers struct {
	Key, Value string
	AgentIDs   []string
}

// Segmentation lists, for the attributes and values Compute's Segments
// describe (same rules, same order), the agents of each value: what a
// statistic needs to resample a segment's agents.
func Segmentation(agents []Agent) []SegmentMembers {
	var out []SegmentMembers
	for _, at := range segmentAttrs(agents) {
		members := map[string][]string{}
		for _, a := range agents {
			if v, ok := at.values[a.AgentID]; ok {
				members[v] = append(members[v], a.AgentID)
			}
		}
		vals := make([]string, 0, len(members))
		for v := range members {
			vals = append(vals, v)
		}
		sort.Slice(vals, func(i, j int) bool {
			if at.less(vals[i], vals[j]) {
				return true
			}
			if at.less(vals[j], vals[i]) {
				return false
			}
			return vals[i] < vals[j]
		})
		for _, v := range vals {
			out = append(out, SegmentMembers{Key: at.key, Value: v, AgentIDs: members[v]})
		}
	}
	return out
}
