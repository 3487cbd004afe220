package experiment

import (
	"bytes"
	"encoding/xml"
	"math"
	"strconv"
	"unicode/utf8"
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
	charW      = 7.0
	fontSize   = 12
	titleSize  = 16
	rowH       = 32.0
	top        = 70.0
	maxLabel   = 40
	plotWidth  = 520.0
	rightSpace = 30.0
)

type svgWriter struct{ b bytes.Buffer }

func (w *svgWriter) raw(s string) { w.b.WriteString(s) }

// esc writes s escaped for text content or a double-quoted attribute.
func (w *svgWriter) esc(s string) { _ = xml.EscapeText(&w.b, []byte(s)) }

// num formats a coordinate with at most 2 decimals, never "-0".
func num(x float64) string {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		x = 0
	}
	x = math.Round(x*100) / 100
	if x == 0 {
		return "0"
	}
	return strconv.FormatFloat(x, 'f', -1, 64)
}

func (w *svgWriter) begin(width, height float64, title string) {
	w.raw(`<?xml version="1.0" encoding="UTF-8"?>` + "\n")
	w.raw(`<svg xmlns="http://www.w3.org/2000/svg" width="` + num(width) + `" height="` + num(height) +
		`" viewBox="0 0 ` + num(width) + ` ` + num(height) + `" font-family="sans-serif" font-size="` +
		strconv.Itoa(fontSize) + `">` + "\n")
	w.raw(`<title>`)
	w.esc(title)
	w.raw("</title>\n")
	w.raw(`<rect class="background" x="0" y="0" width="` + num(width) + `" height="` + num(height) + `" fill="#ffffff"/>` + "\n")
	w.text(width/2, 28, "middle", titleSize, "chart-title", title)
}

func (w *svgWriter) text(x, y float64, anchor string, size int, class, s string) {
	w.raw(`<text class="` + class + `" x="` + num(x) + `" y="` + num(y) + `" text-anchor="` + anchor + `"`)
	if size != fontSize {
		w.raw(` font-size="` + strconv.Itoa(size) + `"`)
	}
	w.raw(`>`)
	w.esc(s)
	w.raw("</text>\n")
}

func (w *svgWriter) line(x1, y1, x2, y2 float64, class, stroke string) {
	w.raw(`<line class="` + class + `" x1="` + num(x1) + `" y1="` + num(y1) + `" x2="` + num(x2) +
		`" y2="` + num(y2) + `" stroke="` + stroke + `"/>` + "\n")
}

func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n-1]) + "…"
}

func attrNum(p *float64) string {
	if p == nil {
		return ""
	}
	return strconv.FormatFloat(*p, 'g', -1, 64)
}

// frame draws the title, the x axis (ticks at lo..hi) and its label, and
// returns the x of a value and the plot's bottom.
func frame(w *svgWriter, title, xLabel string, labels []string, lo, hi float64) (xOf func(float64) float64, left, bottom, width float64) {
	longest := 0
	for _, l := range labels {
		longest = max(longest, utf8.RuneCountInString(truncate(l, maxLabel)))
	}
	left = math.Max(90, 24+charW*float64(longest))
	rows := max(len(labels), 2)
	bottom = top + rowH*float64(rows)
	width = left + plotWidth + rightSpace
	height := bottom + 60
	w.begin(width, height, title)
	xOf = func(v float64) float64 { return left + (v-lo)/(hi-lo)*plotWidth }
	w.raw(`<g class="axis x-axis">` + "\n")
	for i := 0; i <= 4; i++ {
		v := lo + (hi-lo)*float64(i)/4
		w.line(xOf(v), top-6, xOf(v), bottom, "grid", "#e0e0e0")
		w.text(xOf(v), bottom+16, "middle", fontSize, "tick", num(v))
	}
	w.line(left, bottom, left+plotWidth, bottom, "axis-line", "#000000")
	w.raw("</g>\n")
	w.text(left+plotWidth/2, bottom+40, "middle", fontSize, "axis-label x-label", xLabel)
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
	var w svgWriter
	xOf, left, bottom, _ := frame(&w, title, xLabel, labels, lo, hi)
	x := func(v float64) float64 { return xOf(clampTo(v, lo, hi)) }
	for i, a := range r.Arms {
		e := a.Care
		if support {
			e = a.Support
		}
		y := top + rowH*float64(i) + rowH/2
		color := "#1f77b4"
		w.text(left-8, y+4, "end", fontSize, "arm-label", truncate(a.Name, maxLabel))
		w.raw(`<g class="arm" data-arm="`)
		w.esc(a.Name)
		w.raw(`" data-method="` + e.Method + `" data-mean="` + attrNum(e.Mean) + `" data-low="` + attrNum(e.Low) +
			`" data-high="` + attrNum(e.High) + `">` + "\n")
		for _, rep := range a.Replicates {
			s := rep.CareScore
			if support {
				s = rep.SupportScore
			}
			if s != nil {
				w.raw(`<circle class="replicate" cx="` + num(x(*s)) + `" cy="` + num(y-7) + `" r="3" fill="#aec7e8"/>` + "\n")
			}
		}
		if e.Low != nil && e.High != nil {
			w.line(x(*e.Low), y+4, x(*e.High), y+4, "interval", color)
			w.line(x(*e.Low), y, x(*e.Low), y+8, "interval-cap", color)
			w.line(x(*e.High), y, x(*e.High), y+8, "interval-cap", color)
		}
		if e.Mean != nil {
			mx := x(*e.Mean)
			w.raw(`<path class="mean" d="M` + num(mx) + ` ` + num(y-1) + ` l5 5 l-5 5 l-5 -5 z" fill="` + color + `"><title>`)
			w.esc(a.Name + ": " + estimateText(e))
			w.raw("</title></path>\n")
		} else {
			w.text(left+plotWidth/2, y+4, "middle", fontSize, "empty", "no succeeded run")
		}
		w.raw("</g>\n")
	}
	if len(r.Arms) == 0 {
		w.text(left+plotWidth/2, (top+bottom)/2, "middle", fontSize, "empty", "no arms")
	}
	w.raw("</svg>\n")
	return w.b.Bytes()
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
	ext = niceCeil(ext)
	var w svgWriter
	xOf, left, bottom, _ := frame(&w, title, xLabel, labels, -ext, ext)
	w.line(xOf(0), top-6, xOf(0), bottom, "zero-line", "#000000")
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
		w.text(left-8, y+4, "end", fontSize, "pair-label", truncate(labels[i], maxLabel))
		w.raw(`<g class="difference" data-pair="`)
		w.esc(labels[i])
		w.raw(`" data-method="` + e.Method + `" data-diff="` + attrNum(e.Diff) + `" data-low="` + attrNum(e.Low) +
			`" data-high="` + attrNum(e.High) + `">` + "\n")
		if e.Low != nil && e.High != nil {
			w.line(xOf(*e.Low), y, xOf(*e.High), y, "interval", color)
			w.line(xOf(*e.Low), y-4, xOf(*e.Low), y+4, "interval-cap", color)
			w.line(xOf(*e.High), y-4, xOf(*e.High), y+4, "interval-cap", color)
		}
		if e.Diff != nil {
			w.raw(`<circle class="diff" cx="` + num(xOf(*e.Diff)) + `" cy="` + num(y) + `" r="4" fill="` + color + `"><title>`)
			w.esc(labels[i] + ": " + diffText(e))
			w.raw("</title></circle>\n")
		}
		w.raw("</g>\n")
	}
	if len(r.Differences) == 0 {
		w.text(left+plotWidth/2, (top+bottom)/2, "middle", fontSize, "empty", "no pairs of arms")
	}
	w.raw("</svg>\n")
	return w.b.Bytes()
}

// niceCeil is the smallest {1, 2, 2.5, 5} × 10^k ≥ x, and 1 for x ≤ 0.
func niceCeil(x float64) float64 {
	if !(x > 0) {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(x)))
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if m*p >= x {
			return m * p
		}
	}
	return 10 * p
}
