package resolvers

import (
	"encoding/json"
	"fmt"
	"unicode"
	"unicode/utf8"

	"github.com/ethox/ethox/apperr"
	"github.com/ethox/ethox/experiment"
	"github.com/ethox/ethox/graph/model"
)

// createExperimentInput translates createExperiment's input; an arm's input
// is translated as runSimulation's, its errors named arms[i].input.field.
func createExperimentInput(in model.CreateExperimentInput) (experiment.CreateInput, error) {
	out := experiment.CreateInput{Name: in.Name, NetworkID: in.NetworkID, Replicates: in.Replicates,
		MaxCalls: in.MaxCalls, MaxTokens: in.MaxTokens, MaxCostUSD: in.MaxCostUsd,
		ConcurrentRuns: in.ConcurrentRuns, BootstrapResamples: in.BootstrapResamples, Cache: in.Cache}
	if in.Seed != nil {
		if *in.Seed < 0 {
			return out, apperr.New(apperr.BadInput, "seed must not be negative, got %d", *in.Seed)
		}
		s := int64(*in.Seed)
		out.Seed = &s
	}
	out.Arms = make([]experiment.ArmInput, len(in.Arms))
	for i, a := range in.Arms {
		if a == nil || a.Input == nil {
			return out, apperr.New(apperr.BadInput, "arms[%d].input is required", i)
		}
		ri, err := runInput(*a.Input)
		if err != nil {
			var ae *apperr.Error
			if e, ok := err.(*apperr.Error); ok {
				ae = &apperr.Error{Kind: e.Kind, Msg: fmt.Sprintf("arms[%d].input.%s", i, e.Msg), Err: e.Err}
				return out, ae
			}
			return out, err
		}
		out.Arms[i] = experiment.ArmInput{Name: a.Name, Input: ri}
	}
	return out, nil
}

// armInputMap shows an arm's stored run input with the API's field names
// (lower camel case), given fields only.
func armInputMap(raw json.RawMessage) map[string]any {
	var m map[string]any
	_ = json.Unmarshal(raw, &m)
	out := make(map[string]any, len(m))
	for k, v := range m {
		if v == nil {
			continue
		}
		r, n := utf8.DecodeRuneInString(k)
		out[string(unicode.ToLower(r))+k[n:]] = v
	}
	return out
}
