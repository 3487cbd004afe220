// Package svgchart writes the small SVG documents of report and experiment
// charts (runmetrics, experiment): a document, text escaped as XML, lines and
// numbers formatted compactly. Hand-written: the charts are fixed layouts of a
// few dozen elements, and the Go charting libraries render through a
// canvas or pull in fonts and image packages for what is a page of markup.
package svgchart

import (
	"bytes"
	"encoding/xml"
	"math"
	"strconv"
	"unicode/utf8"
)

// Layout constants (pixels). Text is laid out with a fixed character width.
const (
	CharWidth = 7.0
	FontSize  = 12
	TitleSize = 16
)

// Palette of series colours, cycled.
var Palette = []string{
	"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
	"#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
}

// Writer accumulates an SVG document.
type Writer struct{ b bytes.Buffer }

// Raw writes markup as it is: callers pass only constants and Num's output.
func (w *Writer) Raw(s string) { w.b.WriteString(s) }

// Esc writes s escaped for text content or a double-quoted attribute.
func (w *Writer) Esc(s string) {
	_ = xml.EscapeText(&w.b, []byte(s)) // writes to a bytes.Buffer: no error
}

// Bytes is the document written so far.
func (w *Writer) Bytes() []byte { return w.b.Bytes() }

// Num formats a coordinate or value with at most 2 decimals, never "-0"
// (and 0 for NaN or infinities, which have no place in a coordinate).
func Num(x float64) string {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		x = 0
	}
	x = math.Round(x*100) / 100
	if x == 0 {
		return "0"
	}
	return strconv.FormatFloat(x, 'f', -1, 64)
}

// Begin opens a document of the given size with a white background and its
// title, centred.
func (w *Writer) Begin(width, height float64, title string) {
	w.Raw(`<?xml version="1.0" encoding="UTF-8"?>` + "\n")
	w.Raw(`<svg xmlns="http://www.w3.org/2000/svg" width="` + Num(width) + `" height="` + Num(height) +
		`" viewBox="0 0 ` + Num(width) + ` ` + Num(height) + `" font-family="sans-serif" font-size="` +
		strconv.Itoa(FontSize) + `">` + "\n")
	w.Raw(`<title>`)
	w.Esc(title)
	w.Raw("</title>\n")
	w.Raw(`<rect class="background" x="0" y="0" width="` + Num(width) + `" height="` + Num(height) + `" fill="#ffffff"/>` + "\n")
	w.Text(width/2, 28, "middle", TitleSize, "chart-title", title)
}

// End closes the document.
func (w *Writer) End() { w.Raw("</svg>\n") }

// Text writes a <text> element; class may be empty.
func (w *Writer) Text(x, y float64, anchor string, size int, class, s string) {
	w.Raw(`<text`)
	if class != "" {
		w.Raw(` class="` + class + `"`)
	}
	w.Raw(` x="` + Num(x) + `" y="` + Num(y) + `" text-anchor="` + anchor + `"`)
	if size != FontSize {
		w.Raw(` font-size="` + strconv.Itoa(size) + `"`)
	}
	w.Raw(`>`)
	w.Esc(s)
	w.Raw("</text>\n")
}

// Line writes a <line> element.
func (w *Writer) Line(x1, y1, x2, y2 float64, class, stroke string) {
	w.Raw(`<line class="` + class + `" x1="` + Num(x1) + `" y1="` + Num(y1) + `" x2="` + Num(x2) +
		`" y2="` + Num(y2) + `" stroke="` + stroke + `"/>` + "\n")
}

// Truncate shortens s to at most n runes, marking the cut with "…".
func Truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n-1]) + "…"
}

// NiceCeil returns the smallest value of the form {1, 2, 2.5, 5} × 10^k that
// is ≥ x, and 1 for x ≤ 0 (or not finite): an axis end.
func NiceCeil(x float64) float64 {
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
