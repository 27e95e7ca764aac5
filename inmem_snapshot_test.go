package raft

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"testing"
)

var testSnapshotConfiguration = Configuration{Servers: []Server{
	{Suffrage: Voter, ID: "a", Address: "10.0.0.1:8300"},
	{Suffrage: Nonvoter, ID: "b", Address: "10.0.0.2:8300"},
	{Suffrage: Staging, ID: "c", Address: "10.0.0.3:8300"},
}}

// writeTestSnapshot creates a snapshot at index and term holding data,
// written in uneven chunks, and closes it.
func writeTestSnapshot(t testing.TB, s SnapshotStore, index, term uint64, data []byte) string {
	t.Helper()
	sink, err := s.Create(SnapshotVersionMax, index, term, testSnapshotConfiguration, index-1, nil)
	if err != nil {
		t.Fatal(err)
	}
	for rest := data; len(rest) > 0; {
		n := min(len(rest), 1000)
		if w, err := sink.Write(rest[:n]); err != nil || w != n {
			t.Fatalf("Write = %d, %v; want %d", w, err, n)
		}
		rest = rest[n:]
	}
	if err := sink.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	return sink.ID()
}

// createTestSink creates a snapshot at index and term 1 and writes data to
// it, leaving it open.
func createTestSink(t testing.TB, s SnapshotStore, index uint64, data []byte) SnapshotSink {
	t.Helper()
	sink, err := s.Create(SnapshotVersionMax, index, 1, testSnapshotConfiguration, index-1, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sink.Write(data); err != nil {
		t.Fatal(err)
	}
	return sink
}

// readTestSnapshot opens id and returns its metadata and data.
func readTestSnapshot(t testing.TB, s SnapshotStore, id string) (*SnapshotMeta, []byte) {
	t.Helper()
	meta, rc, err := s.Open(id)
	if err != nil {
		t.Fatalf("Open(%s): %v", id, err)
	}
	defer rc.Close()
	data, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("read %s: %v", id, err)
	}
	return meta, data
}

func checkTestMeta(t testing.TB, meta *SnapshotMeta, id string, index, term uint64, size int) {
	t.Helper()
	if meta.ID != id || meta.Index != index || meta.Term != term || meta.Size != int64(size) ||
		meta.Version != SnapshotVersionMax || meta.ConfigurationIndex != index-1 ||
		!reflect.DeepEqual(meta.Configuration, testSnapshotConfiguration) {
		t.Fatalf("meta = %+v; want ID %s index %d term %d size %d and the test configuration", meta, id, index, term, size)
	}
}

// testSnapshotStoreContract checks what raft expects of any SnapshotStore
// that keeps snapshots. newStore returns an empty store.
func testSnapshotStoreContract(t *testing.T, newStore func(t *testing.T) SnapshotStore) {
	t.Run("round trip", func(t *testing.T) {
		s := newStore(t)
		if l, err := s.List(); err != nil || len(l) != 0 {
			t.Fatalf("List of empty store = %v, %v", l, err)
		}
		data := bytes.Repeat([]byte("snapshot data "), 500)
		id := writeTestSnapshot(t, s, 10, 3, data)
		list, err := s.List()
		if err != nil || len(list) != 1 {
			t.Fatalf("List = %v, %v; want one snapshot", list, err)
		}
		checkTestMeta(t, list[0], id, 10, 3, len(data))
		meta, got := readTestSnapshot(t, s, id)
		checkTestMeta(t, meta, id, 10, 3, len(data))
		if !bytes.Equal(got, data) {
			t.Fatalf("read %d bytes, want the %d written", len(got), len(data))
		}
		meta.Configuration.Servers[0].ID = "mutated" // the store's copy is its own
		_, _ = readTestSnapshot(t, s, id)
		if list, _ := s.List(); list[0].Configuration.Servers[0].ID != "a" {
			t.Fatalf("caller's change to the meta reached the store: %+v", list[0])
		}
	})
	t.Run("newest first", func(t *testing.T) {
		s := newStore(t)
		writeTestSnapshot(t, s, 10, 3, []byte("old"))
		id := writeTestSnapshot(t, s, 20, 3, []byte("new"))
		list, err := s.List()
		if err != nil || len(list) == 0 || list[0].ID != id {
			t.Fatalf("List = %v, %v; want %s first", list, err, id)
		}
	})
	t.Run("visible only after close", func(t *testing.T) {
		s := newStore(t)
		sink := createTestSink(t, s, 5, []byte("pending"))
		if l, _ := s.List(); len(l) != 0 {
			t.Fatalf("List before Close = %v", l)
		}
		if _, _, err := s.Open(sink.ID()); err == nil {
			t.Fatal("Open before Close succeeded")
		}
		if err := sink.Close(); err != nil {
			t.Fatal(err)
		}
		if err := sink.Close(); err != nil {
			t.Fatalf("second Close = %v", err)
		}
		if err := sink.Cancel(); err != nil {
			t.Fatalf("Cancel after Close = %v", err)
		}
		if _, data := readTestSnapshot(t, s, sink.ID()); string(data) != "pending" {
			t.Fatalf("data = %q", data)
		}
		if _, err := sink.Write([]byte("late")); !errors.Is(err, errSinkDone) {
			t.Fatalf("Write after Close = %v, want errSinkDone", err)
		}
	})
	t.Run("cancel discards", func(t *testing.T) {
		s := newStore(t)
		sink := createTestSink(t, s, 5, []byte("doomed"))
		if err := sink.Cancel(); err != nil {
			t.Fatal(err)
		}
		if err := sink.Cancel(); err != nil {
			t.Fatalf("second Cancel = %v", err)
		}
		if err := sink.Close(); err != nil {
			t.Fatalf("Close after Cancel = %v", err)
		}
		if l, _ := s.List(); len(l) != 0 {
			t.Fatalf("List after Cancel = %v", l)
		}
		if _, err := sink.Write([]byte("late")); !errors.Is(err, errSinkDone) {
			t.Fatalf("Write after Cancel = %v, want errSinkDone", err)
		}
	})
	t.Run("unknown id and version", func(t *testing.T) {
		s := newStore(t)
		if _, _, err := s.Open("1-2-3"); !errors.Is(err, errSnapshotNotFound) {
			t.Fatalf("Open(unknown) = %v, want errSnapshotNotFound", err)
		}
		for _, v := range []SnapshotVersion{0, 2} {
			if _, err := s.Create(v, 1, 1, Configuration{}, 0, nil); !errors.Is(err, errSnapshotVersion) {
				t.Fatalf("Create(version %d) = %v, want errSnapshotVersion", v, err)
			}
		}
	})
	t.Run("unique ids", func(t *testing.T) {
		s := newStore(t)
		seen := map[string]bool{}
		for range 5 {
			id := writeTestSnapshot(t, s, 7, 7, []byte("same index"))
			if seen[id] {
				t.Fatalf("ID %s handed out twice", id)
			}
			seen[id] = true
		}
	})
}

func TestInmemSnapshotStore(t *testing.T) {
	testSnapshotStoreContract(t, func(*testing.T) SnapshotStore { return NewInmemSnapshotStore() })
}

func TestInmemSnapshotStoreKeepsLatestOnly(t *testing.T) {
	s := NewInmemSnapshotStore()
	old := writeTestSnapshot(t, s, 10, 1, []byte("old"))
	latest := writeTestSnapshot(t, s, 20, 1, []byte("latest"))
	if l, _ := s.List(); len(l) != 1 || l[0].ID != latest {
		t.Fatalf("List = %v; want only %s", l, latest)
	}
	if _, _, err := s.Open(old); !errors.Is(err, errSnapshotNotFound) {
		t.Fatalf("Open(old) = %v, want errSnapshotNotFound", err)
	}
	// Two readers of one snapshot do not disturb each other.
	_, r1, err := s.Open(latest)
	if err != nil {
		t.Fatal(err)
	}
	_, r2, err := s.Open(latest)
	if err != nil {
		t.Fatal(err)
	}
	d1, _ := io.ReadAll(r1)
	d2, _ := io.ReadAll(r2)
	if string(d1) != "latest" || string(d2) != "latest" {
		t.Fatalf("readers got %q and %q", d1, d2)
	}
}

func BenchmarkInmemSnapshotSinkWrite(b *testing.B) {
	benchmarkSinkWrite(b, NewInmemSnapshotStore())
}

// benchmarkSinkWrite measures writing a 4 MiB snapshot in 64 KiB chunks.
func benchmarkSinkWrite(b *testing.B, s SnapshotStore) {
	const size, chunk = 4 << 20, 64 << 10
	buf := bytes.Repeat([]byte{0xa5}, chunk)
	b.ReportAllocs()
	b.SetBytes(size)
	for i := 0; b.Loop(); i++ {
		sink, err := s.Create(SnapshotVersionMax, uint64(i+1), 1, testSnapshotConfiguration, 1, nil)
		if err != nil {
			b.Fatal(err)
		}
		for range size / chunk {
			if _, err := sink.Write(buf); err != nil {
				b.Fatal(fmt.Errorf("write: %w", err))
			}
		}
		if err := sink.Close(); err != nil {
			b.Fatal(err)
		}
	}
}
