package api

import (
	"github.com/vektah/gqlparser/v2/ast"
)

// maxOverlapComparisons bounds the work of the "fields can be merged"
// validation rule, in field-pair comparisons and fragment-pair visits. The
// rule compares every pair of fields that share a response name, through
// fragments and sub-selections, and materialises a conflict for each failing
// pair before any error cap applies: 1,300 aliases of one name (under the
// token limit) cost 1.1 s and 320 MB. Real documents stay in the hundreds.
const maxOverlapComparisons = 50_000

// overlapMeter counts the comparisons that gqlparser's
// OverlappingFieldsCanBeMerged rule would make, following the same algorithm
// (graphql-js's) with the same memos, but without building conflicts, and
// gives up as soon as the budget is spent. The rule itself has no budget or
// context to stop it, hence this hand-written pre-count.
type overlapMeter struct {
	fragments        map[string]*ast.FragmentDefinition
	collected        map[setKey]*collectedSet
	fieldsVsFragment map[*collectedSet]map[string]bool
	fragmentPairs    map[[2]string]bool
	left             int
}

type setKey struct {
	first *ast.Selection
	n     int
}

type collectedSet struct {
	fields  map[string][]*ast.Field
	names   []string // response names in document order
	spreads []string
}

// overlapWithinBudget reports whether validating doc's field merges takes at
// most budget comparisons.
func overlapWithinBudget(doc *ast.QueryDocument, budget int) bool {
	m := &overlapMeter{
		fragments:        make(map[string]*ast.FragmentDefinition, len(doc.Fragments)),
		collected:        map[setKey]*collectedSet{},
		fieldsVsFragment: map[*collectedSet]map[string]bool{},
		fragmentPairs:    map[[2]string]bool{},
		left:             budget,
	}
	for _, f := range doc.Fragments {
		m.fragments[f.Name] = f
	}
	// The rule checks every selection set of every operation and fragment.
	visited := map[string]bool{}
	var visit func(set ast.SelectionSet) bool
	visit = func(set ast.SelectionSet) bool {
		if !m.within(set) {
			return false
		}
		for _, sel := range set {
			switch s := sel.(type) {
			case *ast.Field:
				if len(s.SelectionSet) > 0 && !visit(s.SelectionSet) {
					return false
				}
			case *ast.InlineFragment:
				if !visit(s.SelectionSet) {
					return false
				}
			case *ast.FragmentSpread:
				if f := m.fragments[s.Name]; f != nil && !visited[s.Name] {
					visited[s.Name] = true
					if !visit(f.SelectionSet) {
						return false
					}
				}
			}
		}
		return true
	}
	for _, op := range doc.Operations {
		if !visit(op.SelectionSet) {
			return false
		}
	}
	for _, f := range doc.Fragments {
		if !visited[f.Name] {
			visited[f.Name] = true
			if !visit(f.SelectionSet) {
				return false
			}
		}
	}
	return true
}

// spend takes n units from the budget and reports whether any is left.
func (m *overlapMeter) spend(n int) bool {
	m.left -= n
	return m.left >= 0
}

func (m *overlapMeter) collect(set ast.SelectionSet) *collectedSet {
	key := setKey{n: len(set)}
	if key.n > 0 {
		key.first = &set[0]
	}
	if c, ok := m.collected[key]; ok {
		return c
	}
	c := &collectedSet{fields: map[string][]*ast.Field{}}
	var walk func(ast.SelectionSet)
	walk = func(set ast.SelectionSet) {
		for _, sel := range set {
			switch s := sel.(type) {
			case *ast.Field:
				name := s.Alias
				if name == "" {
					name = s.Name
				}
				if _, ok := c.fields[name]; !ok {
					c.names = append(c.names, name)
				}
				c.fields[name] = append(c.fields[name], s)
			case *ast.InlineFragment:
				walk(s.SelectionSet)
			case *ast.FragmentSpread:
				c.spreads = append(c.spreads, s.Name)
			}
		}
	}
	walk(set)
	m.collected[key] = c
	return c
}

// within mirrors findConflictsWithinSelectionSet.
func (m *overlapMeter) within(set ast.SelectionSet) bool {
	if len(set) == 0 {
		return true
	}
	c := m.collect(set)
	for _, name := range c.names {
		fields := c.fields[name]
		for i, a := range fields {
			for _, b := range fields[i+1:] {
				if !m.compare(a, b) {
					return false
				}
			}
		}
	}
	for i, a := range c.spreads {
		if !m.fieldsAndFragment(c, a) {
			return false
		}
		for _, b := range c.spreads[i+1:] {
			if !m.fragmentsPair(a, b) {
				return false
			}
		}
	}
	return true
}

// compare mirrors findConflict, assuming the worst: sub-selections are
// always compared.
func (m *overlapMeter) compare(a, b *ast.Field) bool {
	if !m.spend(1) {
		return false
	}
	if len(a.SelectionSet) == 0 || len(b.SelectionSet) == 0 {
		return true
	}
	ca, cb := m.collect(a.SelectionSet), m.collect(b.SelectionSet)
	if !m.between(ca, cb) {
		return false
	}
	for _, f := range cb.spreads {
		if !m.fieldsAndFragment(ca, f) {
			return false
		}
	}
	for _, f := range ca.spreads {
		if !m.fieldsAndFragment(cb, f) {
			return false
		}
	}
	for _, fa := range ca.spreads {
		for _, fb := range cb.spreads {
			if !m.fragmentsPair(fa, fb) {
				return false
			}
		}
	}
	return true
}

// between mirrors collectConflictsBetween.
func (m *overlapMeter) between(a, b *collectedSet) bool {
	// Looking names up costs too: charged so that the meter's own work stays
	// within the budget.
	if !m.spend(len(a.names)) {
		return false
	}
	for _, name := range a.names {
		for _, fa := range a.fields[name] {
			for _, fb := range b.fields[name] {
				if !m.compare(fa, fb) {
					return false
				}
			}
		}
	}
	return true
}

// fieldsAndFragment mirrors collectConflictsBetweenFieldsAndFragment.
func (m *overlapMeter) fieldsAndFragment(c *collectedSet, fragment string) bool {
	if !m.spend(1) {
		return false
	}
	seen := m.fieldsVsFragment[c]
	if seen == nil {
		seen = map[string]bool{}
		m.fieldsVsFragment[c] = seen
	}
	if seen[fragment] {
		return true
	}
	seen[fragment] = true
	def := m.fragments[fragment]
	if def == nil {
		return true
	}
	cf := m.collect(def.SelectionSet)
	if cf == c {
		return true
	}
	if !m.between(c, cf) {
		return false
	}
	for _, f := range cf.spreads {
		if !m.fieldsAndFragment(c, f) {
			return false
		}
	}
	return true
}

// fragmentsPair mirrors collectConflictsBetweenFragments.
func (m *overlapMeter) fragmentsPair(a, b string) bool {
	if a == b {
		return true
	}
	if !m.spend(1) {
		return false
	}
	if m.fragmentPairs[[2]string{a, b}] {
		return true
	}
	m.fragmentPairs[[2]string{a, b}], m.fragmentPairs[[2]string{b, a}] = true, true
	da, db := m.fragments[a], m.fragments[b]
	if da == nil || db == nil {
		return true
	}
	ca, cb := m.collect(da.SelectionSet), m.collect(db.SelectionSet)
	if !m.between(ca, cb) {
		return false
	}
	for _, f := range cb.spreads {
		if !m.fragmentsPair(a, f) {
			return false
		}
	}
	for _, f := range ca.spreads {
		if !m.fragmentsPair(f, b) {
			return false
		}
	}
	return true
}
