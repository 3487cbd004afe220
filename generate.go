package main

// Code generation, in dependency order: ent (and graph/ent.graphql), then
// gqlgen, then the versioned SQL migrations diffed from the ent schema.
//go:generate go run ./ent/entc.go
//go:generate go tool gqlgen generate
//go:generate go run ./internal/migrationgen
