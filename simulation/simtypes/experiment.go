package simtypes

import "encoding/json"

// ExperimentArm is one arm of an experiment as stored: its name and its run
// input (simulation.RunInput as JSON, without network or seed: the
// experiment sets both).
type ExperimentArm struct {
	Name  string          `json:"name"`
	Input json.RawMessage `json:"input"`
}
