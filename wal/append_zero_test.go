package wal

import (
	"bytes"
	"testing"

	"github.com/raftkit/raft"
)

// TestZeroAhead checks that writes into space fallocate only reserved are
// preceded by zeros written ahead, and that the data stays intact.
func TestZeroAhead(t *testing.T) {
	for _, zero := range []bool{true, false} {
		dir := t.TempDir()
		w, err := Open(dir, WithZeroFill(zero))
		if err != nil {
			t.Fatal(err)
		}
		for i := uint64(0); i < 50; i++ {
			if err := w.StoreLogs(entries(i*64+1, i*64+64, 1, 128)); err != nil {
				t.Fatal(err)
			}
		}
		s := w.tailLocked()
		switch {
		case zero && s.written < s.end+1:
			t.Errorf("zero fill: written %d, end %d: no zeros ahead of the data", s.written, s.end)
		case zero && s.written-s.end > zeroAhead:
			t.Errorf("zero fill: written %d runs more than %d past end %d", s.written, zeroAhead, s.end)
		case !zero && s.written != 0 && s.written > s.end:
			t.Errorf("without zero fill, written %d passes end %d", s.written, s.end)
		}
		w.Close()
		// Everything reads back after a reopen: the zeros never cover data.
		w, err = Open(dir, WithZeroFill(zero))
		if err != nil {
			t.Fatal(err)
		}
		want := entries(1, 50*64, 1, 128)
		for _, e := range want {
			var got raft.Log
			if err := w.GetLog(e.Index, &got); err != nil || got.Term != e.Term || !bytes.Equal(got.Data, e.Data) {
				t.Fatalf("entry %d after reopen: %v %+v", e.Index, err, got)
			}
		}
		w.Close()
	}
}
