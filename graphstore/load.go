package graphstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"

	"github.com/ethox/ethox/ent"
	"github.com/ethox/ethox/networkfile"
)

// The whole-graph read is the hot path of the graph query: plain SQL with
// typed scans, because ent's reflective Scan costs several times more per row
// on the 10k-agent / 50k-tie networks the API must serve in well under a second.

func (s *Store) placeholder() string { return s.db.Placeholder(1) }

// loadNodes reads the agents of n in upload order and returns their external
// ids by primary key.
func (s *Store) loadNodes(ctx context.Context, n *ent.Network, out *Graph) (map[int]string, error) {
	rows, err := s.db.SQL.QueryContext(ctx, `SELECT id, agent_id, traits, profile, attributes, age, gender, cluster,
		degree, degree_centrality, betweenness_centrality, text_opinion, level_of_care, effect_on_usage
		FROM agents WHERE network_id = `+s.placeholder()+` ORDER BY id`, n.ID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	keys := make(map[int]string, n.NodeCount)
	out.Nodes = make([]networkfile.Node, 0, n.NodeCount)
	out.AgentPKs = make([]int, 0, n.NodeCount)
	var (
		id                     int
		traits, profile, attrs []byte
		age, cluster           sql.NullInt64
		gender, opinion        sql.NullString
		care, effect           sql.NullFloat64
	)
	for rows.Next() {
		var node networkfile.Node
		var degree int
		var dc, bc float64
		if err := rows.Scan(&id, &node.AgentID, &traits, &profile, &attrs, &age, &gender, &cluster,
			&degree, &dc, &bc, &opinion, &care, &effect); err != nil {
			return nil, err
		}
		node.Degree, node.DegreeCentrality, node.BetweennessCentrality = &degree, &dc, &bc
		node.Traits = map[string]float64{}
		node.Profile = map[string]any{}
		node.Attributes = map[string]any{}
		if err := unmarshalObject(traits, &node.Traits); err != nil {
			return nil, fmt.Errorf("agent %q traits: %w", node.AgentID, err)
		}
		if err := unmarshalObject(profile, &node.Profile); err != nil {
			return nil, fmt.Errorf("agent %q profile: %w", node.AgentID, err)
		}
		if err := unmarshalObject(attrs, &node.Attributes); err != nil {
			return nil, fmt.Errorf("agent %q attributes: %w", node.AgentID, err)
		}
		node.Age = nullInt(age)
		node.Cluster = nullInt(cluster)
		node.Gender = nullString(gender)
		node.TextOpinion = nullString(opinion)
		node.LevelOfCare = nullFloat(care)
		node.EffectOnUsage = nullFloat(effect)
		keys[id] = node.AgentID
		out.Nodes = append(out.Nodes, node)
		out.AgentPKs = append(out.AgentPKs, id)
	}
	return keys, rows.Err()
}

func (s *Store) loadEdges(ctx context.Context, n *ent.Network, keys map[int]string, out *Graph) error {
	rows, err := s.db.SQL.QueryContext(ctx,
		`SELECT source_id, target_id, weight FROM ties WHERE network_id = `+s.placeholder()+` ORDER BY id`, n.ID)
	if err != nil {
		return err
	}
	defer rows.Close()
	out.Edges = make([]networkfile.Edge, 0, n.EdgeCount)
	var src, dst int
	var w float64
	for rows.Next() {
		if err := rows.Scan(&src, &dst, &w); err != nil {
			return err
		}
		out.Edges = append(out.Edges, networkfile.Edge{Source: keys[src], Target: keys[dst], Weight: w})
	}
	return rows.Err()
}

func unmarshalObject[V any](b []byte, m *map[string]V) error {
	if len(b) == 0 || string(b) == "{}" || string(b) == "null" {
		return nil
	}
	return json.Unmarshal(b, m)
}

func nullInt(v sql.NullInt64) *int {
	if !v.Valid {
		return nil
	}
	i := int(v.Int64)
	return &i
}

func nullString(v sql.NullString) *string {
	if !v.Valid {
		return nil
	}
	return &v.String
}

func nullFloat(v sql.NullFloat64) *float64 {
	if !v.Valid {
		return nil
	}
	return &v.Float64
}
