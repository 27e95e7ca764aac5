package raft

// This file owns raft's access to its log: reading entries and terms through
// the in-memory tail with the LogStore behind it, the follower's appends and
// truncations, and the leader's log writer, which makes entries durable in the
// background while they are already on their way to the followers (thesis
// section 10.2.1).

import (
	"errors"
	"fmt"
	"sync"

	metrics "github.com/armon/go-metrics"
)

// entry returns the entry at index. Any goroutine may call it.
func (r *Raft) entry(index uint64) (*Log, error) {
	if e, ok := r.tail.get(index); ok {
		return e, nil
	}
	e := new(Log)
	if err := r.logs.GetLog(index, e); err != nil {
		return nil, fmt.Errorf("raft: read log entry %d: %w", index, err)
	}
	return e, nil
}

// entries appends to dst up to max entries from index from on. It returns
// fewer when the log ends, and an error wrapping ErrLogNotFound when from was
// compacted away. Any goroutine may call it.
func (r *Raft) entries(dst []*Log, from, last uint64, max int) ([]*Log, error) {
	n := int(min(uint64(max), last-from+1))
	if from > last {
		return dst, nil
	}
	start := len(dst)
	dst = r.tail.copyRange(dst, from, n)
	for i := len(dst) - start; i < n; i++ {
		e, err := r.entry(from + uint64(i))
		if err != nil {
			return dst, err
		}
		dst = append(dst, e)
	}
	return dst, nil
}

// termAt returns the term of the entry at index, from the log or the
// snapshot. Main loop only (it reads snapIndex).
func (r *Raft) termAt(index uint64) (uint64, bool) {
	switch {
	case index == 0:
		return 0, true
	case index == r.snapIndex:
		return r.snapTerm, true
	case index > r.lastIndex:
		return 0, false
	}
	e, err := r.entry(index)
	if err != nil {
		if !errors.Is(err, ErrLogNotFound) {
			r.logger.Error("failed to read log entry", "index", index, "error", err)
		}
		return 0, false
	}
	return e.Term, true
}

// storeEntries appends entries to the log durably and then to the tail.
// Main loop only; used by followers, whose acknowledgement must follow the
// write.
func (r *Raft) storeEntries(es []*Log) error {
	if err := r.storageFailed(); err != nil {
		return err
	}
	assert(es[0].Index == r.lastIndex+1, "appending entries that do not continue the log",
		"first", es[0].Index, "last", r.lastIndex)
	r.stageCommit(r.commit)
	if err := r.logs.StoreLogs(es); err != nil {
		return r.failStorage("store log entries", err)
	}
	last := es[len(es)-1]
	r.tail.append(es)
	r.setLastLog(last.Index, last.Term)
	r.durableIndex.Store(last.Index)
	r.tail.evict(last.Index)
	return nil
}

// stageCommit hands the commit index to a CommitTrackingLogStore, which
// persists it with the next write.
func (r *Raft) stageCommit(index uint64) {
	if ct, ok := r.logs.(CommitTrackingLogStore); ok && index > 0 {
		if err := ct.StageCommitIndex(index); err != nil {
			r.logger.Warn("failed to stage commit index", "index", index, "error", err)
		}
	}
}

// truncateFrom deletes the entries at index and above (a follower discarding
// a conflicting suffix). Main loop only.
func (r *Raft) truncateFrom(index uint64) error {
	assert(index > r.commit, "truncating committed entries", "from", index, "commit", r.commit)
	if err := r.logs.DeleteRange(index, r.lastIndex); err != nil {
		return r.failStorage("truncate log", err)
	}
	r.tail.truncateFrom(index)
	prevTerm, _ := r.termAt(index - 1)
	r.setLastLog(index-1, prevTerm)
	r.durableIndex.Store(min(r.durableIndex.Load(), index-1))
	return nil
}

// logWriter is the leader's background writer. The main loop queues entries
// (already in the tail and on their way to followers); the writer stores
// everything queued with one StoreLogs, so concurrent Apply batches share one
// write and one sync, then publishes the durable index and wakes the main
// loop, which counts it toward the commit index like a follower's match.
type logWriter struct {
	r      *Raft
	wake   chan<- struct{} // the leader's commit notification
	notify chan struct{}   // cap 1: work queued or stopping
	done   chan struct{}   // closed when the writer exits

	mu      sync.Mutex
	pending []*Log // guarded by mu
	stopped bool   // guarded by mu; no more entries will come
}

// newLogWriter starts a writer on a tracked goroutine.
func (r *Raft) newLogWriter(wake chan<- struct{}) *logWriter {
	w := &logWriter{r: r, wake: wake, notify: make(chan struct{}, 1), done: make(chan struct{})}
	r.goFunc(w.run)
	return w
}

// queue hands entries to the writer. Main loop only.
func (w *logWriter) queue(es []*Log) {
	w.mu.Lock()
	w.pending = append(w.pending, es...)
	w.mu.Unlock()
	select {
	case w.notify <- struct{}{}:
	default:
	}
}

// stop waits until everything queued is written (or failed) and the writer
// has exited, so that the log is settled before another role touches it.
func (w *logWriter) stop() {
	w.mu.Lock()
	w.stopped = true
	w.mu.Unlock()
	select {
	case w.notify <- struct{}{}:
	default:
	}
	<-w.done
}

func (w *logWriter) run() {
	defer close(w.done)
	var batch []*Log
	for range w.notify {
		for {
			commit := w.r.pubCommit.Load() // read before taking the batch: commit <= its last index
			w.mu.Lock()
			batch, w.pending = w.pending, batch[:0]
			stopped := w.stopped
			w.mu.Unlock()
			if len(batch) > 0 {
				w.write(batch, commit)
				clear(batch)
				continue
			}
			if stopped {
				return
			}
			break
		}
	}
}

// write stores one batch and publishes the outcome.
func (w *logWriter) write(batch []*Log, commit uint64) {
	r := w.r
	if r.storageFailed() == nil {
		r.stageCommit(commit)
		if err := r.logs.StoreLogs(batch); err != nil {
			r.failStorage("store log entries", err)
		} else {
			last := batch[len(batch)-1].Index
			r.durableIndex.Store(last)
			r.tail.evict(last)
			metrics.AddSample(keyDispatchNumLogs, float32(len(batch)))
			if last <= r.pubCommit.Load() {
				return // followers committed it already: nothing for the main loop
			}
		}
	}
	select {
	case w.wake <- struct{}{}:
	default:
	}
}
