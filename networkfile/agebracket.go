package networkfile

import "strings"

// Age brackets of the prototype's voter survey (its AgeGroup column). The
// prototype drew each agent's age as the bracket's representative age: 22,
// 32 or 55 (population.AgeForGroup), which is what Node.Age holds for such
// populations.
var AgeBrackets = []string{"Under 25", "25-40", "40+"}

// ProfileAgeBracket is the profile key that holds a survey's age bracket.
const ProfileAgeBracket = "AgeGroup"

// AgeBracket is an agent's age bracket: the profile's AgeGroup when it has
// one (one of AgeBrackets spelled canonically, any other label as it is),
// else the bracket of age (under 25, 25 to 39, 40 and over); nil when
// neither is known.
func AgeBracket(age *int, profile map[string]any) *string {
	if g, ok := profile[ProfileAgeBracket].(string); ok {
		if g = strings.TrimSpace(g); g != "" {
			for _, b := range AgeBrackets {
				if strings.EqualFold(g, b) {
					return &b
				}
			}
			return &g
		}
	}
	if age == nil {
		return nil
	}
	b := AgeBrackets[2]
	switch {
	case *age < 25:
		b = AgeBrackets[0]
	case *age < 40:
		b = AgeBrackets[1]
	}
	return &b
}
