package wal

// This file owns the write path: StoreLogs with group commit.
//
// A caller queues its entries (checking under qmu that they continue the
// log, so the queue order is the log order), then takes wmu. Whoever holds
// wmu with a non-empty queue is the leader: it takes every queued request,
// encodes them into one buffer, writes it with one pwrite and syncs it with
// one fdatasync, publishes the entries to readers, and marks each request
// done. Callers that queued while a leader was syncing find their request
// done, or become the next leader and share the next sync. The next write
// starts only after the previous one is synced (recovery relies on it, see
// segment.go).

import (
	"fmt"
	"math/rand/v2"
	"path/filepath"

	"github.com/raftkit/raft"
)

// request is one StoreLogs call waiting in the queue. done and err are
// guarded by WAL.wmu.
type request struct {
	logs []*raft.Log
	done bool
	err  error
}

// StoreLog stores one entry durably.
func (w *WAL) StoreLog(l *raft.Log) error {
	return w.StoreLogs([]*raft.Log{l})
}

// StoreLogs appends entries with consecutive indexes continuing the log
// (or, on an empty log, starting anywhere). When it returns nil they are
// durable. The WAL keeps the entries' Data and Extensions slices, which the
// caller must not modify afterwards.
func (w *WAL) StoreLogs(logs []*raft.Log) error {
	if len(logs) == 0 {
		return nil
	}
	req := &request{logs: logs}
	if err := w.enqueue(req); err != nil {
		return err
	}
	return w.await(req)
}

// await returns once req is written, by this caller or by the leader of
// the group it joined.
func (w *WAL) await(req *request) error {
	w.wmu.Lock()
	defer w.wmu.Unlock()
	if !req.done {
		w.commitLocked()
	}
	return req.err
}

func (w *WAL) enqueue(req *request) error {
	logs := req.logs
	for i := 1; i < len(logs); i++ {
		if logs[i].Index != logs[i-1].Index+1 {
			return fmt.Errorf("%w: index %d follows %d", ErrOutOfOrder, logs[i].Index, logs[i-1].Index)
		}
	}
	if logs[0].Index == 0 {
		return fmt.Errorf("%w: index 0", ErrOutOfOrder)
	}
	w.qmu.Lock()
	defer w.qmu.Unlock()
	if err := w.writable(); err != nil {
		return err
	}
	if w.next != 0 && logs[0].Index != w.next {
		return fmt.Errorf("%w: got index %d, want %d", ErrOutOfOrder, logs[0].Index, w.next)
	}
	w.next = logs[len(logs)-1].Index + 1
	w.queue = append(w.queue, req)
	return nil
}

// commitLocked writes every queued request as one batch; wmu is held.
func (w *WAL) commitLocked() {
	w.qmu.Lock()
	reqs := w.queue
	w.queue = nil
	w.qmu.Unlock()
	if len(reqs) == 0 {
		return
	}
	err := w.writable()
	if err == nil {
		if err = w.writeBatchLocked(reqs); err != nil {
			err = w.fail(err)
		}
	}
	for _, r := range reqs {
		r.done, r.err = true, err
	}
}

// writeBatchLocked makes the requests durable and publishes them.
func (w *WAL) writeBatchLocked(reqs []*request) error {
	size := 0
	for _, r := range reqs {
		for _, l := range r.logs {
			size += recordSize(l)
		}
	}
	if int64(size) > maxSegmentBytes-segHeaderSize {
		return fmt.Errorf("raft: wal batch of %d bytes exceeds the largest segment", size)
	}
	commit := max(w.commitStaged.Load(), w.commitDurable.Load())
	tail := w.tailLocked()
	var err error
	if tail == nil || tail.end+int64(size) > tail.size {
		tail, err = w.rollLocked(reqs, size, commit)
	} else {
		err = w.appendLocked(tail, reqs, size, commit)
	}
	if err != nil {
		return err
	}
	w.commitDurable.Store(max(w.commitDurable.Load(), commit))
	w.spares.maybePrepare(tail)
	return nil
}

func (w *WAL) tailLocked() *segment {
	if len(w.segs) == 0 {
		return nil
	}
	return w.segs[len(w.segs)-1]
}

// appendLocked writes the batch at the end of the tail segment.
func (w *WAL) appendLocked(s *segment, reqs []*request, size int, commit uint64) error {
	b := w.encodeLocked(reqs, size, 0, s.seed, commit)
	if err := w.zeroAheadLocked(s, s.end+int64(len(b))); err != nil {
		return err
	}
	if _, err := s.f.WriteAt(b, s.end); err != nil {
		return fmt.Errorf("raft: wal write %s at %d: %w", s.path, s.end, err)
	}
	if err := w.datasync(s.f, s.path); err != nil {
		return err
	}
	w.publish(s, reqs, b, s.end)
	return nil
}

// zeroAhead is how far past a write the segment is written with zeros when
// the write reaches space that fallocate only reserved.
const zeroAhead = 256 << 10

// zeroAheadLocked makes sure the blocks up to upTo are written before data
// goes there: it writes zeros over [s.written, upTo+zeroAhead) when upTo
// passes s.written. Writing into reserved but unwritten space makes every
// fdatasync commit a block-mapping change to the journal (on ext4, about half
// again the cost of the sync); writing zeros ahead pays that once per
// zeroAhead bytes instead of once per write. The zeros are synced by the
// fdatasync that follows.
func (w *WAL) zeroAheadLocked(s *segment, upTo int64) error {
	if !w.opts.zeroFill || upTo <= s.written {
		return nil
	}
	to := min(s.size, upTo+zeroAhead)
	if w.zeros == nil {
		w.zeros = make([]byte, zeroAhead)
	}
	if _, err := s.f.WriteAt(w.zeros[:to-upTo], upTo); err != nil {
		return fmt.Errorf("raft: wal zero %s at %d: %w", s.path, upTo, err)
	}
	s.written = to
	return nil
}

// rollLocked starts a new segment with the batch: it writes the header and
// the records into a spare in one write, syncs it, and only then gives it
// its name, so a named segment never holds a torn first write.
func (w *WAL) rollLocked(reqs []*request, size int, commit uint64) (*segment, error) {
	first := reqs[0].logs[0].Index
	if err := w.maybeLowerHeadLocked(first); err != nil {
		return nil, err
	}
	sp, err := w.spares.take(int64(segHeaderSize + size))
	if err != nil {
		return nil, err
	}
	hdr := segHeader{salt: rand.Uint32(), seq: w.nextSeq, first: first}
	s := &segment{
		f: sp.f, path: filepath.Join(w.dir, segName(hdr.seq, first)), seq: hdr.seq,
		first: first, seed: saltSeed(hdr.salt), size: sp.size, written: sp.written,
	}
	b := w.encodeLocked(reqs, size, segHeaderSize, s.seed, commit)
	encodeSegHeader(b, hdr)
	s.written = max(s.written, int64(len(b)))
	if err := w.zeroAheadLocked(s, int64(len(b))); err != nil {
		w.spares.discard(sp)
		return nil, err
	}
	if err := w.writeSpare(sp, s, b); err != nil {
		w.spares.discard(sp)
		return nil, err
	}
	w.nextSeq++
	w.mu.Lock()
	w.segs = append(w.segs, s)
	w.mu.Unlock()
	w.publish(s, reqs, b[segHeaderSize:], segHeaderSize)
	return s, nil
}

func (w *WAL) writeSpare(sp *spare, s *segment, b []byte) error {
	if _, err := sp.f.WriteAt(b, 0); err != nil {
		return fmt.Errorf("raft: wal write %s: %w", sp.path, err)
	}
	if err := w.datasync(sp.f, sp.path); err != nil {
		return err
	}
	if err := w.fs.Rename(sp.path, s.path); err != nil {
		return fmt.Errorf("raft: wal rename %s: %w", sp.path, err)
	}
	return w.syncDir()
}

// maybeLowerHeadLocked rewrites the head file before an empty log restarts
// below the recorded head, which would otherwise hide the new entries on the
// next Open.
func (w *WAL) maybeLowerHeadLocked(first uint64) error {
	if len(w.segs) != 0 || first >= w.headFirst {
		return nil
	}
	return w.writeHeadLocked(head{first: first, commit: w.commitDurable.Load()})
}

// encodeLocked encodes the requests' entries into w.buf after a gap of pre
// bytes and returns the whole buffer.
func (w *WAL) encodeLocked(reqs []*request, size, pre int, seed uint32, commit uint64) []byte {
	if cap(w.buf) < pre+size {
		w.buf = make([]byte, pre+size)
	}
	b := w.buf[:pre+size]
	p := pre
	flags := uint8(flagFirstOfWrite)
	for _, r := range reqs {
		for _, l := range r.logs {
			n := recordSize(l)
			encodeRecord(b[p:p+n], seed, l, commit, flags)
			flags = 0
			p += n
		}
	}
	return b
}

func (w *WAL) datasync(f file, path string) error {
	if !w.opts.sync {
		return nil
	}
	if err := f.Datasync(); err != nil {
		return fmt.Errorf("raft: wal sync %s: %w", path, err)
	}
	return nil
}

// publish makes durable records visible to readers: records encodes the
// requests' entries, written at file offset off of s.
func (w *WAL) publish(s *segment, reqs []*request, records []byte, off int64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	p := 0
	for _, r := range reqs {
		for _, l := range r.logs {
			s.offsets = append(s.offsets, uint32(off)+uint32(p))
			p += recordSize(l)
			w.cache.add(l)
		}
	}
	s.end = off + int64(len(records))
	if w.first == 0 {
		w.first = s.first
	}
	w.last = s.last()
}
