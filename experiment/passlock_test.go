package experiment

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/ethox/ethox/internal/testdb"
)

// Passes over one experiment in two processes (two services on one
// PostgreSQL database) never overlap: the second waits for the first's lock,
// and gets it once the first lets go. Another experiment is not held up.
func TestPassLockAcrossProcesses(t *testing.T) {
	if !slices.Contains(testdb.Dialects(), "postgres") {
		t.Skip(testdb.PostgresSkipped())
	}
	db := testdb.Open(t, "postgres")
	a, b := New(db, Config{}, nil), New(db, Config{}, nil)
	ctx := context.Background()
	const id = 73014444033 // an experiment id: 17 << 32 | 1
	unlockA, err := a.lockPass(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	if unlock, err := b.lockPass(short, id); err == nil {
		unlock()
		t.Fatal("a second process took the pass lock while the first held it")
	} else if !errors.Is(err, context.DeadlineExceeded) && short.Err() == nil {
		t.Fatalf("waiting for the lock: %v", err)
	}
	other, err := b.lockPass(ctx, id+1)
	if err != nil {
		t.Fatalf("another experiment's pass: %v", err)
	}
	other()
	unlockA()
	unlockB, err := b.lockPass(ctx, id)
	if err != nil {
		t.Fatalf("after the first let go: %v", err)
	}
	unlockB()
	// Every slot came back: as many locks as slots can be taken again.
	for range cap(b.passSlots) + 1 {
		u, err := b.lockPass(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		u()
	}
}
