package wal

import (
	"errors"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/raftkit/raft"
)

// failOnce returns a hook failing the first op on a path containing sub
// with errno.
func failOnce(op, sub string, errno error) func(string, string) error {
	var mu sync.Mutex // guards done: spares are prepared in the background
	done := false
	return func(o, path string) error {
		mu.Lock()
		defer mu.Unlock()
		if done || o != op || !strings.Contains(path, sub) {
			return nil
		}
		done = true
		return errno
	}
}

// failAlways returns a hook failing every op on a path containing sub.
func failAlways(op, sub string, errno error) func(string, string) error {
	return func(o, path string) error {
		if o != op || !strings.Contains(path, sub) {
			return nil
		}
		return errno
	}
}

// TestWriteFaults fails one write or sync of StoreLogs, in an append to
// the tail and in a roll to a new segment, and checks that the caller gets
// the error, that the store refuses writes until reopened, and that what
// was acknowledged before survives.
func TestWriteFaults(t *testing.T) {
	for _, errno := range []error{syscall.EIO, syscall.ENOSPC} {
		for _, tc := range []struct {
			name, op, path string
			always         bool // else the first such op fails, and only it
		}{
			{"append write", "write", ".seg", false},
			{"append sync", "datasync", ".seg", false},
			{"roll write", "write", "spare", false},
			{"roll sync", "datasync", "spare", false},
			{"roll rename", "rename", "spare", false},
			{"roll directory sync", "syncdir", "wal", false},
			// A spare that failed in the background is replaced inline.
			{"roll preallocation", "allocate", "spare", true},
		} {
			t.Run(tc.name+" "+errno.Error(), func(t *testing.T) {
				hook := failOnce(tc.op, tc.path, errno)
				if tc.always {
					hook = failAlways(tc.op, tc.path, errno)
				}
				testWriteFault(t, hook, errno)
			})
		}
	}
}

func testWriteFault(t *testing.T, hook func(string, string) error, errno error) {
	dir := t.TempDir()
	fs := &faultFS{}
	opts := []Option{withFS(fs), WithSegmentSize(16 << 10), WithZeroFill(false)}
	w := mustOpen(t, dir, opts...)
	mustStore(t, w, entries(1, 4, 1, 100))
	w.Close() // reopen so that the tail segment is opened by its .seg name
	w = mustOpen(t, dir, opts...)
	fs.setHook(hook)
	var err error
	next := uint64(5)
	for ; err == nil && next < 400; next += 4 { // until the fault hits
		err = w.StoreLogs(entries(next, next+3, 1, 100))
	}
	acked := next - 5 // every entry before the failed call
	if !errors.Is(err, errno) {
		t.Fatalf("StoreLogs with a failing operation: %v, want %v", err, errno)
	}
	if err := w.StoreLogs(entries(acked+1, acked+1, 1, 100)); !errors.Is(err, ErrFailed) || !errors.Is(err, errno) {
		t.Fatalf("StoreLogs after the failure: %v, want ErrFailed wrapping %v", err, errno)
	}
	if err := w.SetUint64([]byte("k"), 1); !errors.Is(err, ErrFailed) {
		t.Fatalf("SetUint64 after the failure: %v, want ErrFailed", err)
	}
	if err := w.DeleteRange(1, 2); !errors.Is(err, ErrFailed) {
		t.Fatalf("DeleteRange after the failure: %v, want ErrFailed", err)
	}
	if last, _ := w.LastIndex(); last != acked {
		t.Fatalf("LastIndex %d after a failed write, want %d: unsynced entries were published", last, acked)
	}
	checkRange(t, w, 1, acked, byIndex(1, 100))
	w.Close()
	fs.setHook(nil)
	w = mustOpen(t, dir, opts...)
	defer w.Close()
	last, _ := w.LastIndex()
	if last < acked {
		t.Fatalf("after reopening, last index %d < %d acknowledged", last, acked)
	}
	checkRange(t, w, 1, last, byIndex(1, 100))
	mustStore(t, w, entries(last+1, last+1, 1, 100))
}

func TestStableFaults(t *testing.T) {
	for _, op := range []string{"write", "sync", "rename", "syncdir"} {
		t.Run(op, func(t *testing.T) {
			dir := t.TempDir()
			fs := &faultFS{}
			w := mustOpen(t, dir, withFS(fs))
			if err := w.SetUint64([]byte("CurrentTerm"), 1); err != nil {
				t.Fatal(err)
			}
			fs.setHook(failOnce(op, "", syscall.EIO))
			if err := w.SetUint64([]byte("CurrentTerm"), 2); !errors.Is(err, syscall.EIO) {
				t.Fatalf("SetUint64 with a failing %s: %v", op, err)
			}
			if v, _ := w.GetUint64([]byte("CurrentTerm")); v != 1 {
				t.Fatalf("Get after a failed Set returns %d, want the old value 1", v)
			}
			if err := w.StoreLogs(entries(1, 1, 1, 1)); !errors.Is(err, ErrFailed) {
				t.Fatalf("StoreLogs after a failed Set: %v, want ErrFailed", err)
			}
			w.Close()
			fs.setHook(nil)
			w = mustOpen(t, dir)
			defer w.Close()
			v, err := w.GetUint64([]byte("CurrentTerm"))
			if err != nil || (v != 1 && v != 2) {
				t.Fatalf("after reopening: %d, %v", v, err)
			}
		})
	}
}

// TestFailedSyncIsNeverAcknowledged fails every sync: no call may succeed.
func TestFailedSyncIsNeverAcknowledged(t *testing.T) {
	fs := &faultFS{}
	w := mustOpen(t, t.TempDir(), withFS(fs), WithSegmentSize(4<<10))
	defer w.Close()
	fs.setHook(func(op, _ string) error {
		if op == "datasync" || op == "sync" || op == "syncdir" {
			return syscall.EIO
		}
		return nil
	})
	if err := w.StoreLogs(entries(1, 3, 1, 10)); err == nil {
		t.Fatal("StoreLogs succeeded with every sync failing")
	}
	if err := w.Set([]byte("a"), []byte("b")); err == nil {
		t.Fatal("Set succeeded with every sync failing")
	}
	var l raft.Log
	if err := w.GetLog(1, &l); !errors.Is(err, raft.ErrLogNotFound) {
		t.Fatalf("GetLog of an entry never synced: %v", err)
	}
}
