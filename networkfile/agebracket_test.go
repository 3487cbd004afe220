package networkfile_test

import (
	"testing"

	"github.com/ethox/ethox/networkfile"
	"github.com/ethox/ethox/population"
)

func TestAgeBracket(t *testing.T) {
	age := func(n int) *int { return &n }
	tests := []struct {
		name    string
		age     *int
		profile map[string]any
		want    string // "" for nil
	}{
		{"prototype's 22", age(22), nil, "Under 25"},
		{"prototype's 32", age(32), nil, "25-40"},
		{"prototype's 55", age(55), nil, "40+"},
		{"24 years", age(24), nil, "Under 25"},
		{"25 years", age(25), nil, "25-40"},
		{"39 years", age(39), nil, "25-40"},
		{"40 years", age(40), nil, "40+"},
		{"survey label wins over age", age(41), map[string]any{"AgeGroup": "25-40"}, "25-40"},
		{"survey label spelled canonically", age(22), map[string]any{"AgeGroup": " under 25 "}, "Under 25"},
		{"other survey label kept", nil, map[string]any{"AgeGroup": "18-24"}, "18-24"},
		{"blank label: from age", age(60), map[string]any{"AgeGroup": " "}, "40+"},
		{"label not a string: from age", age(30), map[string]any{"AgeGroup": 3.0}, "25-40"},
		{"nothing known", nil, map[string]any{"Region": "North"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := networkfile.AgeBracket(tt.age, tt.profile)
			if (got == nil) != (tt.want == "") || got != nil && *got != tt.want {
				t.Fatalf("AgeBracket = %v, want %q", got, tt.want)
			}
		})
	}
}

// The brackets are the survey's, and the prototype's representative ages map
// back to them.
func TestAgeBracketsMatchSurvey(t *testing.T) {
	for _, b := range networkfile.AgeBrackets {
		age, ok := population.AgeForGroup(b)
		if !ok {
			t.Fatalf("population does not know bracket %q", b)
		}
		if got := networkfile.AgeBracket(&age, nil); got == nil || *got != b {
			t.Fatalf("age %d of %q: bracket %v", age, b, got)
		}
	}
}
