package dynamics

import (
	"context"
	"math"

	"github.com/ethox/ethox/apperr"
)

// Run runs rounds rounds of model m (synchronous unless p.Sequential) from initial, which is also
// the Friedkin–Johnsen anchor x(0), and returns the state after the last
// completed round.
//
// initial is not modified: Run works on a copy whose values are clamped to
// the opinion ranges (so the anchor is in range too); NaN or infinite values
// are rejected. After every round r = 1..rounds, onRound (optional) is
// called with that round's state; the state is reused by the next round, so
// a callback that keeps it must Clone it. Round 0 (the initial state) is not
// reported.
//
// Before every round Run checks ctx; it stops at the first cancellation or
// onRound error and returns that error unchanged together with the last
// completed state (the initial copy if no round completed). Invalid inputs
// are apperr.BadInput errors.
func Run(ctx context.Context, m Model, c *CSR, p Params, initial State, rounds int, onRound func(round int, s *State) error) (State, error) {
	if !m.Valid() {
		return State{}, apperr.New(apperr.BadInput, "invalid opinion-dynamics model %v", m)
	}
	if c == nil {
		return State{}, apperr.New(apperr.BadInput, "no influence matrix")
	}
	if rounds < 0 {
		return State{}, apperr.New(apperr.BadInput, "rounds must be ≥ 0, got %d", rounds)
	}
	if err := p.Validate(c.N); err != nil {
		return State{}, err
	}
	if len(initial.Care) != c.N || len(initial.Support) != c.N {
		return State{}, apperr.New(apperr.BadInput, "initial state has %d care and %d support values for %d agents", len(initial.Care), len(initial.Support), c.N)
	}
	anchor := NewState(c.N)
	for i := range c.N {
		x, y := initial.Care[i], initial.Support[i]
		if math.IsNaN(x) || math.IsInf(x, 0) || math.IsNaN(y) || math.IsInf(y, 0) {
			return State{}, apperr.New(apperr.BadInput, "initial opinion of agent %d is not finite (care %v, support %v)", i, x, y)
		}
		anchor.Care[i], anchor.Support[i] = clampCare(x), clampSupport(y)
	}
	cur := anchor.Clone()
	if rounds == 0 {
		return cur, nil
	}
	next := NewState(c.N)
	packed := make([]pair, c.N)
	for r := 1; r <= rounds; r++ {
		if err := ctx.Err(); err != nil {
			return cur, err
		}
		step(m, c, p, &anchor, &cur, &next, packed)
		cur, next = next, cur
		if onRound != nil {
			if err := onRound(r, &cur); err != nil {
				return cur, err
			}
		}
	}
	return cur, nil
}
