package graphstore_test

import (
	"context"
	"io"
	"strings"
	"testing"

	"github.com/ethox/ethox/apperr"
	"github.com/ethox/ethox/graphstore"
	"github.com/ethox/ethox/internal/fixtures"
	"github.com/ethox/ethox/internal/testdb"
)

// gatedReader signals its first Read and then blocks until opened.
type gatedReader struct {
	started chan struct{}
	open    chan struct{}
	r       io.Reader
}

func (g *gatedReader) Read(p []byte) (int, error) {
	select {
	case <-g.started:
	default:
		close(g.started)
	}
	<-g.open
	return g.r.Read(p)
}

// Imports and generations beyond MAX_CONCURRENT_IMPORTS are refused while the
// slots are taken, and populations beyond MAX_GENERATE_AGENTS always.
func TestHeavyWorkLimits(t *testing.T) {
	s := graphstore.New(testdb.Open(t, "sqlite"))
	s.SetLimits(graphstore.Limits{MaxGenerateAgents: 30, Concurrent: 1})
	ctx := context.Background()
	seed := uint64(1)

	gate := &gatedReader{started: make(chan struct{}), open: make(chan struct{}), r: strings.NewReader(string(fixtures.Read(t, fixtures.Network20)))}
	done := make(chan error, 1)
	go func() {
		_, err := s.ImportFile(ctx, gate, graphstore.ImportOptions{Name: "slow upload", Source: graphstore.Uploaded})
		done <- err
	}()
	<-gate.started
	busy := []struct {
		name string
		run  func() error
	}{
		{"generate", func() error {
			_, err := s.Generate(ctx, graphstore.GenerateOptions{NumAgents: 20, Seed: &seed})
			return err
		}},
		{"import", func() error {
			_, err := s.Import(ctx, randomGraph(5, 4), graphstore.ImportOptions{Name: "x"})
			return err
		}},
	}
	for _, b := range busy {
		if err := b.run(); apperr.KindOf(err) != apperr.RateLimited || !strings.Contains(err.Error(), "MAX_CONCURRENT_IMPORTS") {
			t.Fatalf("%s while the slot is taken: %v", b.name, err)
		}
	}
	close(gate.open)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	for _, b := range busy {
		if err := b.run(); err != nil {
			t.Fatalf("%s once the slot is free: %v", b.name, err)
		}
	}
	_, err := s.Generate(ctx, graphstore.GenerateOptions{NumAgents: 31, Seed: &seed})
	if apperr.KindOf(err) != apperr.BadInput || !strings.Contains(err.Error(), "MAX_GENERATE_AGENTS") {
		t.Fatalf("31 agents over a limit of 30: %v", err)
	}
}
