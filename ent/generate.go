// Package ent holds the ent schema (ent/schema) and the client generated from
// it by `go generate ./...` at the repository root.
package ent
