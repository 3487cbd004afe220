//go:build unix

package simulation

import (
	"os"
	"syscall"
)

// lockFile creates path and takes an exclusive flock on it, held while the
// returned file stays open: the kernel releases it when the process dies,
// however it dies.
func lockFile(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// lockAbandoned reports whether the lock file at path exists and no process
// holds its lock: its holder died. It removes such a file.
func lockAbandoned(path string) bool {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return false // never created, or removed at a clean stop: the lease decides
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		return false // held
	}
	_ = os.Remove(path)
	return true
}
