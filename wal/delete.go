package wal

// This file owns DeleteRange: from the head (compaction after a snapshot),
// from the tail (a follower discarding a conflicting suffix), or the whole
// log (after installing a snapshot). Each is ordered so that a crash at any
// point leaves a log that Open accepts and that is either the old log or
// the new one, or (for a tail cut) a log between the two: the old log
// without some of the suffix being removed.

import "fmt"

// DeleteRange removes the entries from min to max, both included. The range
// must reach the first or the last entry of the log.
func (w *WAL) DeleteRange(min, max uint64) error {
	w.wmu.Lock()
	defer w.wmu.Unlock()
	w.commitLocked() // decide on the whole log, queued entries included
	if err := w.writable(); err != nil {
		return err
	}
	first, last := w.first, w.last
	var err error
	switch {
	case last == 0 || min > max || max < first || min > last:
		return nil
	case min <= first && max >= last:
		err = w.deleteAllLocked(max + 1)
	case min <= first:
		err = w.deleteHeadLocked(max + 1)
	case max >= last:
		err = w.truncateTailLocked(min)
	default:
		return fmt.Errorf("%w: [%d, %d] inside [%d, %d]", ErrUnsupportedRange, min, max, first, last)
	}
	if err != nil {
		return w.fail(err)
	}
	return nil
}

// deleteAllLocked empties the log. The head file is written first, so a
// crash before every segment is removed leaves segments that Open
// recognises as deleted. The log may restart at any index afterwards.
func (w *WAL) deleteAllLocked(newFirst uint64) error {
	h := head{first: newFirst, commit: max(w.commitDurable.Load(), w.commitStaged.Load())}
	if err := w.writeHeadLocked(h); err != nil {
		return err
	}
	w.commitDurable.Store(h.commit)
	w.mu.Lock()
	segs := w.segs
	w.segs, w.first, w.last = nil, 0, 0
	w.cache.reset()
	w.mu.Unlock()
	w.setNext(0)
	return w.removeSegments(segs)
}

// deleteHeadLocked deletes the entries before newFirst, which is in the log:
// segments wholly before it are removed, and the head file hides the
// earlier entries of the segment holding it.
func (w *WAL) deleteHeadLocked(newFirst uint64) error {
	k := 0
	for w.segs[k].last() < newFirst {
		k++
	}
	if newFirst > w.segs[k].first {
		if err := w.writeHeadLocked(head{first: newFirst, commit: w.commitDurable.Load()}); err != nil {
			return err
		}
	}
	w.mu.Lock()
	dropped := w.segs[:k:k]
	w.segs = w.segs[k:]
	w.first = newFirst
	w.mu.Unlock()
	return w.removeSegments(dropped)
}

// truncateTailLocked deletes the entries from min on; first < min <= last.
// The head file first takes the commit index that the cut records may
// carry. Later segments go next (newest first, each followed by a directory
// sync), then the segment holding min is cut with ftruncate, which is
// atomic. A crash
// leaves the old log without some suffix: still a prefix of it.
func (w *WAL) truncateTailLocked(min uint64) error {
	k := len(w.segs) - 1
	for w.segs[k].first > min {
		k--
	}
	// The records being cut may carry the latest durable commit index.
	h := head{first: w.headFirst, commit: w.commitDurable.Load()}
	if err := w.writeHeadLocked(h); err != nil {
		return err
	}
	s := w.segs[k]
	whole := min == s.first // then k > 0, since min > first
	keep := k + 1
	if whole {
		keep = k
	}
	// Readers are locked out until the files agree with the new bounds.
	w.mu.Lock()
	defer w.mu.Unlock()
	dropped := w.segs[keep:]
	w.segs = w.segs[:keep:keep]
	w.last = min - 1
	w.cache.truncate(min - 1)
	w.setNext(min)
	for i := len(dropped) - 1; i >= 0; i-- {
		if err := w.removeSegments(dropped[i : i+1]); err != nil {
			return err
		}
	}
	if whole {
		return nil
	}
	off := int64(s.offsets[min-s.first])
	s.offsets = s.offsets[:min-s.first]
	s.end = off
	return s.cutTail(w.opts.sync)
}

func (w *WAL) setNext(next uint64) {
	w.qmu.Lock()
	w.next = next
	w.qmu.Unlock()
}
