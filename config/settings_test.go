package config

import (
	"errors"
	"go/ast"
	goparser "go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Every setting is described once, completely, and its defaults parse as its type.
func TestSettingsTable(t *testing.T) {
	name := regexp.MustCompile(`^[A-Z][A-Z0-9_]*$`)
	seen := map[string]bool{}
	groups := map[Group]int{}
	for _, s := range Settings {
		if !name.MatchString(s.Name) {
			t.Errorf("%q: not an environment variable name", s.Name)
		}
		if seen[s.Name] {
			t.Errorf("%s is in Settings twice", s.Name)
		}
		seen[s.Name] = true
		if !slices.Contains(Groups, s.Group) {
			t.Errorf("%s: group %q is not in Groups", s.Name, s.Group)
		}
		groups[s.Group]++
		if s.Doc == "" || strings.Contains(s.Doc, "\n") || strings.HasSuffix(s.Doc, ".") {
			t.Errorf("%s: want a one-line description without a final period, got %q", s.Name, s.Doc)
		}
		if s.ProdDefault != "" && s.ProdDefault == s.Default {
			t.Errorf("%s: ProdDefault repeats Default", s.Name)
		}
		if s.ProdExample != "" && s.ProdExample == s.DefaultFor(true) {
			t.Errorf("%s: ProdExample repeats the production default", s.Name)
		}
		for i, def := range []string{s.Default, s.ProdDefault} {
			if i == 1 && def == "" {
				continue // no production default of its own
			}
			if def == "" {
				if s.Type != TypeString && s.Type != TypeList && s.DefaultText == "" {
					t.Errorf("%s: a %s without a default needs DefaultText", s.Name, s.Type)
				}
				continue
			}
			var err error
			switch s.Type {
			case TypeInt:
				_, err = strconv.ParseInt(def, 10, 64)
			case TypeFloat:
				_, err = strconv.ParseFloat(def, 64)
			case TypeBool:
				_, err = strconv.ParseBool(def)
			case TypeDuration:
				_, err = time.ParseDuration(def)
			case TypeString, TypeList:
			default:
				err = errUnknownType
			}
			if err != nil {
				t.Errorf("%s: default %q is not a %s: %v", s.Name, def, s.Type, err)
			}
		}
		if got, ok := Lookup(s.Name); !ok || got.Name != s.Name {
			t.Errorf("Lookup(%s) = %+v, %v", s.Name, got, ok)
		}
	}
	for _, g := range Groups {
		if groups[g] == 0 {
			t.Errorf("group %q has no setting", g)
		}
	}
}

var errUnknownType = errors.New("unknown type")

// FromEnv reads exactly the variables of Settings, in both environments.
func TestFromEnvReadsEverySetting(t *testing.T) {
	for _, env := range []string{"development", "production"} {
		read := map[string]bool{}
		_, _ = FromEnv(func(k string) string {
			read[k] = true
			if k == "ENV" {
				return env
			}
			return ""
		})
		for _, s := range Settings {
			if !read[s.Name] {
				t.Errorf("%s: FromEnv does not read %s", env, s.Name)
			}
			delete(read, s.Name)
		}
		for k := range read {
			t.Errorf("%s: FromEnv reads %s, which is not in Settings", env, k)
		}
	}
}

// Writing every default out (as .env.example does) changes nothing: the
// defaults FromEnv applies are the table's.
func TestDefaultsAreTheTables(t *testing.T) {
	for _, prod := range []bool{false, true} {
		env := map[string]string{}
		if prod {
			env["ENV"] = "production"
		}
		want, err := FromEnv(envOf(env))
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range Settings {
			if def := s.DefaultFor(prod); def != "" && s.Name != "ENV" && s.Name != "CORS_ALLOWED_ORIGINS" { // set counts as explicit
				env[s.Name] = def
			}
		}
		got, err := FromEnv(envOf(env))
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("production=%v: defaults written out give\n%+v\nwant\n%+v", prod, got, want)
		}
	}
}

// A default can only be written in Settings: FromEnv calls the parser with a
// variable's name (and maybe its type), never with a value.
func TestNoDefaultOutsideTheTable(t *testing.T) {
	fset := token.NewFileSet()
	f, err := goparser.ParseFile(fset, "config.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	methods := map[string]bool{}
	for _, d := range f.Decls {
		if fn, ok := d.(*ast.FuncDecl); ok && fn.Recv != nil {
			if star, ok := fn.Recv.List[0].Type.(*ast.StarExpr); ok && star.X.(*ast.Ident).Name == "parser" {
				methods[fn.Name.Name] = true
			}
		}
	}
	calls := 0
	for _, d := range f.Decls {
		fn, ok := d.(*ast.FuncDecl)
		if !ok || (fn.Recv != nil && fn.Name.Name != "llm") { // the parser's own methods pass key along
			continue
		}
		ast.Inspect(fn, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok {
				return true
			}
			sel, ok := call.Fun.(*ast.SelectorExpr)
			if !ok || !methods[sel.Sel.Name] || len(call.Args) == 0 {
				return true
			}
			if id, ok := sel.X.(*ast.Ident); !ok || id.Name != "p" {
				return true
			}
			calls++
			pos := fset.Position(call.Pos())
			lit, ok := call.Args[0].(*ast.BasicLit)
			if !ok || lit.Kind != token.STRING {
				t.Errorf("%s: p.%s: want a setting's name as a string literal", pos, sel.Sel.Name)
				return true
			}
			key, _ := strconv.Unquote(lit.Value)
			if _, known := Lookup(key); !known {
				t.Errorf("%s: p.%s(%s): not in Settings", pos, sel.Sel.Name, key)
			}
			if sel.Sel.Name == "want" { // an error message: key, value, what is wanted
				return true
			}
			for _, a := range call.Args[1:] {
				if id, ok := a.(*ast.Ident); !ok || !strings.HasPrefix(id.Name, "Type") {
					t.Errorf("%s: p.%s(%s, ...) is given a value: defaults belong in Settings", pos, sel.Sel.Name, key)
				}
			}
			return true
		})
	}
	if calls < len(Settings) {
		t.Errorf("found %d parser calls, want at least %d", calls, len(Settings))
	}
}

// Only package config reads the server's settings from the environment:
// server.go and simulation/llm are handed a Config. The test helpers and
// development tools below read variables of their own.
func TestNoEnvironmentReadsElsewhere(t *testing.T) {
	allowed := []string{"config/", "internal/testdb/", "internal/migrationgen/", "bench/"}
	read := regexp.MustCompile(`\b(os\.(Getenv|LookupEnv|Environ)|syscall\.Getenv|godotenv\.)`)
	err := filepath.WalkDir("..", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel("..", path)
		rel = filepath.ToSlash(rel)
		if d.IsDir() {
			if rel != "." && (strings.HasPrefix(d.Name(), ".") || d.Name() == "node_modules" || d.Name() == "testdata") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(rel, ".go") || strings.HasSuffix(rel, "_test.go") {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for i, line := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(strings.TrimSpace(line), "//") || !read.MatchString(line) {
				continue
			}
			if slices.ContainsFunc(allowed, func(p string) bool { return strings.HasPrefix(rel, p) }) {
				for _, s := range Settings {
					if strings.Contains(line, strconv.Quote(s.Name)) && !strings.HasPrefix(rel, "config/") {
						t.Errorf("%s:%d reads %s: settings come from package config", rel, i+1, s.Name)
					}
				}
				continue
			}
			t.Errorf("%s:%d reads the environment; settings come from package config: %s", rel, i+1, strings.TrimSpace(line))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
