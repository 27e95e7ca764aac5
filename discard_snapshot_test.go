package raft

import (
	"errors"
	"testing"
)

func TestDiscardSnapshotStore(t *testing.T) {
	var s SnapshotStore = NewDiscardSnapshotStore()
	sink, err := s.Create(SnapshotVersionMax, 10, 1, testSnapshotConfiguration, 9, nil)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := sink.Write([]byte("dropped")); n != 7 || err != nil {
		t.Fatalf("Write = %d, %v", n, err)
	}
	if sink.ID() != "discard" {
		t.Fatalf("ID = %q", sink.ID())
	}
	if err := sink.Close(); err != nil {
		t.Fatalf("Close = %v", err)
	}
	if err := sink.Cancel(); err != nil {
		t.Fatalf("Cancel = %v", err)
	}
	if l, err := s.List(); len(l) != 0 || err != nil {
		t.Fatalf("List = %v, %v; want nothing", l, err)
	}
	meta, rc, err := s.Open("discard")
	if meta != nil || rc != nil || !errors.Is(err, errDiscardOpen) {
		t.Fatalf("Open = %v, %v, %v; want errDiscardOpen", meta, rc, err)
	}
}
