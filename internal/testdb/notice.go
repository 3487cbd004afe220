package testdb

import (
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// skipNotice is the text printed when the PostgreSQL half is skipped.
func skipNotice(base string, err error) string {
	bar := strings.Repeat("=", 78)
	return bar + "\n" +
		"ethox tests: PostgreSQL SKIPPED, the database tests ran on SQLite only.\n" +
		"  TEST_DATABASE_URL " + redact(base) + ":\n" +
		"    " + strings.ReplaceAll(strings.TrimSpace(err.Error()), "\n", "\n    ") + "\n" +
		"  To run the PostgreSQL half too: start PostgreSQL there (or point TEST_DATABASE_URL\n" +
		"  at a server where the user may CREATE DATABASE), then go test -count=1 ./...\n" +
		"  (cached results are not re-run). ETHOX_REQUIRE_POSTGRES=1 (and CI=true) make an\n" +
		"  unreachable PostgreSQL fail the tests; TEST_DATABASE_URL=none skips it silently.\n" +
		bar + "\n"
}

// requiredBy names the setting that makes PostgreSQL required.
func requiredBy() string {
	if v := os.Getenv("ETHOX_REQUIRE_POSTGRES"); v != "" {
		return "ETHOX_REQUIRE_POSTGRES=" + v
	}
	return "CI=" + os.Getenv("CI") + "; ETHOX_REQUIRE_POSTGRES=0 runs SQLite only"
}

// notice prints msg where a developer sees it. A test binary's own output is
// part of the package's output, which `go test ./...` (package list mode,
// without -v) shows only for a failing package: for a passing one it prints
// the "ok" line alone. So, besides the binary's stderr (seen with -v, on
// failure, or when go test streams it), the notice goes to the stderr of the
// go command that runs this binary, once per go command, where it can be
// reached (Linux: /proc/<ppid>/fd/2), else to the terminal (/dev/tty).
func notice(msg string) {
	fmt.Fprint(os.Stderr, msg)
	if flag.Parsed() && testing.Verbose() {
		return // go test shows the binary's output
	}
	ppid := os.Getppid()
	parent := fmt.Sprintf("/proc/%d/fd/2", ppid)
	own, err1 := os.Stderr.Stat()
	theirs, err2 := os.Stat(parent)
	if err1 == nil && err2 == nil && os.SameFile(own, theirs) {
		return // the binary writes to the go command's stderr already
	}
	targets := []string{"/dev/tty"}
	if err2 == nil && (!theirs.Mode().IsRegular() || appendOnly(ppid)) {
		// A file the go command writes without O_APPEND is left alone: the go
		// command's next write, at its own offset, would overwrite the notice.
		targets = []string{parent, "/dev/tty"}
	}
	if !firstInCommand(ppid) {
		return
	}
	for _, path := range targets {
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			continue
		}
		_, err = io.WriteString(f, msg)
		f.Close()
		if err == nil {
			return
		}
	}
}

// appendOnly reports whether the go command's stderr is open with O_APPEND.
func appendOnly(ppid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/fdinfo/2", ppid))
	if err != nil {
		return false
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "flags:"); ok {
			flags, err := strconv.ParseUint(strings.TrimSpace(v), 8, 64)
			return err == nil && flags&0o2000 != 0 // O_APPEND on Linux
		}
	}
	return false
}

// firstInCommand reports whether no other test binary of the go command with
// process id ppid has printed the notice: go test runs the packages' binaries
// side by side, and one notice is enough. A marker file per go command (its
// pid and, on Linux, start time) in the temp dir records it; markers older
// than a day are removed.
func firstInCommand(ppid int) bool {
	dir := filepath.Join(os.TempDir(), "ethox-testdb-notices")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return true
	}
	if entries, err := os.ReadDir(dir); err == nil {
		for _, e := range entries {
			if info, err := e.Info(); err == nil && time.Since(info.ModTime()) > 24*time.Hour {
				os.Remove(filepath.Join(dir, e.Name()))
			}
		}
	}
	name := strconv.Itoa(ppid)
	if stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", ppid)); err == nil {
		// Field 22, the start time, follows the command name in parentheses.
		if i := strings.LastIndexByte(string(stat), ')'); i >= 0 {
			if f := strings.Fields(string(stat[i+1:])); len(f) > 19 {
				name += "-" + f[19]
			}
		}
	}
	marker := filepath.Join(dir, name)
	if !strings.Contains(name, "-") { // no start time to tell a go command of the same pid long ago
		if info, err := os.Stat(marker); err == nil && time.Since(info.ModTime()) > time.Hour {
			os.Remove(marker)
		}
	}
	f, err := os.OpenFile(marker, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return !os.IsExist(err)
	}
	f.Close()
	return true
}
