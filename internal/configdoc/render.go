package main

import (
	"bytes"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/ethox/ethox/config"
)

// The files written from config.Settings, relative to the repository root.
const (
	readmePath  = "README.md"
	envPath     = ".env.example"
	prodEnvPath = "deploy/ethox.env.example"
)

// The README's table sits between these lines.
const (
	beginMarker = "<!-- config:begin -->"
	endMarker   = "<!-- config:end -->"
)

const generatedBy = "Generated from config/settings.go by `go generate ./...` (internal/configdoc): edit the table there, not this file."

// generate returns the new contents of every file it writes; read gives a
// file's current contents (the README keeps everything outside its markers).
func generate(read func(path string) ([]byte, error)) (map[string][]byte, error) {
	old, err := read(readmePath)
	if err != nil {
		return nil, err
	}
	readme, err := spliceREADME(old)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", readmePath, err)
	}
	return map[string][]byte{
		readmePath:  readme,
		envPath:     envExample(),
		prodEnvPath: prodEnvExample(),
	}, nil
}

// spliceREADME replaces the lines between the markers with the table.
func spliceREADME(old []byte) ([]byte, error) {
	begin := bytes.Index(old, []byte(beginMarker+"\n"))
	end := bytes.Index(old, []byte(endMarker))
	if begin < 0 || end < 0 || end < begin || bytes.Count(old, []byte(beginMarker)) != 1 || bytes.Count(old, []byte(endMarker)) != 1 {
		return nil, errors.New("want one " + beginMarker + " line and one " + endMarker + " line after it")
	}
	var b bytes.Buffer
	b.Write(old[:begin+len(beginMarker)+1])
	b.WriteString(readmeTable())
	b.Write(old[end:])
	return b.Bytes(), nil
}

func readmeTable() string {
	var b strings.Builder
	fmt.Fprintf(&b, "<!-- %s -->\n", generatedBy)
	for _, g := range config.Groups {
		fmt.Fprintf(&b, "\n**%s**\n\n| variable | default | meaning |\n| --- | --- | --- |\n", g)
		for _, s := range config.Settings {
			if s.Group != g {
				continue
			}
			fmt.Fprintf(&b, "| `%s` | %s | %s |\n", s.Name, cell(readmeDefault(s)), cell(s.Doc))
		}
	}
	b.WriteString("\n")
	return b.String()
}

func readmeDefault(s config.Setting) string {
	switch {
	case s.ProdDefault != "":
		return fmt.Sprintf("%s; %s in production", code(s.Default), code(s.ProdDefault))
	case s.DefaultText != "":
		return "*(" + s.DefaultText + ")*"
	case s.Default == "":
		return "*(empty)*"
	}
	return code(s.Default)
}

func code(v string) string { return "`" + v + "`" }

// cell escapes a table cell's pipes.
func cell(s string) string { return strings.ReplaceAll(s, "|", `\|`) }

func envExample() []byte {
	var b strings.Builder
	comment(&b, "Ethox settings. Copy to .env (never committed) or set them in the environment; variables "+
		"already set in the environment win over .env. An empty value means the default; the README's "+
		"Configuration table lists the same settings.")
	comment(&b, generatedBy)
	for _, g := range config.Groups {
		fmt.Fprintf(&b, "\n# --- %s ---\n", g)
		for _, s := range config.Settings {
			if s.Group != g {
				continue
			}
			// A value that differs by environment, or that is not a value
			// at all (DefaultText), stays empty: writing it would change
			// the setting (e.g. CORS_ALLOWED_ORIGINS set counts as explicit).
			value := s.Default
			doc := plain(s.Doc)
			switch {
			case s.ProdDefault != "":
				value = ""
				doc += fmt.Sprintf(" Default: %s in development, %s in production.", s.Default, s.ProdDefault)
			case s.DefaultText != "":
				value = ""
				doc += " Default: " + s.DefaultText + "."
			}
			comment(&b, doc)
			fmt.Fprintf(&b, "%s=%s\n", s.Name, value)
		}
	}
	return []byte(b.String())
}

// The production example's header; it is a systemd EnvironmentFile.
const prodHeader = `# /etc/ethox/ethox.env: the settings of the systemd unit (deploy/ethox.service).
#
#   install -d -m 0750 -o root -g ethox /etc/ethox
#   install -m 0640 -o root -g ethox deploy/ethox.env.example /etc/ethox/ethox.env
#
# It holds secrets (database password, API tokens, LLM key): keep it 0640 root:ethox.
# systemd's syntax: KEY=value, one per line; a line starting with # is a comment,
# but a # after a value is part of the value. An empty value means the default.
# Every setting and its default: .env.example and the README's Configuration table.
`

func prodEnvExample() []byte {
	var b strings.Builder
	b.WriteString(prodHeader)
	comment(&b, generatedBy)
	for _, g := range config.Groups {
		fmt.Fprintf(&b, "\n# --- %s ---\n", g)
		for _, s := range config.Settings {
			if s.Group != g {
				continue
			}
			value := s.ProdExample
			if value == "" && s.DefaultText == "" {
				value = s.DefaultFor(true)
			}
			comment(&b, plain(s.Doc))
			if s.ProdNote != "" {
				comment(&b, s.ProdNote)
			}
			fmt.Fprintf(&b, "%s=%s\n", s.Name, value)
		}
	}
	return []byte(b.String())
}

var mdLink = regexp.MustCompile(`\[([^\]]+)\]\(#[^)]*\)`)

// plain turns a Markdown description into a sentence of comment text: no
// code spans, and links to the README's sections named as such.
func plain(md string) string {
	s := mdLink.ReplaceAllString(md, `the README's "$1"`)
	return strings.ReplaceAll(s, "`", "") + "."
}

// comment writes text as # lines of at most width columns; a line of text
// starting with a space is kept as it is (commands, examples).
func comment(b *strings.Builder, text string) {
	const width = 100
	for line := range strings.SplitSeq(text, "\n") {
		if strings.HasPrefix(line, " ") {
			fmt.Fprintf(b, "#%s\n", line)
			continue
		}
		out := "#"
		for _, w := range words(line) {
			if len(out) > 1 && len(out)+1+len(w) > width {
				b.WriteString(out + "\n")
				out = "#"
			}
			out += " " + w
		}
		b.WriteString(out + "\n")
	}
}

// words splits a line at its spaces, but keeps "0 = off" together.
func words(line string) []string {
	var out []string
	f := strings.Fields(line)
	for i := 0; i < len(f); i++ {
		if f[i] == "=" && len(out) > 0 && i+1 < len(f) {
			out[len(out)-1] += " = " + f[i+1]
			i++
			continue
		}
		out = append(out, f[i])
	}
	return out
}
