package runmetrics

import (
	"math"
	"strconv"
	"unicode/utf8"

	"github.com/ethox/ethox/internal/svgchart"
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
	svgLineHeight = 20.0
)

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

	var w svgchart.Writer
	w.Begin(width, height, title)

	// Grid and y axis.
	w.Raw(`<g class="axis y-axis">` + "\n")
	const yTicks = 5
	for i := 0; i <= yTicks; i++ {
		v := yMax * float64(i) / yTicks
		y := yOf(v)
		w.Line(left, y, plotRight, y, "grid", "#e0e0e0")
		w.Text(left-6, y+4, "end", svgchart.FontSize, "tick", strconv.Itoa(int(math.Round(v*100)))+"%")
	}
	w.Line(left, top, left, bottom, "axis-line", "#000000")
	w.Raw("</g>\n")

	// X axis.
	w.Raw(`<g class="axis x-axis">` + "\n")
	w.Line(left, bottom, plotRight, bottom, "axis-line", "#000000")
	for k := 0; k < 11; k++ {
		x := xOf(k)
		w.Line(x, bottom, x, bottom+5, "tick-mark", "#000000")
		w.Text(x, bottom+18, "middle", svgchart.FontSize, "tick", strconv.Itoa(lo+k))
	}
	w.Raw("</g>\n")
	w.Text(left+plotW/2, bottom+45, "middle", svgchart.FontSize, "axis-label x-label", xLabel)
	w.Raw(`<text class="axis-label y-label" x="0" y="0" text-anchor="middle" transform="translate(18 ` +
		svgchart.Num(top+plotH/2) + `) rotate(-90)">`)
	w.Esc("Share of agents")
	w.Raw("</text>\n")

	// Series.
	for i, r := range m.Rounds {
		color := svgchart.Palette[i%len(svgchart.Palette)]
		w.Raw(`<g class="series" data-round="` + strconv.Itoa(r.Round) + `" stroke="` + color + `" fill="` + color + `">` + "\n")
		if s := shares[i]; s != nil {
			w.Raw(`<polyline fill="none" stroke-width="2" points="`)
			for k, v := range s {
				if k > 0 {
					w.Raw(" ")
				}
				w.Raw(svgchart.Num(xOf(k)) + "," + svgchart.Num(yOf(v)))
			}
			w.Raw(`"/>` + "\n")
			for k, v := range s {
				w.Raw(`<circle cx="` + svgchart.Num(xOf(k)) + `" cy="` + svgchart.Num(yOf(v)) + `" r="3"><title>`)
				w.Esc("round " + strconv.Itoa(r.Round) + ", " + strconv.Itoa(lo+k) + ": " +
					strconv.FormatFloat(v*100, 'f', 1, 64) + "%")
				w.Raw("</title></circle>\n")
			}
		}
		w.Raw("</g>\n")
	}

	// Legend.
	w.Raw(`<g class="legend">` + "\n")
	w.Text(legendX, top+4, "start", svgchart.FontSize, "legend-title", "Round")
	for i, r := range m.Rounds {
		y := top + svgLineHeight*float64(i+1)
		color := svgchart.Palette[i%len(svgchart.Palette)]
		w.Raw(`<rect x="` + svgchart.Num(legendX) + `" y="` + svgchart.Num(y-9) + `" width="12" height="12" fill="` + color + `"/>` + "\n")
		label := "round " + strconv.Itoa(r.Round) + " (n=" + strconv.Itoa(r.N) + ")"
		if shares[i] == nil {
			label = "round " + strconv.Itoa(r.Round) + " (no data)"
		}
		w.Text(legendX+18, y+1, "start", svgchart.FontSize, "legend-label", label)
	}
	if len(m.Rounds) == 0 {
		w.Text(legendX, top+svgLineHeight, "start", svgchart.FontSize, "legend-label", "no rounds")
		w.Text(left+plotW/2, top+plotH/2, "middle", svgchart.FontSize, "empty", "no rounds")
	}
	w.Raw("</g>\n")
	w.End()
	return w.Bytes()
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
		longest = max(longest, utf8.RuneCountInString(svgchart.Truncate(b.label, maxLabelLen)))
		maxAbs = math.Max(maxAbs, math.Abs(b.shift))
	}
	left := math.Max(90, 36+svgchart.CharWidth*float64(longest))
	plotLeft, plotRight := left+valueSpace, math.Max(left+valueSpace+minPlotWidth, width-rightMargin-valueSpace)
	ext := svgchart.NiceCeil(maxAbs)
	rows := max(len(bars), 3)
	height := top + rowH*float64(rows) + bottomSpace
	bottom := top + rowH*float64(rows)
	zeroX := (plotLeft + plotRight) / 2
	half := (plotRight - plotLeft) / 2
	xOf := func(v float64) float64 { return zeroX + v/ext*half }
	totalW := plotRight + valueSpace + rightMargin

	var w svgchart.Writer
	w.Begin(totalW, height, title)

	// Legend.
	w.Raw(`<g class="legend">` + "\n")
	lx := totalW/2 - 150
	w.Raw(`<rect x="` + svgchart.Num(lx) + `" y="41" width="12" height="12" fill="#2ca02c"/>` + "\n")
	w.Text(lx+18, 51, "start", svgchart.FontSize, "legend-label", "more support (positive shift)")
	w.Raw(`<rect x="` + svgchart.Num(lx+200) + `" y="41" width="12" height="12" fill="#d62728"/>` + "\n")
	w.Text(lx+218, 51, "start", svgchart.FontSize, "legend-label", "less support")
	w.Raw("</g>\n")

	// X axis with grid.
	w.Raw(`<g class="axis x-axis">` + "\n")
	for i := -2; i <= 2; i++ {
		v := ext * float64(i) / 2
		x := xOf(v)
		w.Line(x, top-6, x, bottom, "grid", "#e0e0e0")
		w.Text(x, bottom+16, "middle", svgchart.FontSize, "tick", svgchart.Num(v))
	}
	w.Line(plotLeft, bottom, plotRight, bottom, "axis-line", "#000000")
	w.Raw("</g>\n")
	w.Line(zeroX, top-6, zeroX, bottom, "zero-line", "#000000")
	w.Text((plotLeft+plotRight)/2, bottom+40, "middle", svgchart.FontSize, "axis-label x-label",
		"Mean support shift (final round - round 0)")
	w.Raw(`<text class="axis-label y-label" x="0" y="0" text-anchor="middle" transform="translate(14 ` +
		svgchart.Num((top+bottom)/2) + `) rotate(-90)">`)
	w.Esc("Segment")
	w.Raw("</text>\n")

	// Bars.
	w.Raw(`<g class="bars">` + "\n")
	for i, b := range bars {
		y := top + rowH*float64(i) + (rowH-barH)/2
		x0, x1 := zeroX, xOf(b.shift)
		color, anchor, vx := "#2ca02c", "start", x1+4
		if b.shift < 0 {
			x0, x1 = x1, x0
			color, anchor, vx = "#d62728", "end", x0-4
		}
		w.Text(left, y+barH-4, "end", svgchart.FontSize, "bar-label", svgchart.Truncate(b.label, maxLabelLen))
		w.Raw(`<rect class="bar" data-segment="`)
		w.Esc(b.label)
		w.Raw(`" data-value="` + strconv.FormatFloat(b.shift, 'g', -1, 64) + `" x="` + svgchart.Num(x0) + `" y="` + svgchart.Num(y) +
			`" width="` + svgchart.Num(x1-x0) + `" height="` + svgchart.Num(barH) + `" fill="` + color + `"><title>`)
		w.Esc(b.label + ": " + signed(b.shift))
		w.Raw("</title></rect>\n")
		w.Text(vx, y+barH-4, anchor, svgchart.FontSize, "bar-value", signed(b.shift))
	}
	w.Raw("</g>\n")
	if len(bars) == 0 {
		msg := "no segments"
		if len(m.Segments) > 0 {
			msg = "no segment shifts"
		}
		w.Text(zeroX, (top+bottom)/2, "middle", svgchart.FontSize, "empty", msg)
	}
	w.End()
	return w.Bytes()
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
