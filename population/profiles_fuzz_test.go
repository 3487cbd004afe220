package population

import (
	"bytes"
	"encoding/csv"
	"errors"
	"io"
	"math"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/ethox/ethox/apperr"
	"github.com/ethox/ethox/internal/fixtures"
)

// FuzzParseProfiles checks that ParseProfiles never panics, that everything
// it accepts keeps the promises of its column rules (checked against an
// independent reading of the same bytes with encoding/csv), and that every
// refusal is a BadInput error whose message names a line (and column) that
// exists in the input, in one of the documented forms.
func FuzzParseProfiles(f *testing.F) {
	f.Add(fixtures.Read(f, fixtures.Survey350))
	seeds := []string{
		// Header only, empty input, blank lines.
		"AgeGroup,Gender,TurnoutLikelihood\n",
		"",
		"\n\n",
		"AgeGroup,Gender\n\n\n40+,Male\n\n",
		// Missing required columns, empty/duplicate/reserved names.
		"AgeGroup,Region\nUnder 25,Urban\n",
		"Gender,Region\nFemale,Urban\n",
		"AgeGroup,,Gender\n40+,x,Male\n",
		" Gender,Gender ,AgeGroup\nMale,Male,40+\n",
		"AgeGroup,Gender,bfi2_raw\n40+,Male,1\n",
		// Wrong number of fields, bad quotes.
		"AgeGroup,Gender,X\nUnder 25,Female,1\n40+,Male\n",
		"AgeGroup,Gender\nUnder 25,\"Fem\"ale\n",
		"AgeGroup,Gender\n\"Under 25,Female\n",
		// Quoted cells: commas, quotes, newlines (a row spanning lines), CRLF.
		"AgeGroup,Gender,Note\r\n\"Under 25\",\"Fe\"\"male\",\"a, b\"\r\n\"40+\",\" Male \",\"line1\nline2\"\r\n25-40,,\"\"\r\n",
		"\"AgeGroup\",\"Gender\",\"Note\"\n\"\n40+\",Male,x\n",
		// BOM: plain, before a quoted header, doubled, alone.
		"\uFEFFAgeGroup,Gender\n40+,Female\n",
		"\uFEFF\"AgeGroup\",\"Gender\"\n\"40+\",\"Female\"\n",
		"\uFEFF\uFEFFGender,Age\nMale,30\n",
		"\uFEFF\nGender,Age\nMale,30\n",
		// Age rules.
		"Gender,Age\nFemale,120\nMale,0\n,-0\nx,1e2\ny,120.0\n",
		"Gender,Age\nFemale,121\n",
		"Gender,Age\nFemale,30.5\n",
		"Gender,Age\nFemale,-1\n",
		"Gender,Age\nFemale,\n",
		"Gender,Age,AgeGroup\nFemale,,under 25\nMale, , 40+ \n",
		"Gender,Age,AgeGroup\nFemale,,18-24\n",
		// Huge numbers, NaN, Inf, hex, underscores, in known and other columns.
		"AgeGroup,Gender,TurnoutLikelihood,Other\n40+,Male,1e308,1e308\n40+,Male,-1.7976931348623157e308,4.9e-324\n",
		"AgeGroup,Gender,TurnoutLikelihood\n40+,Male,1e309\n",
		"AgeGroup,Gender,Values_X\n40+,Male,NaN\n",
		"AgeGroup,Gender,Other\n40+,Male,NaN\n40+,Female,1\n",
		"AgeGroup,Gender,Other\n40+,Male,Inf\n40+,Female,-Infinity\n",
		"AgeGroup,Gender,IssueSalience_Y\n40+,Male,0x1p3\n",
		"AgeGroup,Gender,Other\n40+,Male,1_000\n40+,Male,00012345678901234567890123456789\n",
		"Gender,Age\nMale,99999999999999999999999999999999999999\n",
		"Gender,Age\nMale,1e-400\n",
		// Out of range: the 0..10 scales, Age, free columns beyond 2^53; and the bounds.
		"AgeGroup,Gender,TrustMedia\n40+,Male,11\n",
		"AgeGroup,Gender,IssueSalience_X,Values_Y\n40+,Male,-0.5,10.5\n",
		"AgeGroup,Gender,Other\n40+,Male,9007199254740993\n40+,Male,-1e16\n",
		"AgeGroup,Gender,TrustMedia,Other\n40+,Male,0,9007199254740992\n40+,Male,10,-9007199254740992\n",
		// Odd bytes.
		"AgeGroup,Gender,Note\n40+,Male,\xff\xfe\n40+,Female,a\x00b\n",
		"AgeGroup,Gender\r40+,Male\r",
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		rows, err := ParseProfiles(bytes.NewReader(data))
		if err != nil {
			checkProfilesError(t, data, err)
			return
		}
		checkProfiles(t, data, rows)
	})
}

// independentCSV reads data with encoding/csv as ParseProfiles is documented
// to: the header, then the records with the line each starts on. err is the
// first reading error (records read before it are kept).
type independentCSV struct {
	header  []string
	records [][]string
	lines   []int
	err     error
}

func readIndependent(data []byte) independentCSV {
	var out independentCSV
	// ParseProfiles drops one leading UTF-8 BOM before reading.
	r := csv.NewReader(bytes.NewReader(bytes.TrimPrefix(data, []byte("\uFEFF"))))
	h, err := r.Read()
	if err != nil {
		out.err = err
		return out
	}
	out.header = h
	for {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			out.err = err
			return out
		}
		line, _ := r.FieldPos(0)
		out.records = append(out.records, rec)
		out.lines = append(out.lines, line)
	}
}

// headerNames applies the documented header rules.
func headerNames(h []string) []string {
	names := make([]string, len(h))
	for j, c := range h {
		if j == 0 {
			c = strings.TrimPrefix(c, "\uFEFF")
		}
		names[j] = strings.TrimSpace(c)
	}
	return names
}

func lineCount(data []byte) int { return bytes.Count(data, []byte("\n")) + 1 }

func checkProfiles(t *testing.T, data []byte, rows []Profile) {
	t.Helper()
	ind := readIndependent(data)
	if ind.err != nil {
		t.Fatalf("accepted input that encoding/csv rejects: %v", ind.err)
	}
	if len(rows) == 0 {
		t.Fatal("accepted a CSV without data rows")
	}
	if len(rows) != len(ind.records) {
		t.Fatalf("%d profiles for %d data records", len(rows), len(ind.records))
	}
	names := headerNames(ind.header)
	col := map[string]int{}
	for j, n := range names {
		if n == "" {
			t.Fatalf("accepted an empty column name (column %d)", j+1)
		}
		if _, dup := col[n]; dup {
			t.Fatalf("accepted a duplicate column name %q", n)
		}
		if n == profileKeyRaw {
			t.Fatalf("accepted the reserved column %q", n)
		}
		col[n] = j
	}
	iGender, hasGender := col[colGender]
	iGroup, hasGroup := col[colAgeGroup]
	iAge, hasAge := col[colAge]
	if !hasGender || (!hasGroup && !hasAge) {
		t.Fatalf("accepted a header without Gender and AgeGroup/Age: %q", names)
	}
	maxLine := lineCount(data)
	types := make([]string, len(names)) // "", "float64" or "string" per column
	for k, p := range rows {
		rec := ind.records[k]
		if p.Line != ind.lines[k] {
			t.Fatalf("row %d: Line %d, encoding/csv says the record starts on line %d", k, p.Line, ind.lines[k])
		}
		if p.Line < 2 || p.Line > maxLine || (k > 0 && p.Line <= rows[k-1].Line) {
			t.Fatalf("row %d: Line %d out of order or range (input has %d lines)", k, p.Line, maxLine)
		}
		if p.Fields == nil {
			t.Fatalf("line %d: nil Fields", p.Line)
		}
		if p.Age < 0 || p.Age > 120 {
			t.Fatalf("line %d: age %d outside 0..120", p.Line, p.Age)
		}
		if p.Gender != strings.TrimSpace(rec[iGender]) {
			t.Fatalf("line %d: Gender %q, cell %q", p.Line, p.Gender, rec[iGender])
		}
		if _, bad := p.Fields[profileKeyRaw]; bad {
			t.Fatalf("line %d: Fields holds the reserved key", p.Line)
		}
		nonBlank := 0
		for j, cell := range rec {
			v := strings.TrimSpace(cell)
			got, ok := p.Fields[names[j]]
			if v == "" {
				if ok {
					t.Fatalf("line %d, column %q: blank cell kept as %#v", p.Line, names[j], got)
				}
				continue
			}
			nonBlank++
			if !ok {
				t.Fatalf("line %d, column %q: non-blank cell %q missing from Fields", p.Line, names[j], v)
			}
			switch g := got.(type) {
			case float64:
				if math.IsNaN(g) || math.IsInf(g, 0) || (g == 0 && math.Signbit(g)) {
					t.Fatalf("line %d, column %q: number %v is not finite (or is -0)", p.Line, names[j], g)
				}
				want, perr := strconv.ParseFloat(v, 64)
				if perr != nil || want != g {
					t.Fatalf("line %d, column %q: cell %q stored as %v (strconv: %v, %v)", p.Line, names[j], v, g, want, perr)
				}
				if lo, hi, _ := columnRange(names[j]); !(g >= lo && g <= hi) {
					t.Fatalf("line %d, column %q: accepted %v outside [%v, %v]", p.Line, names[j], g, lo, hi)
				}
				if types[j] == "string" {
					t.Fatalf("column %q mixes numbers and strings", names[j])
				}
				types[j] = "float64"
			case string:
				if g != v {
					t.Fatalf("line %d, column %q: cell %q stored as %q", p.Line, names[j], v, g)
				}
				if isKnownNumeric(names[j]) {
					t.Fatalf("line %d: known numeric column %q holds the string %q", p.Line, names[j], g)
				}
				if types[j] == "float64" {
					t.Fatalf("column %q mixes numbers and strings", names[j])
				}
				types[j] = "string"
			default:
				t.Fatalf("line %d, column %q: value of type %T", p.Line, names[j], got)
			}
		}
		if len(p.Fields) != nonBlank {
			t.Fatalf("line %d: %d fields for %d non-blank cells", p.Line, len(p.Fields), nonBlank)
		}
		if hasAge && strings.TrimSpace(rec[iAge]) != "" {
			a, _ := p.Fields[colAge].(float64)
			if a != math.Trunc(a) || int(a) != p.Age {
				t.Fatalf("line %d: Age cell %q but Age %d", p.Line, rec[iAge], p.Age)
			}
		} else {
			if !hasGroup {
				t.Fatalf("line %d: accepted a blank Age without an AgeGroup column", p.Line)
			}
			want, ok := AgeForGroup(rec[iGroup])
			if !ok || want != p.Age {
				t.Fatalf("line %d: AgeGroup %q (ok %v, %d) but Age %d", p.Line, rec[iGroup], ok, want, p.Age)
			}
		}
	}
}

// The message forms ParseProfiles produces (see its doc comment and csvError).
var (
	reCell    = regexp.MustCompile(`^profiles line (\d+), column ("(?:[^"\\]|\\.)*"): .`)
	reColNum  = regexp.MustCompile(`^profiles line (\d+), column (\d+): .`)
	reCSV     = regexp.MustCompile(`^profiles line (\d+), character (\d+): .`)
	reRow     = regexp.MustCompile(`^profiles line (\d+): .`)
	wholeFile = []string{"profiles: empty input", "profiles: no data rows after the header"}
)

func checkProfilesError(t *testing.T, data []byte, err error) {
	t.Helper()
	if k := apperr.KindOf(err); k != apperr.BadInput {
		t.Fatalf("error kind %v, want BadInput: %v", k, err)
	}
	msg := err.Error()
	if msg == "" {
		t.Fatal("empty error message")
	}
	ind := readIndependent(data)
	maxLine := lineCount(data)
	lineOf := func(s string) int {
		n, convErr := strconv.Atoi(s)
		if convErr != nil || n < 1 || n > maxLine {
			t.Fatalf("message %q names line %s; the input has %d lines", msg, s, maxLine)
		}
		return n
	}
	recordAt := func(n int) []string {
		for k, l := range ind.lines {
			if l == n {
				return ind.records[k]
			}
		}
		t.Fatalf("message %q names line %d, where no record starts (records start on %v)", msg, n, ind.lines)
		return nil
	}
	switch {
	case reCell.MatchString(msg):
		m := reCell.FindStringSubmatch(msg)
		n := lineOf(m[1])
		name, qerr := strconv.Unquote(m[2])
		if qerr != nil {
			t.Fatalf("message %q: column name %s does not unquote: %v", msg, m[2], qerr)
		}
		if ind.header == nil {
			t.Fatalf("message %q names a column, but the input has no header", msg)
		}
		names := headerNames(ind.header)
		inHeader := false
		for _, h := range names {
			inHeader = inHeader || h == name
		}
		if n == 1 {
			// Header problems: the column is in the header, or is a missing required one.
			if !inHeader && name != colGender && name != colAgeGroup {
				t.Fatalf("message %q names a column that is not in the header %q", msg, names)
			}
			return
		}
		if !inHeader {
			t.Fatalf("message %q names a column that is not in the header %q", msg, names)
		}
		if ind.err != nil {
			t.Fatalf("message %q blames a cell, but encoding/csv fails on the input: %v", msg, ind.err)
		}
		recordAt(n)
	case reColNum.MatchString(msg):
		m := reColNum.FindStringSubmatch(msg)
		if lineOf(m[1]) != 1 {
			t.Fatalf("message %q: a numbered column outside the header", msg)
		}
		j, _ := strconv.Atoi(m[2])
		if ind.header == nil || j < 1 || j > len(ind.header) {
			t.Fatalf("message %q names column %d of a %d-column header", msg, j, len(ind.header))
		}
	case reCSV.MatchString(msg), reRow.MatchString(msg):
		var m []string
		if m = reCSV.FindStringSubmatch(msg); m == nil {
			m = reRow.FindStringSubmatch(msg)
		}
		n := lineOf(m[1])
		var pe *csv.ParseError
		if !errors.As(ind.err, &pe) {
			t.Fatalf("message %q reports a CSV syntax error, but encoding/csv reads the input (err %v)", msg, ind.err)
		}
		if n != pe.Line && n != pe.StartLine {
			t.Fatalf("message %q names line %d, encoding/csv fails at line %d (record from line %d): %v", msg, n, pe.Line, pe.StartLine, pe)
		}
	default:
		known := false
		for _, w := range wholeFile {
			known = known || strings.HasPrefix(msg, w)
		}
		if !known {
			t.Fatalf("message %q is in none of the documented forms", msg)
		}
		switch {
		case strings.HasPrefix(msg, "profiles: empty input"):
			if ind.header != nil || !errors.Is(ind.err, io.EOF) {
				t.Fatalf("message %q, but encoding/csv reads a header %q (err %v)", msg, ind.header, ind.err)
			}
		case strings.HasPrefix(msg, "profiles: no data rows"):
			if ind.err != nil || len(ind.records) != 0 {
				t.Fatalf("message %q, but encoding/csv reads %d records (err %v)", msg, len(ind.records), ind.err)
			}
		}
	}
}
