package wal

// This file owns the file layer under the WAL. Every byte the WAL reads or
// writes goes through fileSystem and file, so that tests can substitute a
// layer that fails a write or a sync on demand (faults_test.go).

import (
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"
)

// fileSystem is the part of the operating system the WAL uses.
type fileSystem interface {
	OpenFile(name string, flag int, perm os.FileMode) (file, error)
	Rename(oldName, newName string) error
	Remove(name string) error
	ReadDir(name string) ([]os.DirEntry, error)
	MkdirAll(name string, perm os.FileMode) error
	// SyncDir makes the directory's entries (creations, renames, removals)
	// durable.
	SyncDir(name string) error
}

// file is an open file. Offsets are absolute; nothing depends on a seek
// position, so one file may be read from many goroutines at once.
type file interface {
	io.ReaderAt
	io.WriterAt
	// Datasync flushes the file's data and the metadata needed to read it
	// (fdatasync).
	Datasync() error
	// Sync flushes the file's data and all its metadata (fsync).
	Sync() error
	Truncate(size int64) error
	// Allocate reserves [off, off+n) so that writes there need no new blocks.
	Allocate(off, n int64) error
	Size() (int64, error)
	// Lock takes an exclusive advisory lock, failing at once if another
	// process holds it.
	Lock() error
	Close() error
}

// osFS is the real file layer.
type osFS struct{}

func (osFS) OpenFile(name string, flag int, perm os.FileMode) (file, error) {
	f, err := os.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return osFile{f}, nil
}

func (osFS) Rename(oldName, newName string) error         { return os.Rename(oldName, newName) }
func (osFS) Remove(name string) error                     { return os.Remove(name) }
func (osFS) ReadDir(name string) ([]os.DirEntry, error)   { return os.ReadDir(name) }
func (osFS) MkdirAll(name string, perm os.FileMode) error { return os.MkdirAll(name, perm) }

func (osFS) SyncDir(name string) error {
	d, err := os.Open(name)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

type osFile struct{ *os.File }

func (f osFile) Datasync() error {
	return f.control(func(fd int) error { return syscall.Fdatasync(fd) })
}

func (f osFile) Allocate(off, n int64) error {
	err := f.control(func(fd int) error { return syscall.Fallocate(fd, 0, off, n) })
	if errors.Is(err, syscall.EOPNOTSUPP) || errors.Is(err, syscall.ENOSYS) {
		return f.writeZeros(off, n)
	}
	return err
}

func (f osFile) Lock() error {
	return f.control(func(fd int) error { return syscall.Flock(fd, syscall.LOCK_EX|syscall.LOCK_NB) })
}

func (f osFile) Size() (int64, error) {
	st, err := f.Stat()
	if err != nil {
		return 0, err
	}
	return st.Size(), nil
}

// control runs fn on the file descriptor, retrying on EINTR.
func (f osFile) control(fn func(fd int) error) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var opErr error
	if err := rc.Control(func(fd uintptr) {
		for {
			opErr = fn(int(fd))
			if opErr != syscall.EINTR {
				return
			}
		}
	}); err != nil {
		return err
	}
	if opErr != nil {
		return fmt.Errorf("%s: %w", f.Name(), opErr)
	}
	return nil
}

// writeZeros fills [off, off+n) with zeros, for file systems without
// fallocate.
func (f osFile) writeZeros(off, n int64) error {
	return zeroFill(f, off, n, nil)
}

// zeroFill writes zeros over [off, off+n) in chunks, stopping early with
// errClosed when stop is closed.
func zeroFill(f io.WriterAt, off, n int64, stop <-chan struct{}) error {
	const chunk = 1 << 20
	zeros := make([]byte, min(n, chunk))
	for n > 0 {
		select {
		case <-stop:
			return ErrClosed
		default:
		}
		k := min(n, chunk)
		if _, err := f.WriteAt(zeros[:k], off); err != nil {
			return err
		}
		off += k
		n -= k
	}
	return nil
}
