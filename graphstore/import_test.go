package graphstore_test

import (
	"context"
	"testing"

	"github.com/ethox/ethox/graphstore"
	"github.com/ethox/ethox/internal/testdb"
)

// An import enlarges SQLite's page cache on its connection only while it runs:
// the pooled connection goes back with the cache it had, whether the import
// was stored or rejected.
func TestImportRestoresSQLiteCache(t *testing.T) {
	db := testdb.Open(t, "sqlite")
	db.SQL.SetMaxOpenConns(1) // every statement below runs on the import's connection
	s := graphstore.New(db)
	ctx := context.Background()
	var before int
	if err := db.SQL.QueryRowContext(ctx, `PRAGMA cache_size`).Scan(&before); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		opts    graphstore.ImportOptions
		wantErr bool
	}{
		{"stored", graphstore.ImportOptions{Name: "x"}, false},
		{"rejected", graphstore.ImportOptions{Name: ""}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.Import(ctx, randomGraph(50, 100), tc.opts)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, want error %v", err, tc.wantErr)
			}
			var after int
			if err := db.SQL.QueryRowContext(ctx, `PRAGMA cache_size`).Scan(&after); err != nil {
				t.Fatal(err)
			}
			if after != before {
				t.Fatalf("cache_size %d after the import, %d before", after, before)
			}
		})
	}
}
