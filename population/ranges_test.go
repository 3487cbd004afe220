package population

import (
	"strings"
	"testing"

	"github.com/ethox/ethox/apperr"
)

// Survey numbers outside their documented range are refused with line and
// column named; the bounds themselves are accepted.
func TestParseProfilesRanges(t *testing.T) {
	const hdr = "AgeGroup,Gender,TrustMedia,Other\n"
	tests := []struct {
		name, csv string
		want      string // "" means accepted
	}{
		{"scale over 10", hdr + "40+,Male,3,1\n25-40,Female,11,1\n", `profiles line 3, column "TrustMedia": 11 is out of range [0, 10]`},
		{"negative scale", hdr + "40+,Male,-1,1\n", `profiles line 2, column "TrustMedia": -1 is out of range [0, 10]`},
		{"huge scale", hdr + "40+,Male,1.7e308,1\n", `profiles line 2, column "TrustMedia": 1.7e308 is out of range [0, 10]`},
		{"IssueSalience_ prefix", "AgeGroup,Gender,IssueSalience_Housing\n40+,Male,10.5\n", `column "IssueSalience_Housing": 10.5 is out of range [0, 10]`},
		{"Values_ prefix", "AgeGroup,Gender,Values_Care\n40+,Male,-0.5\n", `column "Values_Care": -0.5 is out of range [0, 10]`},
		{"Age over", "Gender,Age\nFemale,121\n", `profiles line 2, column "Age": 121 is out of range [0, 120]`},
		{"free column beyond 2^53", hdr + "40+,Male,3,1e308\n", `profiles line 2, column "Other": 1e308 is out of range [-9007199254740992, 9007199254740992]`},
		{"free column below -2^53", hdr + "40+,Male,3,-1e16\n", `column "Other": -1e16 is out of range`},
		{"bounds", hdr + "40+,Male,0,9007199254740992\n40+,Male,10,-9007199254740992\n", ""},
		{"age bounds", "Gender,Age\nFemale,0\nMale,120\n", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseProfiles(strings.NewReader(tt.csv))
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil {
				t.Fatalf("accepted, want %q", tt.want)
			}
			if apperr.KindOf(err) != apperr.BadInput || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %q (kind %v), want BadInput containing %q", err, apperr.KindOf(err), tt.want)
			}
		})
	}
}

// Every value of the prototype's survey is inside the ranges.
func TestSurveyFixtureInRange(t *testing.T) {
	rows, err := ParseProfiles(strings.NewReader(string(readFixture(t))))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range rows {
		for k, v := range p.Fields {
			if f, ok := v.(float64); ok && isKnownNumeric(k) && k != colAge && !(f >= ScaleMin && f <= ScaleMax) {
				t.Fatalf("line %d: %s = %v", p.Line, k, f)
			}
		}
	}
}
