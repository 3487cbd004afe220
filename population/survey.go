package population

import (
	"bytes"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"math/rand/v2"
	"sync"
)

// surveyCSV is a verbatim copy of testdata/voter_opinion_survey_350.csv, the
// prototype's 350-row voter survey: the default profile source
// (ProfilesSurvey). TestEmbeddedSurveyMatchesShared checks the copy against
// the shared file.
//
//go:embed voter_opinion_survey_350.csv
var surveyCSV []byte

var (
	surveyOnce sync.Once
	surveyRows []Profile
	surveyErr  error
	surveyHash string
)

// survey returns the embedded survey's rows, parsed once (callers must not
// modify them), and "sha256:<hex>" of its bytes.
func survey() ([]Profile, string, error) {
	surveyOnce.Do(func() {
		surveyRows, surveyErr = ParseProfiles(bytes.NewReader(surveyCSV))
		sum := sha256.Sum256(surveyCSV)
		surveyHash = "sha256:" + hex.EncodeToString(sum[:])
	})
	return surveyRows, surveyHash, surveyErr
}

// Drawing profiles from rows
//
// Without replacement (SamplingWithoutReplacement, the default, as the
// prototype drew from its survey): agents take rows in successive passes;
// each pass is a uniformly random ordering of all the rows (a Fisher–Yates
// shuffle, partial for the last pass), so while N ≤ rows no row is used
// twice, and above that every row is used ⌊N/rows⌋ or ⌈N/rows⌉ times (the
// prototype could not draw more agents than rows; this is Ethox's
// extension). With replacement (SamplingWithReplacement, Ethox's CSV
// behaviour before ethox-population/2): every agent takes a uniformly
// random row, independently.

// drawRows returns the row index of each of n agents.
func drawRows(rng *rand.Rand, n, rows int, sampling ProfileSampling) []int {
	out := make([]int, n)
	if sampling == SamplingWithReplacement {
		for i := range out {
			out[i] = rng.IntN(rows)
		}
		return out
	}
	perm := make([]int, rows)
	for done := 0; done < n; {
		for j := range perm {
			perm[j] = j
		}
		m := min(rows, n-done)
		for j := range m {
			k := j + rng.IntN(rows-j)
			perm[j], perm[k] = perm[k], perm[j]
			out[done+j] = perm[j]
		}
		done += m
	}
	return out
}
