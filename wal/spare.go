package wal

// This file owns spare segment files: files of the segment size, already
// preallocated and synced, that a roll to a new segment turns into the next
// segment by writing its header with the first batch and renaming it. One
// spare is prepared in the background ahead of need (by writing zeros, so
// that syncs of the new segment flush data only); when none is ready, a roll
// reserves a quarter-size one inline with fallocate, which is fast, so that
// the zero-filled spare takes over soon. Preparation starts when the tail
// segment is half full, so a WAL that is seldom written never writes a
// spare it does not need, and Open starts no disk-heavy work.

import (
	"fmt"
	"os"
	"path/filepath"
)

// spare is a preallocated, synced, nameless segment file.
type spare struct {
	done    chan struct{} // closed when preparation finished; then f, err are set
	f       file
	path    string
	size    int64
	written int64 // bytes written with zeros: size when zero-filled, else 0
	err     error
}

// spares tracks the spare being prepared in the background. Its fields
// are guarded by WAL.wmu; the background goroutine touches only its own
// *spare, and publishes it by closing done.
type spares struct {
	w       *WAL
	pending *spare
	n       uint64 // names spare files uniquely
}

func (sp *spares) init(w *WAL) { sp.w = w }

// maybePrepare starts preparing a spare in the background if none is and
// the tail segment s (nil if none) is at least half full.
func (sp *spares) maybePrepare(tail *segment) {
	w := sp.w
	if sp.pending != nil || w.closed.Load() || (tail != nil && tail.end < tail.size/2) {
		return
	}
	s := sp.newSpare(w.opts.segmentSize)
	sp.pending = s
	w.bg.Add(1)
	go func() {
		defer w.bg.Done()
		defer close(s.done)
		s.f, s.err = w.makeSpareFile(s.path, s.size, w.opts.zeroFill, w.stop)
		if w.opts.zeroFill {
			s.written = s.size
		}
	}()
}

func (sp *spares) newSpare(size int64) *spare {
	sp.n++
	name := fmt.Sprintf("spare-%d%s", sp.n, tmpSuffix)
	return &spare{done: make(chan struct{}), path: filepath.Join(sp.w.dir, name), size: size}
}

// take returns a spare of at least size bytes: the background one if it is
// ready and large enough, else one reserved now.
func (sp *spares) take(size int64) (*spare, error) {
	if s := sp.pending; s != nil {
		select {
		case <-s.done:
			switch {
			case s.err != nil:
				sp.pending = nil
				sp.discard(s)
			case s.size >= size:
				sp.pending = nil
				return s, nil
			}
			// else too small for this batch: keep it for the next roll
		default: // still being written: keep it for the next roll
		}
	}
	// A short segment, so that the zero-filled spare takes over soon.
	s := sp.newSpare(max(size, sp.w.opts.segmentSize/4))
	f, err := sp.w.makeSpareFile(s.path, s.size, false, nil)
	if err != nil {
		return nil, err
	}
	s.f = f
	return s, nil
}

// discard closes and removes a spare that will not be used.
func (sp *spares) discard(s *spare) {
	if s.f != nil {
		s.f.Close()
		s.f = nil
	}
	sp.w.fs.Remove(s.path) // a leftover .tmp file is removed by the next Open anyway
}

// discardAll drops the pending spare; the background goroutine has exited.
func (sp *spares) discardAll() {
	if sp.pending != nil {
		sp.discard(sp.pending)
		sp.pending = nil
	}
}

// makeSpareFile creates path with size bytes reserved (and written with
// zeros if zero is set), synced so that later fdatasyncs of it need not
// record a size change.
func (w *WAL) makeSpareFile(path string, size int64, zero bool, stop <-chan struct{}) (file, error) {
	f, err := w.fs.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return nil, fmt.Errorf("raft: wal create %s: %w", path, err)
	}
	err = f.Allocate(0, size)
	if err == nil && zero {
		err = zeroFill(f, 0, size, stop)
	}
	select {
	case <-stop:
		err = ErrClosed // closing: a sync of the zeros would only delay Close
	default:
	}
	if err == nil && w.opts.sync {
		err = f.Sync()
	}
	if err != nil {
		f.Close()
		w.fs.Remove(path)
		return nil, fmt.Errorf("raft: wal prepare %s: %w", path, err)
	}
	return f, nil
}
