package reporting

import (
	"encoding/json"
	"errors"
	"math"
	"strconv"
	"strings"
	"unicode"
)

// checkNarrative refuses what must not be stored as an LLM narrative: an
// answer cut off at the token limit, an empty one, one without a word, and
// JSON (a model, or a stand-in, that answered in the agents' format).
func checkNarrative(text string, truncated bool) error {
	t := strings.TrimSpace(text)
	switch {
	case truncated:
		return errors.New("the narrative is incomplete")
	case t == "":
		return errors.New("the narrative is empty")
	case looksLikeJSON(t):
		return errors.New("the narrative is JSON, not prose")
	case strings.IndexFunc(t, unicode.IsLetter) < 0:
		return errors.New("the narrative has no words")
	}
	return nil
}

// looksLikeJSON reports whether t (trimmed) is a JSON value, possibly in a
// Markdown code fence or cut short: an object, an array of values, or any
// whole JSON document. Prose that merely starts with "[" ("[Summary] …")
// is not.
func looksLikeJSON(t string) bool {
	if rest, ok := strings.CutPrefix(t, "```"); ok {
		// ```json\n{…}\n```: judge what the fence holds.
		if i := strings.IndexByte(rest, '\n'); i >= 0 {
			rest = rest[i+1:]
		}
		t = strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "```"))
	}
	if t == "" {
		return false
	}
	if json.Valid([]byte(t)) {
		return true
	}
	switch t[0] {
	case '{':
		return true
	case '[':
		next := strings.TrimLeft(t[1:], " \t\r\n")
		return next != "" && strings.ContainsRune(`{["`, rune(next[0]))
	}
	return false
}

// fixed formats x with prec decimals for people to read: rounded, never "-0".
func fixed(x float64, prec int) string {
	return strconv.FormatFloat(round(x, prec), 'f', prec, 64)
}

// signed is fixed with an explicit sign ("+0.00" for zero, never "-0.00").
func signed(x float64, prec int) string {
	s := fixed(x, prec)
	if !strings.HasPrefix(s, "-") {
		s = "+" + s
	}
	return s
}

// round rounds x to prec decimals as the prototype's Python round(x, prec)
// did, turning -0 into 0: correctly from x's exact binary value, an exact
// half to even (2.5 → 2, 0.125 → 0.12; -0.005, just below -0.005 in
// binary, → -0.01). strconv rounds that way; x·10^prec would not be exact.
func round(x float64, prec int) float64 {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return x
	}
	r, _ := strconv.ParseFloat(strconv.FormatFloat(x, 'f', prec, 64), 64)
	if r == 0 {
		return 0 // also -0
	}
	return r
}

// roundedJSON encodes v with every number rounded to two decimals, for text
// a model reads (the stored metrics keep full precision).
func roundedJSON(v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var tree any
	if err := json.Unmarshal(b, &tree); err != nil {
		return nil, err
	}
	return json.Marshal(roundTree(tree))
}

func roundTree(v any) any {
	switch t := v.(type) {
	case float64:
		return round(t, 2)
	case map[string]any:
		for k, e := range t {
			t[k] = roundTree(e)
		}
	case []any:
		for i, e := range t {
			t[i] = roundTree(e)
		}
	}
	return v
}
