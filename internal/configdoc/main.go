// Command configdoc writes the documentation of the settings from their one
// description, config.Settings: the README's Configuration table (between
// <!-- config:begin --> and <!-- config:end -->), .env.example and
// deploy/ethox.env.example. It runs from `go generate ./...` (a directive in
// config/config.go), so CI's drift check fails when they are out of date.
//
//	go run ./internal/configdoc [-root .]
package main

import (
	"bytes"
	"flag"
	"log"
	"maps"
	"os"
	"path/filepath"
	"slices"
)

func main() {
	root := flag.String("root", ".", "repository root")
	flag.Parse()
	read := func(p string) ([]byte, error) { return os.ReadFile(filepath.Join(*root, p)) }
	files, err := generate(read)
	if err != nil {
		log.Fatal(err)
	}
	for _, p := range slices.Sorted(maps.Keys(files)) {
		if old, err := read(p); err == nil && bytes.Equal(old, files[p]) {
			continue // unchanged: leave the file (and its time stamp) alone
		}
		if err := os.WriteFile(filepath.Join(*root, p), files[p], 0o644); err != nil {
			log.Fatal(err)
		}
		log.Printf("configdoc: wrote %s", p)
	}
}
