package wal

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/raftkit/raft"
)

// validSegment returns the bytes of a segment holding a few records.
func validSegment(tb testing.TB, zeros int) []byte {
	hdr := segHeader{salt: 0x1234, seq: 1, first: 5}
	seed := saltSeed(hdr.salt)
	b := make([]byte, segHeaderSize)
	encodeSegHeader(b, hdr)
	for i := uint64(5); i < 9; i++ {
		l := entry(i, 2, int(i*10))
		rec := make([]byte, recordSize(l))
		flags := uint8(0)
		if i == 5 || i == 7 {
			flags = flagFirstOfWrite
		}
		encodeRecord(rec, seed, l, i-1, flags)
		b = append(b, rec...)
	}
	return append(b, make([]byte, zeros)...)
}

func FuzzDecodeSegHeader(f *testing.F) {
	f.Add(validSegment(f, 0)[:segHeaderSize])
	f.Add([]byte(segMagic))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := decodeSegHeader(b)
		if err != nil {
			return
		}
		again := make([]byte, segHeaderSize)
		encodeSegHeader(again, h)
		if !bytes.Equal(again, b[:segHeaderSize]) {
			t.Fatalf("header %+v re-encodes differently", h)
		}
	})
}

func FuzzDecodeRecord(f *testing.F) {
	seg := validSegment(f, 0)
	f.Add(seg[segHeaderSize:], uint32(0x1234))
	f.Add([]byte{48, 0, 0, 0, 1, 2, 3, 4}, uint32(0))
	f.Fuzz(func(t *testing.T, b []byte, salt uint32) {
		seed := saltSeed(salt)
		var l raft.Log
		m, err := checkRecord(b, seed)
		derr := decodeRecord(b, seed, &l)
		if (err == nil) != (derr == nil) {
			t.Fatalf("checkRecord: %v, decodeRecord: %v", err, derr)
		}
		if err != nil {
			return
		}
		if m.size > len(b) || m.size%recAlign != 0 || m.index != l.Index {
			t.Fatalf("record meta %+v for %d bytes, index %d", m, len(b), l.Index)
		}
		again := make([]byte, recordSize(&l))
		encodeRecord(again, seed, &l, m.commit, m.flags)
		var l2 raft.Log
		if err := decodeRecord(again, seed, &l2); err != nil {
			t.Fatalf("re-encoded record does not decode: %v", err)
		}
		if d := sameLog(&l2, &l); d != "" {
			t.Fatalf("record changes on re-encoding: %s", d)
		}
	})
}

func FuzzScanSegment(f *testing.F) {
	seg := validSegment(f, 200)
	f.Add(seg, true)
	f.Add(seg, false)
	torn := bytes.Clone(seg)
	copy(torn[len(torn)-300:], make([]byte, 64))
	f.Add(torn, true)
	f.Fuzz(func(t *testing.T, b []byte, last bool) {
		r, err := scanSegment(b, last)
		if err != nil {
			return
		}
		if r.end > int64(len(b)) || r.end < segHeaderSize {
			t.Fatalf("end %d outside [%d, %d]", r.end, segHeaderSize, len(b))
		}
		prev := uint32(0)
		for _, off := range r.offsets {
			if off <= prev || int64(off) >= r.end {
				t.Fatalf("offsets %v with end %d", r.offsets, r.end)
			}
			prev = off
		}
		if r.torn && !last {
			t.Fatal("a sealed segment was found torn")
		}
	})
}

// FuzzOpen writes arbitrary bytes as the only segment and opens the WAL:
// it must fail or succeed, never panic, and what it opens must be readable.
func FuzzOpen(f *testing.F) {
	f.Add(validSegment(f, 100))
	f.Add(validSegment(f, 0)[:100])
	f.Fuzz(func(t *testing.T, b []byte) {
		dir := t.TempDir()
		os.MkdirAll(filepath.Join(dir, subdir), 0o755)
		name := filepath.Join(dir, subdir, segName(1, 5))
		if err := os.WriteFile(name, b, 0o644); err != nil {
			t.Fatal(err)
		}
		w, err := Open(dir, WithSync(false), WithCacheEntries(0))
		if err != nil {
			return
		}
		defer w.Close()
		first, _ := w.FirstIndex()
		last, _ := w.LastIndex()
		for i := first; i <= last && i != 0; i++ {
			var l raft.Log
			if err := w.GetLog(i, &l); err != nil {
				t.Fatalf("GetLog(%d) in [%d, %d]: %v", i, first, last, err)
			}
		}
	})
}

func FuzzDecodeStable(f *testing.F) {
	f.Add(encodeStable(map[string][]byte{"CurrentTerm": {0, 0, 0, 0, 0, 0, 0, 3}, "x": nil}))
	f.Add([]byte(stableMagic))
	f.Fuzz(func(t *testing.T, b []byte) {
		vals, err := decodeStable(b)
		if err != nil {
			return
		}
		again, err := decodeStable(encodeStable(vals))
		if err != nil || len(again) != len(vals) {
			t.Fatalf("%d values re-decode as %d: %v", len(vals), len(again), err)
		}
		for k, v := range vals {
			if !bytes.Equal(again[k], v) {
				t.Fatalf("key %q changes on re-encoding", k)
			}
		}
	})
}

func FuzzDecodeHead(f *testing.F) {
	f.Add(encodeHead(head{first: 10, commit: 7}))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := decodeHead(b)
		if err != nil {
			return
		}
		if !bytes.Equal(encodeHead(h), b) {
			t.Fatalf("head %+v re-encodes differently", h)
		}
	})
}
