package testdb

import (
	"errors"
	"strings"
	"testing"
)

func TestRequired(t *testing.T) {
	for _, c := range []struct {
		ci, require string
		want        bool
	}{
		{"", "", false},
		{"true", "", true},
		{"1", "", true},
		{"false", "", false},
		{"true", "0", false},
		{"", "1", true},
		{"", "yes please", true}, // not a false value
		{"true", "false", false},
	} {
		t.Setenv("CI", c.ci)
		t.Setenv("ETHOX_REQUIRE_POSTGRES", c.require)
		if got := Required(); got != c.want {
			t.Errorf("CI=%q ETHOX_REQUIRE_POSTGRES=%q: Required() = %v", c.ci, c.require, got)
		}
	}
}

func TestSkipNotice(t *testing.T) {
	msg := skipNotice("postgres://u:secret@db:5432/x", errors.New("dial: refused\nagain"))
	for _, want := range []string{"PostgreSQL SKIPPED", "postgres://u:xxxxx@db:5432/x", "    dial: refused\n    again", "ETHOX_REQUIRE_POSTGRES=1", "TEST_DATABASE_URL=none"} {
		if !strings.Contains(msg, want) {
			t.Errorf("notice lacks %q:\n%s", want, msg)
		}
	}
	if strings.Contains(msg, "secret") {
		t.Errorf("notice shows the password:\n%s", msg)
	}
	if got := redact("host=db password=secret"); strings.Contains(got, "secret") {
		t.Errorf("redact(key=value) = %q", got)
	}
}

// One notice per go command: the first binary prints it, the others do not.
func TestFirstInCommand(t *testing.T) {
	t.Setenv("TMPDIR", t.TempDir())
	const pid = 1 << 30 // no such process: the marker is named by the pid alone
	if !firstInCommand(pid) {
		t.Fatal("first call: false")
	}
	if firstInCommand(pid) {
		t.Fatal("second call: true")
	}
	if !firstInCommand(pid + 1) {
		t.Fatal("another command: false")
	}
}
