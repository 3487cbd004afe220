package runmetrics

import (
	"bytes"
	"encoding/xml"
	"math"
	"strconv"
	"unicode/utf8"
)

// Chart names.
const (
	ChartSupportByRound        = "support-by-round"
	ChartCareByRound           = "care-by-round"
	ChartSupportShiftBySegment = "support-shift-by-segment"
)

// ChartNames lists the charts Chart renders, in a stable order.
var ChartNames = []string{ChartSupportByRound, ChartCareByRound, ChartSupportShiftBySegment}

// Chart renders one chart of m as a standalone SVG document (UTF-8, with
// the XML declaration, width/height and viewBox, a <title>, axis labels and
// a legend). ok is false for an unknown name. A nil m renders like an empty
// Metrics. Output is deterministic.
//
//   - "support-by-round": one polyline per entry of m.Rounds giving the
//     share of the round's valid agents in each of the 11 support buckets
//     (-5..5). Each series is a <g class="series" data-round="R">; a round
//     without data (nil Support) still has its (empty) series group.
//   - "care-by-round": the same for care (0..10).
//   - "support-shift-by-segment": one horizontal bar, left or right of a
//     zero line, per segment value with a non-null, finite
//     MeanSupportShift, in the order of m.Segments and their values. Each
//     bar is a <rect class="bar" data-segment="key=value">. Without segments
//     the chart shows the text "no segments".
//
// All text, including user-provided segment keys and values, is escaped
// with xml.EscapeText.
func Chart(m *Metrics, name string) (svg []byte, ok bool) {
	if m == nil {
		m = &Metrics{}
	}
	switch name {
	case ChartSupportByRound:
		return histogramChart(m, true), true
	case ChartCareByRound:
		return histogramChart(m, false), true
	case ChartSupportShiftBySegment:
		return shiftChart(m), true
	}
	return nil, false
}

// Layout constants (pixels). Text is laid out with a fixed character width.
const (
	svgCharWidth  = 7.0
	svgFontSize   = 12
	svgTitleSize  = 16
	svgLineHeight = 20.0
)

// palette of series colours, cycled.
var svgPalette = []string{
	"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
	"#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
}

// svgWriter accumulates an SVG document.
type svgWriter struct{ b bytes.Buffer }

func (w *svgWriter) raw(s string) { w.b.WriteString(s) }

// esc writes s escaped for use in text content or a double-quoted attribute.
func (w *svgWriter) esc(s string) {
	_ = xml.EscapeText(&w.b, []byte(s)) // writes to a bytes.Buffer: no error
}

// num formats a coordinate or value with at most 2 decimals, never "-0".
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
		strconv.Itoa(svgFontSize) + `">` + "\n")
	w.raw(`<title>`)
	w.esc(title)
	w.raw("</title>\n")
	w.raw(`<rect class="background" x="0" y="0" width="` + num(width) + `" height="` + num(height) + `" fill="#ffffff"/>` + "\n")
	w.text(width/2, 28, "middle", svgTitleSize, "chart-title", title)
}

func (w *svgWriter) end() { w.raw("</svg>\n") }

// text writes a <text> element; class may be empty.
func (w *svgWriter) text(x, y float64, anchor string, size int, class, s string) {
	w.raw(`<text`)
	if class != "" {
		w.raw(` class="` + class + `"`)
	}
	w.raw(` x="` + num(x) + `" y="` + num(y) + `" text-anchor="` + anchor + `"`)
	if size != svgFontSize {
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

// truncate shortens s to at most n runes, marking the cut with "…".
func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

// niceCeil returns the smallest value of the form {1, 2, 2.5, 5} × 10^k
// that is ≥ x (x > 0).
func niceCeil(x float64) float64 {
	if !(x > 0) || math.IsInf(x, 0) {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(x)))
	for _, f := range []float64{1, 2, 2.5, 5, 10} {
		if f*p >= x*(1-1e-12) {
			return f * p
		}
	}
	return 10 * p
}

// histogramChart renders the per-round share histogram of support or care.
func histogramChart(m *Metrics, support bool) []byte {
	title, xLabel, lo := "Care distribution by round", "Care (0..10)", 0
	if support {
		title, xLabel, lo = "Support distribution by round", "Support (-5..5)", -5
	}
	const (
		width       = 760.0
		left        = 70.0
		plotRight   = 590.0
		top         = 50.0
		legendX     = 610.0
		minHeight   = 400.0
		bottomSpace = 70.0
	)
	height := math.Max(minHeight, top+svgLineHeight*float64(len(m.Rounds)+1)+bottomSpace)
	bottom := height - bottomSpace
	plotW, plotH := plotRight-left, bottom-top

	// Shares per round; nil when the round has no distribution.
	shares := make([][]float64, len(m.Rounds))
	maxShare := 0.0
	for i, r := range m.Rounds {
		d := r.Care
		if support {
			d = r.Support
		}
		if d == nil {
			continue
		}
		total := 0
		for _, c := range d.Histogram {
			total += c
		}
		s := make([]float64, len(d.Histogram))
		for k, c := range d.Histogram {
			if total > 0 {
				s[k] = float64(c) / float64(total)
			}
			maxShare = math.Max(maxShare, s[k])
		}
		shares[i] = s
	}
	yMax := 1.0
	if maxShare > 0 {
		yMax = math.Min(1, math.Ceil(maxShare*10-1e-9)/10)
	}
	binW := plotW / 11
	xOf := func(k int) float64 { return left + (float64(k)+0.5)*binW }
	yOf := func(s float64) float64 { return bottom - s/yMax*plotH }

	var w svgWriter
	w.begin(width, height, title)

	// Grid and y axis.
	w.raw(`<g class="axis y-axis">` + "\n")
	const yTicks = 5
	for i := 0; i <= yTicks; i++ {
		v := yMax * float64(i) / yTicks
		y := yOf(v)
		w.line(left, y, plotRight, y, "grid", "#e0e0e0")
		w.text(left-6, y+4, "end", svgFontSize, "tick", strconv.Itoa(int(math.Round(v*100)))+"%")
	}
	w.line(left, top, left, bottom, "axis-line", "#000000")
	w.raw("</g>\n")

	// X axis.
	w.raw(`<g class="axis x-axis">` + "\n")
	w.line(left, bottom, plotRight, bottom, "axis-line", "#000000")
	for k := 0; k < 11; k++ {
		x := xOf(k)
		w.line(x, bottom, x, bottom+5, "tick-mark", "#000000")
		w.text(x, bottom+18, "middle", svgFontSize, "tick", strconv.Itoa(lo+k))
	}
	w.raw("</g>\n")
	w.text(left+plotW/2, bottom+45, "middle", svgFontSize, "axis-label x-label", xLabel)
	w.raw(`<text class="axis-label y-label" x="0" y="0" text-anchor="middle" transform="translate(18 ` +
		num(top+plotH/2) + `) rotate(-90)">`)
	w.esc("Share of agents")
	w.raw("</text>\n")

	// Series.
	for i, r := range m.Rounds {
		color := svgPalette[i%len(svgPalette)]
		w.raw(`<g class="series" data-round="` + strconv.Itoa(r.Round) + `" stroke="` + color + `" fill="` + color + `">` + "\n")
		if s := shares[i]; s != nil {
			w.raw(`<polyline fill="none" stroke-width="2" points="`)
			for k, v := range s {
				if k > 0 {
					w.raw(" ")
				}
				w.raw(num(xOf(k)) + "," + num(yOf(v)))
			}
			w.raw(`"/>` + "\n")
			for k, v := range s {
				w.raw(`<circle cx="` + num(xOf(k)) + `" cy="` + num(yOf(v)) + `" r="3"><title>`)
				w.esc("round " + strconv.Itoa(r.Round) + ", " + strconv.Itoa(lo+k) + ": " +
					strconv.FormatFloat(v*100, 'f', 1, 64) + "%")
				w.raw("</title></circle>\n")
			}
		}
		w.raw("</g>\n")
	}

	// Legend.
	w.raw(`<g class="legend">` + "\n")
	w.text(legendX, top+4, "start", svgFontSize, "legend-title", "Round")
	for i, r := range m.Rounds {
		y := top + svgLineHeight*float64(i+1)
		color := svgPalette[i%len(svgPalette)]
		w.raw(`<rect x="` + num(legendX) + `" y="` + num(y-9) + `" width="12" height="12" fill="` + color + `"/>` + "\n")
		label := "round " + strconv.Itoa(r.Round) + " (n=" + strconv.Itoa(r.N) + ")"
		if shares[i] == nil {
			label = "round " + strconv.Itoa(r.Round) + " (no data)"
		}
		w.text(legendX+18, y+1, "start", svgFontSize, "legend-label", label)
	}
	if len(m.Rounds) == 0 {
		w.text(legendX, top+svgLineHeight, "start", svgFontSize, "legend-label", "no rounds")
		w.text(left+plotW/2, top+plotH/2, "middle", svgFontSize, "empty", "no rounds")
	}
	w.raw("</g>\n")
	w.end()
	return w.b.Bytes()
}

// shiftBar is one bar of the segment shift chart.
type shiftBar struct {
	label string
	shift float64
}

// shiftChart renders the mean support shift per segment value.
func shiftChart(m *Metrics) []byte {
	const (
		title        = "Mean support shift by segment"
		width        = 760.0
		top          = 80.0
		barH         = 16.0
		rowH         = 24.0
		maxLabelLen  = 40
		bottomSpace  = 60.0
		valueSpace   = 50.0
		rightMargin  = 20.0
		minPlotWidth = 300.0
	)
	var bars []shiftBar
	for _, seg := range m.Segments {
		for _, v := range seg.Values {
			if v.MeanSupportShift == nil || math.IsNaN(*v.MeanSupportShift) || math.IsInf(*v.MeanSupportShift, 0) {
				continue
			}
			bars = append(bars, shiftBar{seg.Key + "=" + v.Value, *v.MeanSupportShift})
		}
	}
	longest := 0
	maxAbs := 0.0
	for _, b := range bars {
		longest = max(longest, utf8.RuneCountInString(truncate(b.label, maxLabelLen)))
		maxAbs = math.Max(maxAbs, math.Abs(b.shift))
	}
	left := math.Max(90, 36+svgCharWidth*float64(longest))
	plotLeft, plotRight := left+valueSpace, math.Max(left+valueSpace+minPlotWidth, width-rightMargin-valueSpace)
	ext := niceCeil(maxAbs)
	rows := max(len(bars), 3)
	height := top + rowH*float64(rows) + bottomSpace
	bottom := top + rowH*float64(rows)
	zeroX := (plotLeft + plotRight) / 2
	half := (plotRight - plotLeft) / 2
	xOf := func(v float64) float64 { return zeroX + v/ext*half }
	totalW := plotRight + valueSpace + rightMargin

	var w svgWriter
	w.begin(totalW, height, title)

	// Legend.
	w.raw(`<g class="legend">` + "\n")
	lx := totalW/2 - 150
	w.raw(`<rect x="` + num(lx) + `" y="41" width="12" height="12" fill="#2ca02c"/>` + "\n")
	w.text(lx+18, 51, "start", svgFontSize, "legend-label", "more support (positive shift)")
	w.raw(`<rect x="` + num(lx+200) + `" y="41" width="12" height="12" fill="#d62728"/>` + "\n")
	w.text(lx+218, 51, "start", svgFontSize, "legend-label", "less support")
	w.raw("</g>\n")

	// X axis with grid.
	w.raw(`<g class="axis x-axis">` + "\n")
	for i := -2; i <= 2; i++ {
		v := ext * float64(i) / 2
		x := xOf(v)
		w.line(x, top-6, x, bottom, "grid", "#e0e0e0")
		w.text(x, bottom+16, "middle", svgFontSize, "tick", num(v))
	}
	w.line(plotLeft, bottom, plotRight, bottom, "axis-line", "#000000")
	w.raw("</g>\n")
	w.line(zeroX, top-6, zeroX, bottom, "zero-line", "#000000")
	w.text((plotLeft+plotRight)/2, bottom+40, "middle", svgFontSize, "axis-label x-label",
		"Mean support shift (final round - round 0)")
	w.raw(`<text class="axis-label y-label" x="0" y="0" text-anchor="middle" transform="translate(14 ` +
		num((top+bottom)/2) + `) rotate(-90)">`)
	w.esc("Segment")
	w.raw("</text>\n")

	// Bars.
	w.raw(`<g class="bars">` + "\n")
	for i, b := range bars {
		y := top + rowH*float64(i) + (rowH-barH)/2
		x0, x1 := zeroX, xOf(b.shift)
		color, anchor, vx := "#2ca02c", "start", x1+4
		if b.shift < 0 {
			x0, x1 = x1, x0
			color, anchor, vx = "#d62728", "end", x0-4
		}
		w.text(left, y+barH-4, "end", svgFontSize, "bar-label", truncate(b.label, maxLabelLen))
		w.raw(`<rect class="bar" data-segment="`)
		w.esc(b.label)
		w.raw(`" data-value="` + strconv.FormatFloat(b.shift, 'g', -1, 64) + `" x="` + num(x0) + `" y="` + num(y) +
			`" width="` + num(x1-x0) + `" height="` + num(barH) + `" fill="` + color + `"><title>`)
		w.esc(b.label + ": " + signed(b.shift))
		w.raw("</title></rect>\n")
		w.text(vx, y+barH-4, anchor, svgFontSize, "bar-value", signed(b.shift))
	}
	w.raw("</g>\n")
	if len(bars) == 0 {
		msg := "no segments"
		if len(m.Segments) > 0 {
			msg = "no segment shifts"
		}
		w.text(zeroX, (top+bottom)/2, "middle", svgFontSize, "empty", msg)
	}
	w.end()
	return w.b.Bytes()
}

// signed formats v with two decimals and an explicit sign ("0.00" for zero).
func signed(v float64) string {
	s := strconv.FormatFloat(v, 'f', 2, 64)
	switch {
	case s == "0.00" || s == "-0.00":
		return "0.00"
	case v > 0:
		return "+" + s
	}
	return s
}
