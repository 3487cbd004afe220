package experiment

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Narrative writes the comparison of the arms from the result alone, marked
// as such: each arm's scores with their intervals, and every difference whose
// interval excludes 0 (called clear) or not (called not distinguishable).
// Arm names are the client's text: they are quoted, never interpreted.
func Narrative(name string, r *Result) string {
	var b strings.Builder
	b.WriteString("[Written from the statistics, without an LLM.]\n")
	fmt.Fprintf(&b, "Experiment %q: %d arm(s); intervals at %s%%.\n", name, len(r.Arms), fixed(100*r.Confidence, 0))
	for _, a := range r.Arms {
		fmt.Fprintf(&b, "Arm %q (%d of %d runs succeeded): care %s, support %s", a.Name, a.Succeeded, a.Runs,
			estimateText(a.Care), estimateText(a.Support))
		if a.SupportPerDollar != nil {
			fmt.Fprintf(&b, "; %s support points per dollar", fixed(*a.SupportPerDollar, 1))
		}
		b.WriteString(".\n")
	}
	for _, d := range r.Differences {
		fmt.Fprintf(&b, "%q vs %q: support %s; care %s.\n", d.ArmA, d.ArmB, diffText(d.Support), diffText(d.Care))
	}
	// The segments where the arms differ clearly in support, at most 10.
	n := 0
	for _, s := range r.Segments {
		for _, d := range s.Differences {
			if excludesZero(d.Support) && n < 10 {
				fmt.Fprintf(&b, "Among %s = %q: %q vs %q, support %s.\n", s.Key, s.Value, d.ArmA, d.ArmB, diffText(d.Support))
				n++
			}
		}
	}
	return strings.TrimSpace(b.String())
}

func estimateText(e Estimate) string {
	if e.Mean == nil {
		return "not measured"
	}
	s := fixed(*e.Mean, 1)
	if e.Low != nil && e.High != nil {
		s += " [" + fixed(*e.Low, 1) + ", " + fixed(*e.High, 1) + "]"
	}
	if e.Method == MethodBootstrap {
		s += " (one replicate: bootstrap over agents)"
	}
	return s
}

func diffText(d DiffEstimate) string {
	if d.Diff == nil {
		return "not measured"
	}
	s := signed(*d.Diff, 1)
	if d.Low == nil || d.High == nil {
		return s + " (no interval)"
	}
	s += " [" + signed(*d.Low, 1) + ", " + signed(*d.High, 1) + "]"
	if excludesZero(d) {
		return s + ", a clear difference"
	}
	return s + ", not distinguishable from 0"
}

// excludesZero: the interval excludes 0.
func excludesZero(d DiffEstimate) bool {
	return d.Low != nil && d.High != nil && (*d.Low > 0 || *d.High < 0)
}

// fixed formats x with prec decimals, never "-0".
func fixed(x float64, prec int) string {
	p := math.Pow(10, float64(prec))
	x = math.Round(x*p) / p
	if x == 0 {
		x = 0
	}
	return strconv.FormatFloat(x, 'f', prec, 64)
}

func signed(x float64, prec int) string {
	s := fixed(x, prec)
	if !strings.HasPrefix(s, "-") && s != fixed(0, prec) {
		return "+" + s
	}
	return s
}
