package wal

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/raftkit/raft"
)

// recordOffset returns the segment file and offset of the record at index.
func recordOffset(t *testing.T, w *WAL, index uint64) (string, int64) {
	t.Helper()
	w.mu.RLock()
	defer w.mu.RUnlock()
	s := w.segmentRLocked(index)
	off, _ := s.span(index)
	return s.path, off
}

// patchFile overwrites bytes of a file at off.
func patchFile(t *testing.T, path string, off int64, b []byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}

// twoBatches stores 1..10 then 11..20 (the last write) and returns the
// offsets of records 11 and 15 in the last segment.
func twoBatches(t *testing.T, dir string) (path string, off11, off15 int64) {
	w := mustOpen(t, dir, WithSync(false))
	mustStore(t, w, entries(1, 10, 1, 300))
	mustStore(t, w, entries(11, 20, 1, 300))
	path, off11 = recordOffset(t, w, 11)
	_, off15 = recordOffset(t, w, 15)
	w.Close()
	return path, off11, off15
}

func TestTornLastWriteIsCut(t *testing.T) {
	for _, tc := range []struct {
		name string
		// tear damages the last write; it returns the last index that survives.
		tear func(t *testing.T, path string, off11, off15 int64) uint64
	}{
		{"sector of zeros in the middle", func(t *testing.T, path string, off11, off15 int64) uint64 {
			patchFile(t, path, off15+16, make([]byte, 512))
			return 14
		}},
		{"first record of the write torn", func(t *testing.T, path string, off11, off15 int64) uint64 {
			patchFile(t, path, off11+100, make([]byte, 64))
			return 10
		}},
		{"garbage after the last record", func(t *testing.T, path string, off11, off15 int64) uint64 {
			w := mustOpen(t, filepath.Dir(filepath.Dir(path)), WithSync(false))
			_, end := w.segs[len(w.segs)-1].span(20)
			w.Close()
			patchFile(t, path, end, []byte("half a record that never finished"))
			return 20
		}},
		{"length written, body not", func(t *testing.T, path string, off11, off15 int64) uint64 {
			patchFile(t, path, off15+8, make([]byte, 4096))
			return 14
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path, off11, off15 := twoBatches(t, dir)
			last := tc.tear(t, path, off11, off15)
			w := mustOpen(t, dir)
			checkRange(t, w, 1, last, byIndex(1, 300))
			// The cut is durable and the log continues from it.
			mustStore(t, w, entries(last+1, 25, 2, 300))
			w.Close()
			w = mustOpen(t, dir)
			defer w.Close()
			checkRange(t, w, 1, 25, func(i uint64) *raft.Log {
				if i > last {
					return entry(i, 2, 300)
				}
				return entry(i, 1, 300)
			})
		})
	}
}

func TestDamageIsAnError(t *testing.T) {
	for _, tc := range []struct {
		name   string
		damage func(t *testing.T, dir string) (path string, off int64)
	}{
		{"bit flip in an earlier write of the last segment", func(t *testing.T, dir string) (string, int64) {
			path, _, _ := twoBatches(t, dir)
			w := mustOpen(t, dir, WithSync(false))
			_, off5 := recordOffset(t, w, 5)
			w.Close()
			patchFile(t, path, off5+20, []byte{0xff})
			return path, off5
		}},
		{"zeroed sector in an earlier write of the last segment", func(t *testing.T, dir string) (string, int64) {
			path, _, _ := twoBatches(t, dir)
			w := mustOpen(t, dir, WithSync(false))
			_, off3 := recordOffset(t, w, 3)
			w.Close()
			patchFile(t, path, off3, make([]byte, 512))
			return path, off3
		}},
		{"first record of the last segment", func(t *testing.T, dir string) (string, int64) {
			path, _, _ := twoBatches(t, dir)
			patchFile(t, path, segHeaderSize+12, []byte{1, 2, 3})
			return path, segHeaderSize
		}},
		{"last record of a sealed segment", func(t *testing.T, dir string) (string, int64) {
			w := mustOpen(t, dir, WithSync(false), WithSegmentSize(4<<10))
			for i := uint64(1); i <= 40; i += 4 {
				mustStore(t, w, entries(i, i+3, 1, 300))
			}
			first := w.segs[0]
			path, off := first.path, int64(first.offsets[len(first.offsets)-1])
			w.Close()
			patchFile(t, path, off+30, []byte{0xaa})
			return path, off
		}},
		{"segment header", func(t *testing.T, dir string) (string, int64) {
			path, _, _ := twoBatches(t, dir)
			patchFile(t, path, 20, []byte{9})
			return path, 0
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path, off := tc.damage(t, dir)
			w, err := Open(dir)
			if err == nil {
				w.Close()
				t.Fatal("Open of a damaged log succeeded")
			}
			want := fmt.Sprintf("%s at offset %d", path, off)
			if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), want) {
				t.Fatalf("Open: %v; want ErrCorrupt naming %q", err, want)
			}
		})
	}
}

func TestMissingSegmentIsAnError(t *testing.T) {
	dir := t.TempDir()
	w := mustOpen(t, dir, WithSync(false), WithSegmentSize(4<<10))
	for i := uint64(1); i <= 60; i += 4 {
		mustStore(t, w, entries(i, i+3, 1, 300))
	}
	w.Close()
	files := segFiles(t, dir)
	if len(files) < 3 {
		t.Fatalf("%d segments, want at least 3", len(files))
	}
	os.Remove(files[1])
	if _, err := Open(dir); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Open with a segment missing: %v, want ErrCorrupt", err)
	}
}

func TestLeftoverTempFilesAreRemoved(t *testing.T) {
	dir := t.TempDir()
	w := mustOpen(t, dir)
	mustStore(t, w, entries(1, 2, 1, 1))
	w.Close()
	tmp := filepath.Join(dir, subdir, "spare-9.tmp")
	os.WriteFile(tmp, []byte("partial"), 0o644)
	w = mustOpen(t, dir)
	defer w.Close()
	if _, err := os.Stat(tmp); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("%s still there after Open: %v", tmp, err)
	}
	checkRange(t, w, 1, 2, byIndex(1, 1))
}

// TestInterruptedDeletes fails a DeleteRange half way, as a crash would
// stop it, and checks that Open finds a consistent log: the old one, the
// new one, or for a tail cut a prefix of the old one.
func TestInterruptedDeletes(t *testing.T) {
	for _, tc := range []struct {
		name     string
		failOp   string
		min, max uint64
		first    uint64 // what Open finds
		lastLow  uint64 // the last index Open finds is in [lastLow, 60]
	}{
		{"head: segments not removed", "remove", 1, 30, 31, 60},
		{"head: head file not renamed", "rename", 1, 30, 1, 60},
		{"all: segments not removed", "remove", 1, 60, 0, 0},
		{"tail: cut not made", "truncate", 0, 60, 1, 0}, // min: inside the last segment
		{"tail: later segments not removed", "remove", 20, 60, 1, 60},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			fs := &faultFS{}
			w := mustOpen(t, dir, withFS(fs), WithSegmentSize(4<<10))
			for i := uint64(1); i <= 60; i += 4 {
				mustStore(t, w, entries(i, i+3, 1, 300))
			}
			fs.setHook(func(op, path string) error {
				if op == tc.failOp && !strings.HasSuffix(path, "LOCK") {
					return syscall.EIO
				}
				return nil
			})
			if tc.min == 0 {
				tc.min = w.segs[len(w.segs)-1].first + 1
				tc.lastLow = tc.min - 1
			}
			if err := w.DeleteRange(tc.min, tc.max); !errors.Is(err, syscall.EIO) {
				t.Fatalf("DeleteRange with %s failing: %v", tc.failOp, err)
			}
			if err := w.StoreLogs(entries(61, 61, 1, 1)); !errors.Is(err, ErrFailed) {
				t.Fatalf("StoreLogs after a failed DeleteRange: %v, want ErrFailed", err)
			}
			w.Close()
			w = mustOpen(t, dir, WithSegmentSize(4<<10))
			defer w.Close()
			last, _ := w.LastIndex()
			if last < tc.lastLow {
				t.Fatalf("last index %d after reopening, want at least %d", last, tc.lastLow)
			}
			if tc.lastLow == 0 {
				last = 0
			}
			checkRange(t, w, tc.first, last, byIndex(1, 300))
		})
	}
}

// TestDamageAfterOpenIsReportedByGetLog damages a record of an open WAL:
// reading it from the file fails with ErrCorrupt rather than returning it.
func TestDamageAfterOpenIsReportedByGetLog(t *testing.T) {
	w := mustOpen(t, t.TempDir(), WithSync(false), WithCacheEntries(0))
	defer w.Close()
	if !w.IsMonotonic() {
		t.Fatal("IsMonotonic is false; the WAL holds no gaps")
	}
	for i := uint64(1); i <= 3; i++ {
		if err := w.StoreLog(entry(i, 1, 50)); err != nil {
			t.Fatal(err)
		}
	}
	path, off := recordOffset(t, w, 2)
	patchFile(t, path, off+20, []byte{0xee})
	var l raft.Log
	if err := w.GetLog(2, &l); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("GetLog of a damaged record: %v, want ErrCorrupt", err)
	}
	if err := w.GetLog(3, &l); err != nil || l.Index != 3 {
		t.Fatalf("GetLog of the next record: %v", err)
	}
}
