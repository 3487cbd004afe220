package main

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/joho/godotenv"

	"github.com/ethox/ethox/config"
)

func readRoot(p string) ([]byte, error) { return os.ReadFile(filepath.Join("..", "..", p)) }

// The README table and the example files are what `go generate ./...` writes
// (CI's drift check says the same after running it).
func TestGeneratedFilesCurrent(t *testing.T) {
	files, err := generate(readRoot)
	if err != nil {
		t.Fatal(err)
	}
	for p, want := range files {
		got, err := readRoot(p)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s is out of date: run go generate ./... (or go run ./internal/configdoc)", p)
		}
	}
}

// Every setting is in each file once, and nothing else is.
func TestEverySettingDocumented(t *testing.T) {
	files, err := generate(readRoot)
	if err != nil {
		t.Fatal(err)
	}
	readme := string(files[readmePath])
	readme = readme[strings.Index(readme, beginMarker):strings.Index(readme, endMarker)]
	var names []string
	for _, s := range config.Settings {
		names = append(names, s.Name)
	}
	rows := regexp.MustCompile("(?m)^\\| `([A-Z0-9_]+)` \\|").FindAllStringSubmatch(readme, -1)
	if got := column(rows); !slices.Equal(got, names) {
		t.Errorf("README rows %v, want %v", got, names)
	}
	for _, p := range []string{envPath, prodEnvPath} {
		lines := regexp.MustCompile(`(?m)^([A-Z0-9_]+)=`).FindAllStringSubmatch(string(files[p]), -1)
		if got := column(lines); !slices.Equal(got, names) {
			t.Errorf("%s sets %v, want %v", p, got, names)
		}
	}
}

func column(m [][]string) []string {
	var out []string
	for _, r := range m {
		out = append(out, r[1])
	}
	return out
}

// .env.example copied to .env changes no default; the production example is
// a valid production configuration with its own choices.
func TestExamplesLoad(t *testing.T) {
	want, err := config.FromEnv(func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	got, err := config.FromEnv(parseEnv(t, envExample()))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf(".env.example gives\n%+v\nwant the defaults\n%+v", got, want)
	}

	prod, err := config.FromEnv(parseEnv(t, prodEnvExample()))
	if err != nil {
		t.Fatal(err)
	}
	if !prod.Production() || !prod.CORSExplicit || prod.EnableIDE || prod.DemoData || prod.RateRuns != 6 ||
		prod.Host != "127.0.0.1" || len(prod.TrustProxy) != 1 || prod.TrustProxy[0].String() != "127.0.0.2/32" ||
		!slices.Equal(prod.LLM.AllowedModels, []string{"gpt-4.1-mini", "gpt-4.1-nano"}) ||
		!strings.HasPrefix(prod.DatabaseURL, "postgres://") || len(prod.APITokens) != 0 {
		t.Errorf("deploy/ethox.env.example gives %+v", prod)
	}
}

func parseEnv(t *testing.T, b []byte) func(string) string {
	t.Helper()
	m, err := godotenv.UnmarshalBytes(b)
	if err != nil {
		t.Fatal(err)
	}
	return func(k string) string { return m[k] }
}

func TestSpliceREADME(t *testing.T) {
	got, err := spliceREADME([]byte("intro\n" + beginMarker + "\nold\n" + endMarker + "\noutro\n"))
	if err != nil {
		t.Fatal(err)
	}
	if s := string(got); !strings.HasPrefix(s, "intro\n"+beginMarker+"\n<!-- Generated") ||
		!strings.HasSuffix(s, "\n\n"+endMarker+"\noutro\n") || strings.Contains(s, "old") {
		t.Errorf("%s", got)
	}
	for _, bad := range []string{"no markers", endMarker + "\n" + beginMarker + "\n", beginMarker + "\n" + beginMarker + "\n" + endMarker} {
		if _, err := spliceREADME([]byte(bad)); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
