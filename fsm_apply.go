package raft

// This file owns the FSM goroutine: the only caller of the user's FSM. It
// takes tasks from a queue, in order: apply committed entries up to an index,
// restore a snapshot, take a snapshot. Because the queue is ordered, an FSM
// snapshot or restore never interleaves with applies, and entries are applied
// exactly once, in log order.

import (
	"fmt"
	"io"
	"sync"
	"time"

	metrics "github.com/armon/go-metrics"
)

// fsmTask is one of commitTask, restoreTask, snapshotTask.
type fsmTask interface{ fsmTask() }

// commitTask asks the FSM goroutine to apply entries up to index. futures
// holds, in index order, the futures of entries this server accepted as
// leader: their responses go back to the callers.
type commitTask struct {
	index   uint64
	futures []*logFuture
}

// restoreTask replaces the FSM's state with a snapshot. The FSM goroutine
// closes source and sends the outcome on done (buffered).
type restoreTask struct {
	meta   *SnapshotMeta
	source io.ReadCloser
	done   chan error
}

// snapshotTask asks for an FSM snapshot of the state applied so far.
type snapshotTask struct {
	done chan fsmSnapshotResult // buffered
}

// fsmSnapshotResult is an FSM snapshot and the point of the log it reflects.
type fsmSnapshotResult struct {
	snap        FSMSnapshot
	index, term uint64
	config      Configuration
	configIndex uint64
	err         error
}

func (commitTask) fsmTask()   {}
func (restoreTask) fsmTask()  {}
func (snapshotTask) fsmTask() {}

// fsmQueue hands tasks to the FSM goroutine without ever blocking the sender.
// Its length is bounded in practice: one commit task per commit-index
// advance, and the main loop waits for restores.
type fsmQueue struct {
	mu     sync.Mutex
	tasks  []fsmTask // guarded by mu
	closed bool      // guarded by mu; the FSM goroutine has ended
	notify chan struct{}
}

func (q *fsmQueue) init() { q.notify = make(chan struct{}, 1) }

// push queues t and wakes the FSM goroutine. Once the goroutine has ended, t
// is abandoned at once instead.
func (q *fsmQueue) push(t fsmTask) {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		abandon(t)
		return
	}
	q.tasks = append(q.tasks, t)
	q.mu.Unlock()
	select {
	case q.notify <- struct{}{}:
	default:
	}
}

// close is called by the FSM goroutine as it ends: queued tasks, and any
// pushed later, are abandoned.
func (q *fsmQueue) close() {
	q.mu.Lock()
	q.closed = true
	ts := q.tasks
	q.tasks = nil
	q.mu.Unlock()
	for _, t := range ts {
		abandon(t)
	}
}

// abandon releases a task that will never run: the futures of a commit task
// are answered (a logFuture must always be) and a restore's source is
// closed. Their waiters see raft's shutdown.
func abandon(t fsmTask) {
	switch t := t.(type) {
	case commitTask:
		for _, f := range t.futures {
			f.respond(ErrRaftShutdown)
		}
	case restoreTask:
		t.source.Close()
	}
}

// take returns the queued tasks, swapping in spare as the new queue.
func (q *fsmQueue) take(spare []fsmTask) []fsmTask {
	q.mu.Lock()
	defer q.mu.Unlock()
	ts := q.tasks
	q.tasks = spare[:0]
	return ts
}

// len returns the number of queued tasks.
func (q *fsmQueue) len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.tasks)
}

// fsmState is what the FSM goroutine knows of the state it applied.
type fsmState struct {
	index, term uint64 // last entry applied (or restored)
	config      Configuration
	configIndex uint64
}

// fsmRunner is the FSM goroutine's state.
type fsmRunner struct {
	r      *Raft
	st     fsmState
	batch  []*Log        // reused: entries of one apply call
	futs   []*logFuture  // reused: parallel to batch, nil where none
	resps  []interface{} // reused: the FSM's responses, parallel to batch
	failed error         // a committed entry could not be read: applying stops
}

// runFSM is the FSM goroutine.
func (r *Raft) runFSM() {
	f := &fsmRunner{r: r, st: r.fsmStart}
	var tasks []fsmTask
	for {
		select {
		case <-r.fsmQ.notify:
		case <-r.shutdownCh:
			r.fsmQ.close()
			return
		}
		tasks = r.fsmQ.take(tasks)
		for i, t := range tasks {
			f.run(t)
			tasks[i] = nil
		}
	}
}

// run performs one task.
func (f *fsmRunner) run(t fsmTask) {
	switch t := t.(type) {
	case commitTask:
		f.applyUpTo(t.index, t.futures)
	case restoreTask:
		t.done <- f.restore(t.meta, t.source)
	case snapshotTask:
		t.done <- f.snapshot()
	}
}

// applyUpTo applies the committed entries after the last applied one up to
// index, in batches of at most MaxAppendEntries.
func (f *fsmRunner) applyUpTo(index uint64, futures []*logFuture) {
	r := f.r
	for f.st.index < index && f.failed == nil {
		n := min(index-f.st.index, uint64(r.config().MaxAppendEntries))
		used, err := f.load(f.st.index+1, int(n), futures)
		futures = futures[used:]
		if err != nil {
			f.failed = r.failStorage(fmt.Sprintf("read committed entry %d", f.st.index+1), err)
			break
		}
		f.applyBatch()
	}
	// Futures left over were not applied here: reading the log failed, or
	// a snapshot restore had already carried the FSM past their entries.
	err := f.failed
	if err == nil {
		err = ErrAbortedByRestore
	}
	for _, fu := range futures {
		fu.respond(err)
	}
}

// load fills f.batch and f.futs with n entries from index first, taking the
// entries of futures where there is one (the leader's own, in memory) and
// reading the others from the log tail or the LogStore. It returns how many
// futures it consumed.
func (f *fsmRunner) load(first uint64, n int, futures []*logFuture) (int, error) {
	f.batch, f.futs = f.batch[:0], f.futs[:0]
	fi := 0
	for i := 0; i < n; i++ {
		idx := first + uint64(i)
		if fi == len(futures) {
			// No future left (on a follower, none at all): read the rest
			// in one go, taking the tail's lock once.
			var err error
			f.batch, err = f.r.entries(f.batch, idx, first+uint64(n)-1, n-i)
			for len(f.futs) < len(f.batch) {
				f.futs = append(f.futs, nil)
			}
			return fi, err
		}
		for fi < len(futures) && futures[fi].log.Index < idx {
			// A snapshot restore carried the FSM past this entry.
			futures[fi].respond(ErrAbortedByRestore)
			fi++
		}
		if fi < len(futures) && futures[fi].log.Index == idx {
			f.batch = append(f.batch, &futures[fi].log)
			f.futs = append(f.futs, futures[fi])
			fi++
			continue
		}
		e, err := f.r.entry(idx)
		if err != nil {
			return fi, err
		}
		f.batch = append(f.batch, e)
		f.futs = append(f.futs, nil)
	}
	return fi, nil
}

// applyBatch gives the loaded entries to the FSM and answers their futures.
func (f *fsmRunner) applyBatch() {
	start := time.Now()
	// When the leader appended the batch's last entry of its own, read
	// before the FSM sees the entry and its future is answered.
	var dispatched time.Time
	for i := len(f.futs) - 1; i >= 0; i-- {
		if fu := f.futs[i]; fu != nil {
			dispatched = fu.log.AppendedAt
			break
		}
	}
	responses := f.applyToFSM()
	for i, e := range f.batch {
		if e.Type == LogConfiguration {
			f.noteConfiguration(e)
		}
		if fu := f.futs[i]; fu != nil {
			fu.answer(responses[i])
		}
	}
	if !dispatched.IsZero() {
		metrics.MeasureSince(keyCommitTime, dispatched)
	}
	last := f.batch[len(f.batch)-1]
	f.st.index, f.st.term = last.Index, last.Term
	f.r.lastApplied.Store(last.Index)
	metrics.MeasureSince(keyFSMApply, start)
	clear(f.batch)
	clear(f.futs)
	clear(f.resps[:cap(f.resps)])
}

// applyToFSM calls the FSM for the entries it must see: commands, and
// configurations for a ConfigurationStore or BatchingFSM. It returns one
// response per entry of the batch (nil for the others). With a plain FSM it
// answers each command's future as soon as the command is applied, and
// clears it from f.futs.
func (f *fsmRunner) applyToFSM() []interface{} {
	if cap(f.resps) < len(f.batch) {
		f.resps = make([]interface{}, len(f.batch))
	}
	responses := f.resps[:len(f.batch)]
	if bf, ok := f.r.fsm.(BatchingFSM); ok {
		f.applyBatching(bf, responses)
		return responses
	}
	cs, isCS := f.r.fsm.(ConfigurationStore)
	for i, e := range f.batch {
		switch {
		case e.Type == LogCommand:
			responses[i] = f.r.fsm.Apply(e)
			if fu := f.futs[i]; fu != nil {
				// Answer at once rather than after the batch: the caller
				// can send its next command while the rest is applied.
				f.r.lastApplied.Store(e.Index)
				fu.answer(responses[i])
				f.futs[i] = nil // answered: applyBatch skips it
			}
		case e.Type == LogConfiguration && isCS:
			if c, err := decodeConfiguration(e.Data); err == nil {
				cs.StoreConfiguration(e.Index, c)
			}
		}
	}
	return responses
}

// applyBatching gives a BatchingFSM its commands and configurations in one
// call.
func (f *fsmRunner) applyBatching(bf BatchingFSM, responses []interface{}) {
	var sub []*Log
	var pos []int
	for i, e := range f.batch {
		if e.Type == LogCommand || e.Type == LogConfiguration {
			sub = append(sub, e)
			pos = append(pos, i)
		}
	}
	if len(sub) == 0 {
		return
	}
	start := time.Now()
	out := bf.ApplyBatch(sub)
	metrics.MeasureSince(keyFSMApplyBatch, start)
	metrics.AddSample(keyFSMApplyBatchNum, float32(len(sub)))
	for j, i := range pos {
		if j < len(out) {
			responses[i] = out[j]
		}
	}
}

// noteConfiguration records a configuration the FSM passed, for snapshots.
func (f *fsmRunner) noteConfiguration(e *Log) {
	c, err := decodeConfiguration(e.Data)
	if err != nil {
		f.r.logger.Error("committed configuration entry does not decode", "index", e.Index, "error", err)
		return
	}
	f.st.config, f.st.configIndex = c, e.Index
}

// restore replaces the FSM state with a snapshot.
func (f *fsmRunner) restore(meta *SnapshotMeta, source io.ReadCloser) error {
	start := time.Now()
	if err := f.r.fsm.Restore(source); err != nil {
		return fmt.Errorf("raft: FSM restore of snapshot %s: %w", meta.ID, err)
	}
	metrics.MeasureSince([]string{"raft", "fsm", "restore"}, start)
	f.st = fsmState{index: meta.Index, term: meta.Term, config: meta.Configuration, configIndex: meta.ConfigurationIndex}
	f.r.lastApplied.Store(meta.Index)
	f.failed = nil
	return nil
}

// snapshot takes an FSM snapshot of the state applied so far.
func (f *fsmRunner) snapshot() fsmSnapshotResult {
	if f.st.index == 0 {
		return fsmSnapshotResult{err: ErrNothingNewToSnapshot}
	}
	start := time.Now()
	snap, err := f.r.fsm.Snapshot()
	metrics.MeasureSince([]string{"raft", "fsm", "snapshot"}, start)
	if err != nil {
		return fsmSnapshotResult{err: fmt.Errorf("raft: FSM snapshot: %w", err)}
	}
	return fsmSnapshotResult{snap: snap, index: f.st.index, term: f.st.term,
		config: f.st.config.Clone(), configIndex: f.st.configIndex}
}
