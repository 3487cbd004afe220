package svgchart

import (
	"encoding/xml"
	"math"
	"strings"
	"testing"
)

func TestNum(t *testing.T) {
	for _, c := range []struct {
		in   float64
		want string
	}{{0, "0"}, {math.Copysign(0, -1), "0"}, {-0.001, "0"}, {1.005, "1"}, {12.3456, "12.35"}, {-7.5, "-7.5"}, {math.NaN(), "0"}, {math.Inf(1), "0"}} {
		if got := Num(c.in); got != c.want {
			t.Errorf("Num(%v) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestNiceCeil(t *testing.T) {
	for _, c := range []struct{ in, want float64 }{{0, 1}, {-3, 1}, {math.Inf(1), 1}, {math.NaN(), 1}, {0.7, 1}, {1, 1}, {1.2, 2}, {2.2, 2.5}, {3, 5}, {7, 10}, {30, 50}, {0.0021, 0.0025}} {
		if got := NiceCeil(c.in); math.Abs(got-c.want) > 1e-12 {
			t.Errorf("NiceCeil(%v) = %v, want %v", c.in, got, c.want)
		}
	}
}

func TestTruncate(t *testing.T) {
	for _, c := range []struct {
		in   string
		n    int
		want string
	}{{"short", 10, "short"}, {"exactly10!", 10, "exactly10!"}, {"a longer label", 6, "a lon…"}, {"ééééé", 3, "éé…"}} {
		if got := Truncate(c.in, c.n); got != c.want {
			t.Errorf("Truncate(%q, %d) = %q, want %q", c.in, c.n, got, c.want)
		}
	}
}

// Hostile text (an arm or segment name) stays text: the document parses and
// holds no element but the writer's own.
func TestTextIsEscaped(t *testing.T) {
	var w Writer
	hostile := `</text><script>alert(1)</script><text a="`
	w.Begin(100, 50, hostile)
	w.Text(1, 2, "start", FontSize, "", hostile)
	w.Line(0, 0, 1, 1, "axis", "#000")
	w.End()
	dec := xml.NewDecoder(strings.NewReader(string(w.Bytes())))
	texts := 0
	for {
		tok, err := dec.Token()
		if err != nil {
			if err.Error() != "EOF" {
				t.Fatalf("not well-formed: %v\n%s", err, w.Bytes())
			}
			break
		}
		switch el := tok.(type) {
		case xml.StartElement:
			switch el.Name.Local {
			case "svg", "title", "rect", "text", "line":
			default:
				t.Fatalf("element %q in the output", el.Name.Local)
			}
		case xml.CharData:
			if string(el) == hostile {
				texts++
			}
		}
	}
	if texts != 3 { // the title, the centred title text, and the text
		t.Fatalf("hostile text found %d times as text, want 3:\n%s", texts, w.Bytes())
	}
}
