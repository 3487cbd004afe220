package runmetrics

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"math"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// svgInfo is what the tests extract from a rendered chart.
type svgInfo struct {
	root     xml.StartElement
	title    string
	texts    []string            // character data of every <text>
	classes  map[string]int      // class attribute -> element count
	attrs    map[string][]string // "class/attr" -> values in document order
	procInst bool
}

func attr(se xml.StartElement, name string) (string, bool) {
	for _, a := range se.Attr {
		if a.Name.Local == name {
			return a.Value, true
		}
	}
	return "", false
}

// parseSVG decodes the whole document until EOF, failing on any XML error.
func parseSVG(t *testing.T, doc []byte) svgInfo {
	t.Helper()
	info := svgInfo{classes: map[string]int{}, attrs: map[string][]string{}}
	dec := xml.NewDecoder(bytes.NewReader(doc))
	dec.Strict = true
	var stack []string
	depth := 0
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("invalid XML: %v\n%s", err, doc)
		}
		switch tok := tok.(type) {
		case xml.ProcInst:
			if tok.Target == "xml" {
				info.procInst = true
			}
		case xml.StartElement:
			if depth == 0 {
				info.root = tok.Copy()
			}
			depth++
			stack = append(stack, tok.Name.Local)
			if class, ok := attr(tok, "class"); ok {
				for _, c := range strings.Fields(class) {
					info.classes[c]++
					for _, a := range tok.Attr {
						if strings.HasPrefix(a.Name.Local, "data-") {
							k := c + "/" + a.Name.Local
							info.attrs[k] = append(info.attrs[k], a.Value)
						}
					}
				}
			}
		case xml.EndElement:
			depth--
			stack = stack[:len(stack)-1]
		case xml.CharData:
			if len(stack) == 0 {
				continue
			}
			switch stack[len(stack)-1] {
			case "title":
				if len(stack) == 2 { // the document <title>
					info.title += string(tok)
				}
			case "text":
				info.texts = append(info.texts, string(tok))
			}
		}
	}
	if depth != 0 {
		t.Fatalf("unbalanced document")
	}
	return info
}

func svgMetrics() *Metrics {
	return &Metrics{
		FinalRound: 2,
		AgentCount: 4,
		Rounds: []RoundStats{
			{Round: 0, N: 4,
				Care:    &Distribution{Histogram: [11]int{0, 1, 0, 0, 0, 2, 0, 0, 0, 0, 1}},
				Support: &Distribution{Histogram: [11]int{1, 0, 0, 0, 0, 3, 0, 0, 0, 0, 0}}},
			{Round: 1, N: 0, Failed: 4}, // no data
			{Round: 2, N: 2,
				Care:    &Distribution{Histogram: [11]int{0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1}},
				Support: &Distribution{Histogram: [11]int{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2}}},
		},
		Segments: []Segment{
			{Key: "cluster", Values: []SegmentValue{
				{Value: "0", Count: 2, MeanSupportShift: fp(1.5)},
				{Value: "1", Count: 1, MeanSupportShift: fp(-2.25)},
				{Value: "2", Count: 1}, // null shift: no bar
			}},
			{Key: "seg", Values: []SegmentValue{
				{Value: `<b>&"x"`, Count: 3, MeanSupportShift: fp(0)},
			}},
		},
	}
}

func TestChart(t *testing.T) {
	full := svgMetrics()
	noShift := &Metrics{Segments: []Segment{{Key: "k", Values: []SegmentValue{{Value: "v", Count: 1}}}}}
	tests := []struct {
		name      string
		m         *Metrics
		chart     string
		class     string   // element class to count
		attr      string   // data attribute of those elements
		want      []string // expected attribute values, in order
		wantText  string   // a <text> that must be present ("" = none)
		wantTitle string
	}{
		{"support", full, "support-by-round", "series", "data-round", []string{"0", "1", "2"}, "Support (-5..5)", "Support distribution by round"},
		{"care", full, "care-by-round", "series", "data-round", []string{"0", "1", "2"}, "Care (0..10)", "Care distribution by round"},
		{"shift", full, "support-shift-by-segment", "bar", "data-segment",
			[]string{"cluster=0", "cluster=1", `seg=<b>&"x"`}, `seg=<b>&"x"`, "Mean support shift by segment"},
		{"support empty", &Metrics{}, "support-by-round", "series", "data-round", nil, "no rounds", "Support distribution by round"},
		{"care empty", &Metrics{}, "care-by-round", "series", "data-round", nil, "no rounds", "Care distribution by round"},
		{"shift empty", &Metrics{}, "support-shift-by-segment", "bar", "data-segment", nil, "no segments", "Mean support shift by segment"},
		{"shift nil metrics", nil, "support-shift-by-segment", "bar", "data-segment", nil, "no segments", "Mean support shift by segment"},
		{"shift all null", noShift, "support-shift-by-segment", "bar", "data-segment", nil, "no segment shifts", "Mean support shift by segment"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			doc, ok := Chart(tc.m, tc.chart)
			if !ok {
				t.Fatalf("Chart(%q) not ok", tc.chart)
			}
			if !bytes.HasPrefix(doc, []byte(`<?xml version="1.0" encoding="UTF-8"?>`)) {
				t.Errorf("missing XML declaration")
			}
			info := parseSVG(t, doc)
			if !info.procInst {
				t.Errorf("no xml processing instruction")
			}
			if info.root.Name.Local != "svg" || info.root.Name.Space != "http://www.w3.org/2000/svg" {
				t.Errorf("root = %v", info.root.Name)
			}
			for _, a := range []string{"width", "height", "viewBox"} {
				if v, ok := attr(info.root, a); !ok || v == "" {
					t.Errorf("root has no %s", a)
				}
			}
			if info.title != tc.wantTitle {
				t.Errorf("title = %q, want %q", info.title, tc.wantTitle)
			}
			if info.classes["legend"] != 1 {
				t.Errorf("legend groups = %d, want 1", info.classes["legend"])
			}
			if info.classes["x-label"] != 1 || info.classes["y-label"] != 1 {
				t.Errorf("axis labels: x=%d y=%d", info.classes["x-label"], info.classes["y-label"])
			}
			if got := info.classes[tc.class]; got != len(tc.want) {
				t.Errorf("%d elements of class %q, want %d", got, tc.class, len(tc.want))
			}
			if got := info.attrs[tc.class+"/"+tc.attr]; !reflect.DeepEqual(got, tc.want) {
				t.Errorf("%s = %q, want %q", tc.attr, got, tc.want)
			}
			if tc.wantText != "" && !contains(info.texts, tc.wantText) {
				t.Errorf("no text %q in %q", tc.wantText, info.texts)
			}
			again, _ := Chart(tc.m, tc.chart)
			if !bytes.Equal(doc, again) {
				t.Errorf("output not deterministic")
			}
		})
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func TestChartTicks(t *testing.T) {
	for _, tc := range []struct {
		chart string
		lo    int
	}{{"support-by-round", -5}, {"care-by-round", 0}} {
		doc, _ := Chart(svgMetrics(), tc.chart)
		info := parseSVG(t, doc)
		for v := tc.lo; v <= tc.lo+10; v++ {
			if !contains(info.texts, strconv.Itoa(v)) {
				t.Errorf("%s: no x tick %d", tc.chart, v)
			}
		}
	}
}

func TestChartEscaping(t *testing.T) {
	doc, _ := Chart(svgMetrics(), "support-shift-by-segment")
	s := string(doc)
	if strings.Contains(s, "<b>") || strings.Contains(s, `&"x"`) {
		t.Errorf("segment value not escaped:\n%s", s)
	}
	if !strings.Contains(s, `data-segment="seg=&lt;b&gt;&amp;&#34;x&#34;"`) {
		t.Errorf("escaped data-segment attribute not found:\n%s", s)
	}
	// Characters invalid in XML and newlines in user data must not break
	// the document.
	m := &Metrics{Segments: []Segment{{Key: "k\n", Values: []SegmentValue{
		{Value: "a\x00b]]>\t'", Count: 1, MeanSupportShift: fp(-1)}}}}}
	doc, _ = Chart(m, "support-shift-by-segment")
	info := parseSVG(t, doc)
	if info.classes["bar"] != 1 {
		t.Errorf("bars = %d, want 1", info.classes["bar"])
	}
}

func TestChartUnknown(t *testing.T) {
	for _, name := range []string{"", "nope", "Support-By-Round"} {
		if svg, ok := Chart(svgMetrics(), name); ok || svg != nil {
			t.Errorf("Chart(%q) = %d bytes, %v; want nil, false", name, len(svg), ok)
		}
	}
	for _, name := range ChartNames {
		if _, ok := Chart(&Metrics{}, name); !ok {
			t.Errorf("ChartNames entry %q not rendered", name)
		}
	}
}

// TestChartShiftGeometry checks that positive bars start at the zero line
// and negative bars end there.
func TestChartShiftGeometry(t *testing.T) {
	doc, _ := Chart(svgMetrics(), "support-shift-by-segment")
	dec := xml.NewDecoder(bytes.NewReader(doc))
	zero := ""
	type bar struct{ x, w, v string }
	var bars []bar
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		se, ok := tok.(xml.StartElement)
		if !ok {
			continue
		}
		c, _ := attr(se, "class")
		switch c {
		case "zero-line":
			zero, _ = attr(se, "x1")
		case "bar":
			x, _ := attr(se, "x")
			w, _ := attr(se, "width")
			v, _ := attr(se, "data-value")
			bars = append(bars, bar{x, w, v})
		}
	}
	z, _ := strconv.ParseFloat(zero, 64)
	for _, b := range bars {
		x, _ := strconv.ParseFloat(b.x, 64)
		w, _ := strconv.ParseFloat(b.w, 64)
		v, _ := strconv.ParseFloat(b.v, 64)
		if w < 0 {
			t.Errorf("negative width %v", w)
		}
		switch {
		case v >= 0 && math.Abs(x-z) > 0.02:
			t.Errorf("bar %v starts at %v, zero line at %v", v, x, z)
		case v < 0 && (math.Abs(x+w-z) > 0.02 || w == 0):
			t.Errorf("bar %v ends at %v, zero line at %v", v, x+w, z)
		}
	}
	if len(bars) != 3 {
		t.Errorf("%d bars, want 3", len(bars))
	}
}
