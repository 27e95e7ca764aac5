package wal

// This file owns the WAL value: its options, its locks and what each
// guards, Open (recovery of the segments, the head marker and the stable
// store) and Close.

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/raftkit/raft"
)

// Errors returned by the WAL. Failures of the file layer are returned
// wrapped with the operation and file name.
var (
	// ErrKeyNotFound is returned by Get and GetUint64 for a key that was
	// never set. Its text is exactly "not found", the text by which raft
	// (and hashicorp/raft) recognise a missing key in any StableStore.
	ErrKeyNotFound = errors.New("not found")

	// ErrClosed is returned by every method called after Close.
	ErrClosed = errors.New("raft: wal closed")

	// ErrCorrupt is wrapped by Open when a file holds damaged data that is
	// not a torn last write; the error names the file and the offset.
	ErrCorrupt = errors.New("raft: wal corrupt")

	// ErrFailed is wrapped, together with the original error, by every write
	// after a write or sync failed: the store no longer knows what reached
	// the disk, so it refuses writes until it is opened again.
	ErrFailed = errors.New("raft: wal failed earlier, reopen it")

	// ErrOutOfOrder is returned by StoreLogs for entries that do not
	// continue the log with consecutive indexes.
	ErrOutOfOrder = errors.New("raft: wal entries out of order")

	// ErrUnsupportedRange is returned by DeleteRange for a range that
	// touches neither end of the log: the WAL holds no gaps.
	ErrUnsupportedRange = errors.New("raft: wal can only delete from the head or the tail")
)

var (
	_ raft.LogStore               = (*WAL)(nil)
	_ raft.StableStore            = (*WAL)(nil)
	_ raft.CommitTrackingLogStore = (*WAL)(nil)
	_ raft.MonotonicLogStore      = (*WAL)(nil)
)

const (
	subdir        = "wal"
	lockName      = "LOCK"
	tmpSuffix     = ".tmp"
	osReadWrite   = os.O_RDWR
	defaultSegLen = 64 << 20
)

// Option configures Open.
type Option func(*options)

type options struct {
	segmentSize  int64
	sync         bool
	cacheEntries int
	zeroFill     bool
	fs           fileSystem
}

func defaultOptions() options {
	return options{segmentSize: defaultSegLen, sync: true, cacheEntries: 4096, zeroFill: true, fs: osFS{}}
}

// WithSegmentSize sets the size of segment files in bytes (default 64 MiB,
// at least 4 KiB, at most 4 GiB). A batch larger than a segment gets a
// segment of its own, sized to fit.
func WithSegmentSize(n int64) Option {
	return func(o *options) { o.segmentSize = min(max(n, 4<<10), maxSegmentBytes) }
}

// WithSync sets whether writes are synced to disk before they return
// (default true). Without sync, a crash of the machine (not of the process)
// may lose or tear any write; use it for tests and benchmarks only.
func WithSync(on bool) Option {
	return func(o *options) { o.sync = on }
}

// WithCacheEntries sets how many of the most recent entries GetLog serves
// from memory (default 4096; 0 disables the cache).
func WithCacheEntries(n int) Option {
	return func(o *options) { o.cacheEntries = max(n, 0) }
}

// WithZeroFill sets whether the next segment is prepared in the background
// by writing zeros over it (default true). Written blocks let each sync
// flush data only; without it segments are only reserved with fallocate,
// and the file system must record the first write to each block in its
// journal.
func WithZeroFill(on bool) Option {
	return func(o *options) { o.zeroFill = on }
}

// withFS replaces the file layer; tests use it to inject faults.
func withFS(fs fileSystem) Option {
	return func(o *options) { o.fs = fs }
}

// WAL is a durable raft.LogStore and raft.StableStore kept in segment files
// under one directory. It is safe for concurrent use.
type WAL struct {
	dir    string // the WAL's own subdirectory
	opts   options
	fs     fileSystem
	lockF  file
	stable stableStore

	// mu guards the published log, what readers see. An entry is published
	// only once it is durable.
	mu sync.RWMutex
	// Invariant: segs[i+1].first == segs[i].last()+1, and only the last
	// segment is written to.
	segs  []*segment
	first uint64 // 0 when the log is empty
	last  uint64 // 0 when the log is empty
	cache tailCache

	// wmu serializes every change to the files: group-commit writes, rolls
	// to a new segment, DeleteRange and Close.
	wmu       sync.Mutex
	nextSeq   uint64 // sequence number of the next segment
	headFirst uint64 // first index recorded in the head file
	buf       []byte // encoding buffer, reused across writes
	zeros     []byte // zeroAhead zero bytes, allocated on first use
	spares    spares

	// qmu guards the queue of StoreLogs calls waiting for a leader to write
	// them, and the index the next call must start at.
	qmu   sync.Mutex
	queue []*request
	next  uint64 // 0 when the log is empty: any index may start it

	commitStaged  atomic.Uint64 // last value given to StageCommitIndex
	commitDurable atomic.Uint64 // last commit index known to be on disk
	failure       atomic.Pointer[error]
	closed        atomic.Bool

	stop chan struct{}  // closed by Close to stop background work
	bg   sync.WaitGroup // background goroutines, waited for by Close
}

// Open opens or creates the WAL kept in dir (in its subdirectory "wal"),
// recovering from a crash: a torn last write is cut off, and damage to data
// that had been synced is an error wrapping ErrCorrupt. Only one WAL may
// have a directory open at a time.
func Open(dir string, opts ...Option) (*WAL, error) {
	o := defaultOptions()
	for _, opt := range opts {
		opt(&o)
	}
	w := &WAL{dir: filepath.Join(dir, subdir), opts: o, fs: o.fs, stop: make(chan struct{})}
	w.cache.init(o.cacheEntries)
	w.spares.init(w)
	if err := w.lockDir(); err != nil {
		return nil, err
	}
	if err := w.recover(); err != nil {
		w.closeFiles()
		return nil, err
	}
	return w, nil
}

func (w *WAL) lockDir() error {
	if err := w.fs.MkdirAll(w.dir, 0o755); err != nil {
		return fmt.Errorf("raft: wal create %s: %w", w.dir, err)
	}
	path := filepath.Join(w.dir, lockName)
	f, err := w.fs.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("raft: wal open %s: %w", path, err)
	}
	if err := f.Lock(); err != nil {
		f.Close()
		return fmt.Errorf("raft: wal lock %s (is it open elsewhere?): %w", path, err)
	}
	w.lockF = f
	return nil
}

// recover loads the head file, the stable store and the segments.
func (w *WAL) recover() error {
	hd, err := readHead(w.fs, w.dir)
	if err != nil {
		return err
	}
	w.headFirst = hd.first
	w.commitDurable.Store(hd.commit)
	if err := w.stable.load(w); err != nil {
		return err
	}
	names, err := w.listDir()
	if err != nil {
		return err
	}
	if err := w.loadSegments(names); err != nil {
		return err
	}
	return w.dropBelowHead()
}

// listDir removes temporary files left by a crash and returns the segment
// names in sequence order.
func (w *WAL) listDir() ([]string, error) {
	ents, err := w.fs.ReadDir(w.dir)
	if err != nil {
		return nil, fmt.Errorf("raft: wal list %s: %w", w.dir, err)
	}
	var names []string
	for _, e := range ents {
		name := e.Name()
		if strings.HasSuffix(name, tmpSuffix) {
			if err := w.fs.Remove(filepath.Join(w.dir, name)); err != nil {
				return nil, fmt.Errorf("raft: wal remove %s: %w", name, err)
			}
			continue
		}
		if _, _, ok := parseSegName(name); ok {
			names = append(names, name)
		}
	}
	slices.Sort(names) // zero-padded sequence numbers sort as numbers
	return names, nil
}

func (w *WAL) loadSegments(names []string) error {
	for i, name := range names {
		last := i == len(names)-1
		s, r, err := loadSegment(w.fs, w.dir, name, last)
		if err != nil {
			return err
		}
		w.segs = append(w.segs, s)
		if err := checkSegment(s, name, w.segs); err != nil {
			return err
		}
		if r.torn {
			if err := s.cutTail(w.opts.sync); err != nil {
				return err
			}
		}
		if last && r.commit > w.commitDurable.Load() {
			w.commitDurable.Store(r.commit)
		}
		w.nextSeq = s.seq + 1
	}
	w.nextSeq = max(w.nextSeq, 1)
	return nil
}

// checkSegment verifies that s, just appended to segs, agrees with its
// name and continues the previous segment.
func checkSegment(s *segment, name string, segs []*segment) error {
	seq, first, _ := parseSegName(name)
	if seq != s.seq || first != s.first {
		return fmt.Errorf("%w: %s: header says sequence %d, first index %d", ErrCorrupt, s.path, s.seq, s.first)
	}
	if s.count() == 0 {
		return fmt.Errorf("%w: %s holds no record", ErrCorrupt, s.path)
	}
	if len(segs) < 2 {
		return nil
	}
	prev := segs[len(segs)-2]
	if s.first != prev.last()+1 {
		return fmt.Errorf("%w: %s starts at index %d but %s ends at %d",
			ErrCorrupt, s.path, s.first, prev.path, prev.last())
	}
	return nil
}

// dropBelowHead removes segments wholly below the head marker (a head
// deletion interrupted by a crash) and sets the published bounds.
func (w *WAL) dropBelowHead() error {
	n := 0
	for n < len(w.segs) && w.segs[n].last() < w.headFirst {
		n++
	}
	if err := w.removeSegments(w.segs[:n]); err != nil {
		return err
	}
	w.segs = w.segs[n:]
	if len(w.segs) == 0 {
		return nil
	}
	w.first = max(w.headFirst, w.segs[0].first)
	w.last = w.segs[len(w.segs)-1].last()
	w.next = w.last + 1
	return nil
}

// removeSegments closes and deletes segment files, then syncs the
// directory.
func (w *WAL) removeSegments(segs []*segment) error {
	if len(segs) == 0 {
		return nil
	}
	for _, s := range segs {
		s.f.Close()
		if err := w.fs.Remove(s.path); err != nil {
			return fmt.Errorf("raft: wal remove %s: %w", s.path, err)
		}
	}
	return w.syncDir()
}

func (w *WAL) syncDir() error {
	if !w.opts.sync {
		return nil
	}
	if err := w.fs.SyncDir(w.dir); err != nil {
		return fmt.Errorf("raft: wal sync directory %s: %w", w.dir, err)
	}
	return nil
}

// IsMonotonic reports true: the WAL holds no gaps, so raft empties it after
// installing a snapshot and restarts it after the snapshot's index.
func (w *WAL) IsMonotonic() bool { return true }

// Close waits for queued writes, stops background work and closes the
// files. Every later call returns ErrClosed.
func (w *WAL) Close() error {
	w.wmu.Lock()
	defer w.wmu.Unlock()
	if w.closed.Load() {
		return nil
	}
	w.commitLocked()
	w.closed.Store(true)
	close(w.stop)
	w.bg.Wait()
	w.spares.discardAll()
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.closeFiles()
}

// closeFiles closes the segments and releases the directory lock.
func (w *WAL) closeFiles() error {
	var errs []error
	for _, s := range w.segs {
		errs = append(errs, s.f.Close())
	}
	w.segs = nil
	w.first, w.last = 0, 0
	if w.lockF != nil {
		errs = append(errs, w.lockF.Close())
	}
	return errors.Join(errs...)
}

// fail records err as the reason the store refuses writes from now on
// (keeping the first reason) and returns err.
func (w *WAL) fail(err error) error {
	w.failure.CompareAndSwap(nil, &err)
	return err
}

// writable returns why writes are refused, or nil.
func (w *WAL) writable() error {
	if w.closed.Load() {
		return ErrClosed
	}
	if p := w.failure.Load(); p != nil {
		return fmt.Errorf("%w: %w", ErrFailed, *p)
	}
	return nil
}
