//go:build !unix

package simulation

import (
	"errors"
	"os"
)

// Without flock, SQLite leases are known dead only once they expire.

func lockFile(string) (*os.File, error) { return nil, errors.ErrUnsupported }

func lockAbandoned(string) bool { return false }
