package population

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"errors"
	"io"
	"math"
	"strconv"
	"strings"

	"github.com/ethox/ethox/apperr"
	"github.com/ethox/ethox/networkfile"
)

// Profile is one respondent (a CSV row) or one built-in synthetic profile.
type Profile struct {
	// Line is the CSV line the row starts on (the header is line 1); 0 for
	// built-in profiles.
	Line int
	// Age in years: the Age column when present and not blank, otherwise
	// derived from AgeGroup (see AgeForGroup).
	Age int
	// Gender is the Gender column as given, trimmed; "" when blank.
	Gender string
	// Fields holds every non-blank column under its header name: float64
	// for numeric columns, string otherwise. Blank cells are absent.
	Fields map[string]any
}

// Column rules for survey CSVs (like testdata/voter_opinion_survey_350.csv)
//
//   - Required columns: "Gender", and "AgeGroup" or "Age" (or both). Header
//     names are matched exactly (case-sensitively) after trimming spaces and a
//     UTF-8 byte-order mark; duplicate or empty header names are errors.
//   - Gender may be blank: the agent then has no Node.Gender and its
//     personality uses the pooled figures, like any gender other than
//     female/male.
//   - Age, when present and not blank, must be a whole number 0..120.
//     Otherwise AgeGroup must be one of "Under 25", "25-40", "40+" (any case),
//     mapped as the prototype did to 22, 32 and 55. A row with neither is an
//     error naming AgeGroup (or Age when there is no AgeGroup column).
//   - Known numeric columns must hold decimal numbers (e.g. "7", "2.5",
//     "1e1") when not blank: Age, TurnoutLikelihood, PoliticalInterest,
//     TrustInstitutions, TrustMedia, MisinfoSusceptibility, IdentitySalience,
//     CivilityPreference, PolicyComplexityTolerance, VolunteerPropensity,
//     DonationPropensity and every IssueSalience_* and Values_* column.
//     Anything else ("high", "NaN", "1e999") is an error naming line and
//     column. Except Age, they are the survey's 0..10 attitude scales: a
//     value outside [0, 10] is an error (`... column "TrustMedia": 11 is out
//     of range [0, 10]`).
//   - Any other column is kept as it is: numeric when every non-blank cell of
//     the column is a finite decimal number, string otherwise (so one column
//     never mixes types). Its numbers must lie in [-2^53, 2^53], as every
//     free-form number of a network (see network.MaxFreeNumber): beyond that
//     float64 no longer holds integers exactly.
//   - Blank cells (after trimming spaces) are left out of Fields. This is the
//     documented default for every column except Gender/AgeGroup/Age above.
//   - "bfi2_raw" is reserved for the generated personality and cannot be a
//     column. A CSV without data rows is an error.
//
// Errors are *apperr.Error of kind BadInput whose message starts with
// `profiles line N, column "X":`, or `profiles line N:` for problems with a
// whole row (e.g. a wrong number of fields).

// Column names with a meaning to the generator.
const (
	colGender   = "Gender"
	colAgeGroup = "AgeGroup"
	colAge      = "Age"
	// profileKeyRaw is the Node.Profile key holding the raw 1..5 facets.
	profileKeyRaw = "bfi2_raw"
)

var knownNumericColumns = map[string]bool{
	colAge: true, "TurnoutLikelihood": true, "PoliticalInterest": true,
	"TrustInstitutions": true, "TrustMedia": true, "MisinfoSusceptibility": true,
	"IdentitySalience": true, "CivilityPreference": true,
	"PolicyComplexityTolerance": true, "VolunteerPropensity": true,
	"DonationPropensity": true,
}

func isKnownNumeric(col string) bool {
	return knownNumericColumns[col] || strings.HasPrefix(col, "IssueSalience_") || strings.HasPrefix(col, "Values_")
}

// AttitudeScale reports whether a profile column is one of the survey's
// 0..10 attitude scales (ScaleMin..ScaleMax): the known numeric columns but
// Age. Simulation prompts label them as such.
func AttitudeScale(col string) bool { return col != colAge && isKnownNumeric(col) }

// Ranges of survey numbers, both ends included.
const (
	ScaleMin, ScaleMax = 0, 10 // the attitude scales (known numeric columns but Age)
	AgeMin, AgeMax     = 0, 120
)

// columnRange returns the range of a numeric column's values and its text.
func columnRange(col string) (lo, hi float64, text string) {
	switch {
	case col == colAge:
		return AgeMin, AgeMax, "[0, 120]"
	case isKnownNumeric(col):
		return ScaleMin, ScaleMax, "[0, 10]"
	}
	return -networkfile.MaxFreeNumber, networkfile.MaxFreeNumber, "[-9007199254740992, 9007199254740992]"
}

// ageGroups maps the survey's age groups (lower-cased) to the age the
// prototype used for them.
var ageGroups = map[string]int{"under 25": 22, "25-40": 32, "40+": 55}

// AgeForGroup returns the age the prototype assigned to an age group:
// "Under 25" → 22, "25-40" → 32, "40+" → 55 (case and surrounding space
// ignored). ok is false for any other label.
func AgeForGroup(group string) (age int, ok bool) {
	age, ok = ageGroups[strings.ToLower(strings.TrimSpace(group))]
	return age, ok
}

func badCell(line int, col, format string, args ...any) error {
	return apperr.New(apperr.BadInput, "profiles line %d, column %q: "+format, append([]any{line, col}, args...)...)
}

// ParseProfiles reads a survey CSV (see the column rules above) and returns
// its rows in file order.
func ParseProfiles(r io.Reader) ([]Profile, error) {
	if r == nil {
		return nil, apperr.New(apperr.BadInput, "profiles: no input")
	}
	// A UTF-8 BOM goes before csv sees it: left in, it makes a quoted first
	// header cell a "bare quote" error.
	br := bufio.NewReader(r)
	if b, err := br.Peek(3); err == nil && string(b) == "\uFEFF" {
		_, _ = br.Discard(3)
	}
	cr := csv.NewReader(br)
	header, err := cr.Read()
	if err != nil {
		if errors.Is(err, io.EOF) {
			return nil, apperr.New(apperr.BadInput, "profiles: empty input (a header line is required)")
		}
		return nil, csvError(err)
	}
	cols := make([]string, len(header))
	colIdx := make(map[string]int, len(header))
	for j, h := range header {
		if j == 0 {
			h = strings.TrimPrefix(h, "\uFEFF")
		}
		h = strings.TrimSpace(h)
		if h == "" {
			return nil, apperr.New(apperr.BadInput, "profiles line 1, column %d: empty column name", j+1)
		}
		if strings.ContainsRune(h, 0) {
			return nil, apperr.New(apperr.BadInput, "profiles line 1, column %d: NUL byte in the column name", j+1)
		}
		if _, dup := colIdx[h]; dup {
			return nil, badCell(1, h, "duplicate column name")
		}
		if h == profileKeyRaw {
			return nil, badCell(1, h, "column name is reserved for the generated personality")
		}
		cols[j] = h
		colIdx[h] = j
	}
	if _, ok := colIdx[colGender]; !ok {
		return nil, badCell(1, colGender, "missing required column")
	}
	iGroup, hasGroup := colIdx[colAgeGroup]
	iAge, hasAge := colIdx[colAge]
	if !hasGroup && !hasAge {
		return nil, badCell(1, colAgeGroup, "missing required column (AgeGroup or Age)")
	}

	type row struct {
		line  int
		cells []string
	}
	var rows []row
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, csvError(err)
		}
		line, _ := cr.FieldPos(0)
		for j := range rec {
			rec[j] = strings.TrimSpace(rec[j])
		}
		rows = append(rows, row{line, rec})
	}
	if len(rows) == 0 {
		return nil, apperr.New(apperr.BadInput, "profiles: no data rows after the header")
	}

	// Column types: known numeric columns are strict, others are numeric
	// only if every non-blank cell is a number.
	numeric := make([]bool, len(cols))
	for j, c := range cols {
		if isKnownNumeric(c) {
			numeric[j] = true
			continue
		}
		numeric[j] = true
		for _, rw := range rows {
			if v := rw.cells[j]; v != "" {
				if _, ok := parseDecimal(v); !ok {
					numeric[j] = false
					break
				}
			}
		}
	}

	type span struct {
		lo, hi float64
		text   string
	}
	ranges := make([]span, len(cols))
	for j, c := range cols {
		lo, hi, text := columnRange(c)
		ranges[j] = span{lo, hi, text}
	}

	out := make([]Profile, len(rows))
	for k, rw := range rows {
		p := Profile{Line: rw.line, Fields: make(map[string]any, len(cols))}
		for j, v := range rw.cells {
			if v == "" {
				continue
			}
			if strings.ContainsRune(v, 0) {
				// PostgreSQL's jsonb (where profiles are stored) has no NUL.
				return nil, badCell(rw.line, cols[j], "NUL byte in the cell")
			}
			if numeric[j] {
				f, ok := parseDecimal(v)
				if !ok {
					return nil, badCell(rw.line, cols[j], "%q is not a number", v)
				}
				if r := ranges[j]; !(f >= r.lo && f <= r.hi) {
					return nil, badCell(rw.line, cols[j], "%s is out of range %s", v, r.text)
				}
				p.Fields[cols[j]] = f
			} else {
				p.Fields[cols[j]] = v
			}
		}
		p.Gender = rw.cells[colIdx[colGender]]
		ageSet := false
		if hasAge && rw.cells[iAge] != "" {
			f := p.Fields[colAge].(float64)
			if f != math.Trunc(f) || f < 0 || f > 120 {
				return nil, badCell(rw.line, colAge, "%q is not a whole number of years in 0..120", rw.cells[iAge])
			}
			p.Age, ageSet = int(f), true
		}
		if !ageSet {
			if !hasGroup {
				return nil, badCell(rw.line, colAge, "blank (required when there is no AgeGroup column)")
			}
			g := rw.cells[iGroup]
			if g == "" {
				return nil, badCell(rw.line, colAgeGroup, "blank (required when Age is absent or blank)")
			}
			age, ok := AgeForGroup(g)
			if !ok {
				return nil, badCell(rw.line, colAgeGroup, "unknown age group %q (want \"Under 25\", \"25-40\" or \"40+\")", g)
			}
			p.Age = age
		}
		out[k] = p
	}
	return out, nil
}

// csvError converts encoding/csv's errors (which carry the line) into
// BadInput errors.
func csvError(err error) error {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		if errors.Is(pe.Err, csv.ErrFieldCount) {
			return apperr.New(apperr.BadInput, "profiles line %d: wrong number of fields", pe.StartLine)
		}
		return apperr.New(apperr.BadInput, "profiles line %d, character %d: %s", pe.Line, pe.Column, pe.Err.Error())
	}
	return apperr.Wrap(apperr.BadInput, err, "profiles: reading input")
}

// parseDecimal accepts plain decimal numbers: an optional sign, digits with
// an optional fraction, and an optional exponent. It rejects what
// strconv.ParseFloat would also accept but a survey cell should not mean a
// number: NaN, Inf, hexadecimal floats, underscores, and values that
// overflow float64.
func parseDecimal(s string) (float64, bool) {
	i := 0
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		i++
	}
	digits := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i, digits = i+1, digits+1
	}
	if i < len(s) && s[i] == '.' {
		i++
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i, digits = i+1, digits+1
		}
	}
	if digits == 0 {
		return 0, false
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		exp := 0
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i, exp = i+1, exp+1
		}
		if exp == 0 {
			return 0, false
		}
	}
	if i != len(s) {
		return 0, false
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsInf(f, 0) {
		return 0, false
	}
	if f == 0 {
		f = 0 // fold -0
	}
	return f, true
}

// readAll reads the whole CSV so that Generate can hash the exact bytes it
// parses.
func readAll(r io.Reader) ([]byte, error) {
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(r); err != nil {
		return nil, apperr.Wrap(apperr.BadInput, err, "profiles: reading input")
	}
	return buf.Bytes(), nil
}
