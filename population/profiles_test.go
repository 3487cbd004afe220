package population

import (
	"math"
	"strings"
	"testing"

	"github.com/ethox/ethox/apperr"
	"github.com/ethox/ethox/internal/fixtures"
)

func readFixture(t *testing.T) []byte {
	t.Helper()
	return fixtures.Read(t, fixtures.Survey350)
}

func TestParseProfilesFixture(t *testing.T) {
	rows, err := ParseProfiles(strings.NewReader(string(readFixture(t))))
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 350 {
		t.Fatalf("%d rows, want 350", len(rows))
	}
	// First data row: 40+,Female,Rural,SomeCollege,Med,PopulistSkeptics,8,6,3,3,10,3,10,0,8,6,8,CableNews,6,8,2,3,,8,4,Economy
	p := rows[0]
	if p.Line != 2 || p.Age != 55 || p.Gender != "Female" {
		t.Errorf("row 0: line %d age %d gender %q", p.Line, p.Age, p.Gender)
	}
	want := map[string]any{
		"AgeGroup": "40+", "Gender": "Female", "Region": "Rural", "Education": "SomeCollege",
		"IncomeBand": "Med", "Archetype": "PopulistSkeptics", "TurnoutLikelihood": 8.0,
		"IssueSalience_Climate": 0.0, "MediaDiet": "CableNews", "DonationPropensity": 4.0,
		"IssuePriority_Top1": "Economy",
	}
	for k, v := range want {
		if p.Fields[k] != v {
			t.Errorf("row 0 %s = %#v, want %#v", k, p.Fields[k], v)
		}
	}
	if _, ok := p.Fields["ContactPreference"]; ok {
		t.Error("blank ContactPreference should be absent")
	}
	if len(p.Fields) != 25 {
		t.Errorf("row 0 has %d fields, want 25 (26 columns, one blank)", len(p.Fields))
	}
	ages := map[string]int{}
	for _, r := range rows {
		ages[r.Fields["AgeGroup"].(string)] = r.Age
		if _, ok := r.Fields["VolunteerPropensity"].(float64); !ok {
			t.Fatalf("line %d: VolunteerPropensity is %T", r.Line, r.Fields["VolunteerPropensity"])
		}
	}
	if ages["Under 25"] != 22 || ages["25-40"] != 32 || ages["40+"] != 55 {
		t.Errorf("age groups map to %v", ages)
	}
}

func TestParseProfilesColumns(t *testing.T) {
	csv := "\uFEFFGender , AgeGroup,Age,Score,Mixed,Note,Values_Care\n" +
		"female,Under 25,,1.5,3,hello,\n" +
		"Male,40+,47,-2e1,n/a,,7\n" +
		",25-40,30,,4,\"a, b\",0\n" +
		"Other,,61,3,,x,1\n"
	rows, err := ParseProfiles(strings.NewReader(csv))
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 4 {
		t.Fatalf("%d rows", len(rows))
	}
	checks := []struct {
		line   int
		age    int
		gender string
		fields map[string]any
	}{
		{2, 22, "female", map[string]any{"Gender": "female", "AgeGroup": "Under 25", "Score": 1.5, "Mixed": "3", "Note": "hello"}},
		{3, 47, "Male", map[string]any{"Gender": "Male", "AgeGroup": "40+", "Age": 47.0, "Score": -20.0, "Mixed": "n/a", "Values_Care": 7.0}},
		{4, 30, "", map[string]any{"AgeGroup": "25-40", "Age": 30.0, "Mixed": "4", "Note": "a, b", "Values_Care": 0.0}},
		{5, 61, "Other", map[string]any{"Gender": "Other", "Age": 61.0, "Score": 3.0, "Note": "x", "Values_Care": 1.0}},
	}
	for i, c := range checks {
		p := rows[i]
		if p.Line != c.line || p.Age != c.age || p.Gender != c.gender {
			t.Errorf("row %d: line %d age %d gender %q, want %d %d %q", i, p.Line, p.Age, p.Gender, c.line, c.age, c.gender)
		}
		if len(p.Fields) != len(c.fields) {
			t.Errorf("row %d: fields %v, want %v", i, p.Fields, c.fields)
		}
		for k, v := range c.fields {
			if p.Fields[k] != v {
				t.Errorf("row %d: %s = %#v, want %#v", i, k, p.Fields[k], v)
			}
		}
	}
}

// Spreadsheets save "UTF-8 with BOM" with every field quoted.
func TestParseProfilesBOMBeforeQuotedHeader(t *testing.T) {
	rows, err := ParseProfiles(strings.NewReader("\uFEFF\"AgeGroup\",\"Gender\"\n\"40+\",\"Female\"\n"))
	if err != nil || len(rows) != 1 || rows[0].Gender != "Female" || rows[0].Age == 0 {
		t.Fatalf("%+v %v", rows, err)
	}
}

func TestParseProfilesErrors(t *testing.T) {
	const hdr = "AgeGroup,Gender,TurnoutLikelihood\n"
	cases := []struct {
		name, csv string
		want      []string // substrings of the message
	}{
		{"missing Gender", "AgeGroup,Region\nUnder 25,Urban\n", []string{"line 1", `column "Gender"`, "missing required column"}},
		{"missing AgeGroup and Age", "Gender,Region\nFemale,Urban\n", []string{"line 1", `column "AgeGroup"`, "missing required column"}},
		{"bad number", hdr + "Under 25,Female,7\n40+,Male,high\n", []string{"line 3", `column "TurnoutLikelihood"`, `"high" is not a number`}},
		{"NaN", hdr + "Under 25,Female,NaN\n", []string{"line 2", `column "TurnoutLikelihood"`, "not a number"}},
		{"overflow", hdr + "Under 25,Female,1e999\n", []string{"line 2", `column "TurnoutLikelihood"`, "not a number"}},
		{"bad IssueSalience", "AgeGroup,Gender,IssueSalience_Economy\n40+,Male,ten\n", []string{"line 2", `column "IssueSalience_Economy"`}},
		{"blank AgeGroup", hdr + "Under 25,Female,1\n,Male,2\n", []string{"line 3", `column "AgeGroup"`, "blank"}},
		{"blank Age without AgeGroup", "Age,Gender\n30,Female\n,Male\n", []string{"line 3", `column "Age"`, "blank"}},
		{"blank Age and AgeGroup", "Age,AgeGroup,Gender\n30,,Female\n,,Male\n", []string{"line 3", `column "AgeGroup"`, "blank"}},
		{"unknown age group", hdr + "18-24,Female,1\n", []string{"line 2", `column "AgeGroup"`, `unknown age group "18-24"`}},
		{"bad Age", "Age,Gender\n30.5,Female\n", []string{"line 2", `column "Age"`, "whole number"}},
		{"negative Age", "Age,Gender\n-3,Female\n", []string{"line 2", `column "Age"`}},
		{"Age not a number", "Age,Gender\nthirty,Female\n", []string{"line 2", `column "Age"`, "not a number"}},
		{"wrong field count", hdr + "Under 25,Female,1\n40+,Male\n", []string{"line 3", "wrong number of fields"}},
		{"bad quote", hdr + "Under 25,\"Fem\"ale,1\n", []string{"line 2"}},
		{"NUL byte in a cell", hdr + "Under 25,Fe\x00male,1\n", []string{"line 2", `column "Gender"`, "NUL byte"}},
		{"duplicate column", "AgeGroup,Gender,Gender\n40+,Male,Male\n", []string{"line 1", `column "Gender"`, "duplicate"}},
		{"empty column name", "AgeGroup,,Gender\n40+,x,Male\n", []string{"line 1", "column 2", "empty column name"}},
		{"reserved column", "AgeGroup,Gender,bfi2_raw\n40+,Male,1\n", []string{"line 1", `column "bfi2_raw"`, "reserved"}},
		{"empty input", "", []string{"empty input"}},
		{"header only", hdr, []string{"no data rows"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := ParseProfiles(strings.NewReader(c.csv))
			if err == nil {
				t.Fatal("no error")
			}
			if apperr.KindOf(err) != apperr.BadInput {
				t.Errorf("kind %v, want BadInput", apperr.KindOf(err))
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, "profiles") {
				t.Errorf("message %q does not start with \"profiles\"", msg)
			}
			for _, w := range c.want {
				if !strings.Contains(msg, w) {
					t.Errorf("message %q does not contain %q", msg, w)
				}
			}
		})
	}
}

func TestParseDecimal(t *testing.T) {
	good := map[string]float64{"0": 0, "-0": 0, "7": 7, "+3.5": 3.5, ".5": 0.5, "5.": 5, "2e3": 2000, "1E-2": 0.01}
	for s, want := range good {
		if got, ok := parseDecimal(s); !ok || got != want || math.Signbit(got) {
			t.Errorf("parseDecimal(%q) = %v, %v; want %v", s, got, ok, want)
		}
	}
	for _, s := range []string{"", "-", ".", "e3", "1e", "1.2.3", "NaN", "Inf", "0x10", "1_000", "1e400", " 1", "1,5"} {
		if _, ok := parseDecimal(s); ok {
			t.Errorf("parseDecimal(%q) accepted", s)
		}
	}
}

// TestBuiltinMarginals checks 20,000 built-in profiles against the shares
// documented in builtin.go (±0.015, about 4 standard errors of a share).
func TestBuiltinMarginals(t *testing.T) {
	const n = 20_000
	rng := newRand(11, streamProfiles)
	counts := map[string]map[string]int{}
	for range n {
		p := builtinProfile(rng)
		if want, _ := AgeForGroup(p.Fields["AgeGroup"].(string)); p.Age != want {
			t.Fatalf("age %d for group %v", p.Age, p.Fields["AgeGroup"])
		}
		for _, col := range []string{"Gender", "Region", "Education", "IncomeBand", "Archetype", "AgeGroup", "ContactPreference"} {
			v, _ := p.Fields[col].(string)
			if counts[col] == nil {
				counts[col] = map[string]int{}
			}
			counts[col][v]++
		}
		for _, s := range scaleLabels {
			v := p.Fields[s].(float64)
			if v < 0 || v > 10 || v != math.Trunc(v) {
				t.Fatalf("%s = %v", s, v)
			}
		}
		top := p.Fields["IssuePriority_Top1"].(string)
		topV := p.Fields["IssueSalience_"+top].(float64)
		for _, is := range issues {
			if p.Fields[scaleLabels[is.scale]].(float64) > topV {
				t.Fatalf("IssuePriority_Top1 %s is not the most salient issue: %v", top, p.Fields)
			}
		}
	}
	check := func(col string, cats []category) {
		for _, c := range cats {
			got := float64(counts[col][c.value]) / n
			if math.Abs(got-c.share) > 0.015 {
				t.Errorf("%s %q: share %.3f, documented %.2f", col, c.value, got, c.share)
			}
		}
	}
	check("Gender", builtinGender)
	check("Region", builtinRegion)
	check("Education", builtinEduc)
	check("IncomeBand", builtinIncome)
	check("Archetype", builtinArch)
	check("ContactPreference", builtinContact)
	check("AgeGroup", []category{{"Under 25", 0.259}, {"25-40", 0.384}, {"40+", 0.357}})
}
