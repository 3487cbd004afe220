package experiment

import (
	"math"
	"strconv"
	"unicode/utf8"

	"github.com/ethox/ethox/internal/svgchart"
)

// Chart names.
const (
	ChartArmsSupport        = "arms-support"
	ChartArmsCare           = "arms-care"
	ChartDifferencesSupport = "differences-support"
	ChartDifferencesCare    = "differences-care"
)

// ChartNames lists the charts Chart renders, in a stable order.
var ChartNames = []string{ChartArmsSupport, ChartArmsCare, ChartDifferencesSupport, ChartDifferencesCare}

// Chart renders one chart of r as a standalone SVG document, in the style of
// runmetrics.Chart (XML declaration, width/height and viewBox, a <title>,
// axis labels, deterministic output). ok is false for an unknown name.
//
//   - "arms-support" / "arms-care": one row per arm on the score's full scale
//     (-50..50, 0..100): each succeeded replicate's score as a dot
//     (<circle class="replicate">), the mean as a diamond and its interval as
//     a whisker (<g class="arm" data-arm="NAME" data-mean data-low data-high>).
//   - "differences-support" / "differences-care": one row per pair, A − B,
//     its difference as a dot and its interval as a whisker around a zero
//     line (<g class="difference" data-pair="A − B" …>); green when the
//     interval lies above 0, red below, grey across it.
//
// Every text, arm names included (the client's), is escaped with
// xml.EscapeText.
func Chart(r *Result, name string) (svg []byte, ok bool) {
	if r == nil {
		r = &Result{}
	}
	switch name {
	case ChartArmsSupport:
		return armsChart(r, true), true
	case ChartArmsCare:
		return armsChart(r, false), true
	case ChartDifferencesSupport:
		return diffChart(r, true), true
	case ChartDifferencesCare:
		return diffChart(r, false), true
	}
	return nil, false
}

const (
	rowH       = 32.0
	top        = 70.0
	maxLabel   = 40
	plotWidth  = 520.0
	rightSpace = 30.0
)

func attrNum(p *float64) string {
	if p == nil {
		return ""
	}
	return strconv.FormatFloat(*p, 'g', -1, 64)
}

// frame draws the title, the x axis (ticks at lo..hi) and its label, and
// returns the x of a value and the plot's bottom.
func frame(w *svgchart.Writer, title, xLabel string, labels []string, lo, hi float64) (xOf func(float64) float64, left, bottom, width float64) {
	longest := 0
	for _, l := range labels {
		longest = max(longest, utf8.RuneCountInString(svgchart.Truncate(l, maxLabel)))
	}
	left = math.Max(90, 24+svgchart.CharWidth*float64(longest))
	rows := max(len(labels), 2)
	bottom = top + rowH*float64(rows)
	width = left + plotWidth + rightSpace
	height := bottom + 60
	w.Begin(width, height, title)
	xOf = func(v float64) float64 { return left + (v-lo)/(hi-lo)*plotWidth }
	w.Raw(`<g class="axis x-axis">` + "\n")
	for i := 0; i <= 4; i++ {
		v := lo + (hi-lo)*float64(i)/4
		w.Line(xOf(v), top-6, xOf(v), bottom, "grid", "#e0e0e0")
		w.Text(xOf(v), bottom+16, "middle", svgchart.FontSize, "tick", svgchart.Num(v))
	}
	w.Line(left, bottom, left+plotWidth, bottom, "axis-line", "#000000")
	w.Raw("</g>\n")
	w.Text(left+plotWidth/2, bottom+40, "middle", svgchart.FontSize, "axis-label x-label", xLabel)
	return xOf, left, bottom, width
}

func clampTo(v, lo, hi float64) float64 { return math.Max(lo, math.Min(hi, v)) }

func armsChart(r *Result, support bool) []byte {
	title, xLabel, lo, hi := "Care score by arm (95% interval)", "Care score (0..100)", 0.0, 100.0
	if support {
		title, xLabel, lo, hi = "Support score by arm (95% interval)", "Support score (-50..50)", -50.0, 50.0
	}
	labels := make([]string, len(r.Arms))
	for i, a := range r.Arms {
		labels[i] = a.Name
	}
	var w svgchart.Writer
	xOf, left, bottom, _ := frame(&w, title, xLabel, labels, lo, hi)
	x := func(v float64) float64 { return xOf(clampTo(v, lo, hi)) }
	for i, a := range r.Arms {
		e := a.Care
		if support {
			e = a.Support
		}
		y := top + rowH*float64(i) + rowH/2
		color := "#1f77b4"
		w.Text(left-8, y+4, "end", svgchart.FontSize, "arm-label", svgchart.Truncate(a.Name, maxLabel))
		w.Raw(`<g class="arm" data-arm="`)
		w.Esc(a.Name)
		w.Raw(`" data-method="` + e.Method + `" data-mean="` + attrNum(e.Mean) + `" data-low="` + attrNum(e.Low) +
			`" data-high="` + attrNum(e.High) + `">` + "\n")
		for _, rep := range a.Replicates {
			s := rep.CareScore
			if support {
				s = rep.SupportScore
			}
			if s != nil {
				w.Raw(`<circle class="replicate" cx="` + svgchart.Num(x(*s)) + `" cy="` + svgchart.Num(y-7) + `" r="3" fill="#aec7e8"/>` + "\n")
			}
		}
		if e.Low != nil && e.High != nil {
			w.Line(x(*e.Low), y+4, x(*e.High), y+4, "interval", color)
			w.Line(x(*e.Low), y, x(*e.Low), y+8, "interval-cap", color)
			w.Line(x(*e.High), y, x(*e.High), y+8, "interval-cap", color)
		}
		if e.Mean != nil {
			mx := x(*e.Mean)
			w.Raw(`<path class="mean" d="M` + svgchart.Num(mx) + ` ` + svgchart.Num(y-1) + ` l5 5 l-5 5 l-5 -5 z" fill="` + color + `"><title>`)
			w.Esc(a.Name + ": " + estimateText(e))
			w.Raw("</title></path>\n")
		} else {
			w.Text(left+plotWidth/2, y+4, "middle", svgchart.FontSize, "empty", "no succeeded run")
		}
		w.Raw("</g>\n")
	}
	if len(r.Arms) == 0 {
		w.Text(left+plotWidth/2, (top+bottom)/2, "middle", svgchart.FontSize, "empty", "no arms")
	}
	w.Raw("</svg>\n")
	return w.Bytes()
}

func diffChart(r *Result, support bool) []byte {
	title, xLabel := "Difference in care score, A − B (95% interval)", "Care score difference"
	if support {
		title, xLabel = "Difference in support score, A − B (95% interval)", "Support score difference"
	}
	labels := make([]string, len(r.Differences))
	ext := 0.0
	for i, d := range r.Differences {
		labels[i] = d.ArmA + " − " + d.ArmB
		e := d.Care
		if support {
			e = d.Support
		}
		for _, p := range []*float64{e.Diff, e.Low, e.High} {
			if p != nil && !math.IsNaN(*p) && !math.IsInf(*p, 0) {
				ext = math.Max(ext, math.Abs(*p))
			}
		}
	}
	ext = svgchart.NiceCeil(ext)
	var w svgchart.Writer
	xOf, left, bottom, _ := frame(&w, title, xLabel, labels, -ext, ext)
	w.Line(xOf(0), top-6, xOf(0), bottom, "zero-line", "#000000")
	for i, d := range r.Differences {
		e := d.Care
		if support {
			e = d.Support
		}
		y := top + rowH*float64(i) + rowH/2
		color := "#7f7f7f"
		switch {
		case excludesZero(e) && *e.Low > 0:
			color = "#2ca02c"
		case excludesZero(e):
			color = "#d62728"
		}
		w.Text(left-8, y+4, "end", svgchart.FontSize, "pair-label", svgchart.Truncate(labels[i], maxLabel))
		w.Raw(`<g class="difference" data-pair="`)
		w.Esc(labels[i])
		w.Raw(`" data-method="` + e.Method + `" data-diff="` + attrNum(e.Diff) + `" data-low="` + attrNum(e.Low) +
			`" data-high="` + attrNum(e.High) + `">` + "\n")
		if e.Low != nil && e.High != nil {
			w.Line(xOf(*e.Low), y, xOf(*e.High), y, "interval", color)
			w.Line(xOf(*e.Low), y-4, xOf(*e.Low), y+4, "interval-cap", color)
			w.Line(xOf(*e.High), y-4, xOf(*e.High), y+4, "interval-cap", color)
		}
		if e.Diff != nil {
			w.Raw(`<circle class="diff" cx="` + svgchart.Num(xOf(*e.Diff)) + `" cy="` + svgchart.Num(y) + `" r="4" fill="` + color + `"><title>`)
			w.Esc(labels[i] + ": " + diffText(e))
			w.Raw("</title></circle>\n")
		}
		w.Raw("</g>\n")
	}
	if len(r.Differences) == 0 {
		w.Text(left+plotWidth/2, (top+bottom)/2, "middle", svgchart.FontSize, "empty", "no pairs of arms")
	}
	w.Raw("</svg>\n")
	return w.Bytes()
}
