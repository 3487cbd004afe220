package fakellm

import (
	"bytes"
	"encoding/json"
	"net/http"
	"testing"
	"time"
)

func TestParseFaults(t *testing.T) {
	for _, c := range []struct {
		in   string
		want Faults
		err  bool
	}{
		{"", Faults{}, false},
		{"429=0.1", Faults{RateLimited: 0.1}, false},
		{"429=0.05, 500=0.05,malformed=0.2", Faults{0.05, 0.05, 0.2}, false},
		{"429=0.6,500=0.6", Faults{}, true},
		{"404=0.1", Faults{}, true},
		{"429", Faults{}, true},
		{"500=-1", Faults{}, true},
		{"500=x", Faults{}, true},
	} {
		got, err := ParseFaults(c.in)
		if (err != nil) != c.err || (!c.err && got != c.want) {
			t.Errorf("ParseFaults(%q) = %+v, %v", c.in, got, err)
		}
	}
}

// Each fault answers as a provider would, and is counted.
func TestFaults(t *testing.T) {
	for _, c := range []struct {
		faults Faults
		status int
		valid  bool // the answer's content is valid JSON
		count  func(FaultCounts) int64
	}{
		{Faults{RateLimited: 1}, http.StatusTooManyRequests, false, func(f FaultCounts) int64 { return f.RateLimited }},
		{Faults{ServerError: 1}, http.StatusInternalServerError, false, func(f FaultCounts) int64 { return f.ServerError }},
		{Faults{Malformed: 1}, http.StatusOK, false, func(f FaultCounts) int64 { return f.Malformed }},
		{Faults{}, http.StatusOK, true, func(f FaultCounts) int64 { return 0 }},
	} {
		s := New(time.Millisecond)
		s.SetFaults(c.faults)
		body, _ := json.Marshal(map[string]any{"model": "m", "response_format": map[string]any{"type": "json_object"},
			"messages": []any{map[string]any{"role": "user", "content": "hi"}}})
		resp, err := http.Post(s.BaseURL()+"/chat/completions", "application/json", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		var out struct {
			Choices []struct{ Message struct{ Content string } }
		}
		_ = json.NewDecoder(resp.Body).Decode(&out)
		resp.Body.Close()
		if resp.StatusCode != c.status {
			t.Errorf("%+v: status %d, want %d", c.faults, resp.StatusCode, c.status)
		}
		if c.status == http.StatusOK && json.Valid([]byte(out.Choices[0].Message.Content)) != c.valid {
			t.Errorf("%+v: content %q", c.faults, out.Choices[0].Message.Content)
		}
		if c.status != http.StatusOK || !c.valid {
			if n := c.count(s.FaultCounts()); n != 1 {
				t.Errorf("%+v: counted %d", c.faults, n)
			}
		}
		if c.status == http.StatusTooManyRequests && resp.Header.Get("Retry-After") != "1" {
			t.Errorf("429 without Retry-After")
		}
		s.Close()
	}
}
