package raft

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc64"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
)

// newTestFileStore opens a store in a fresh directory, logging into logs
// when it is not nil.
func newTestFileStore(t testing.TB, retain int, logs *bytes.Buffer) *FileSnapshotStore {
	t.Helper()
	logger := hclog.NewNullLogger()
	if logs != nil {
		logger = hclog.New(&hclog.LoggerOptions{Output: logs, Level: hclog.Trace})
	}
	s, err := NewFileSnapshotStoreWithLogger(t.TempDir(), retain, logger)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// dirNames returns the names in the store's snapshots directory, sorted.
func dirNames(t *testing.T, s *FileSnapshotStore) []string {
	t.Helper()
	entries, err := os.ReadDir(s.path)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

// hashicorpCRC is the checksum hashicorp/raft stores: CRC-64 with the ECMA
// table, as 8 big-endian bytes.
func hashicorpCRC(data []byte) []byte {
	return binary.BigEndian.AppendUint64(nil, crc64.Checksum(data, crc64.MakeTable(crc64.ECMA)))
}

// writeHashicorpSnapshot lays out a snapshot by hand, as hashicorp/raft's
// FileSnapshotStore writes it, with the meta.json text its encoder produces.
func writeHashicorpSnapshot(t *testing.T, snapshotsDir, id string, index, term uint64, data []byte) {
	t.Helper()
	dir := filepath.Join(snapshotsDir, id)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	meta := fmt.Sprintf(`{"Version":1,"ID":%q,"Index":%d,"Term":%d,"Peers":"kqoxMC4wLjAuMTo4MzAw",`+
		`"Configuration":{"Servers":[{"Suffrage":0,"ID":"a","Address":"10.0.0.1:8300"},`+
		`{"Suffrage":1,"ID":"b","Address":"10.0.0.2:8300"},{"Suffrage":2,"ID":"c","Address":"10.0.0.3:8300"}]},`+
		`"ConfigurationIndex":%d,"Size":%d,"CRC":%q}`+"\n",
		id, index, term, index-1, len(data), base64.StdEncoding.EncodeToString(hashicorpCRC(data)))
	if err := os.WriteFile(filepath.Join(dir, "meta.json"), []byte(meta), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "state.bin"), data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestFileSnapshotStoreContract(t *testing.T) {
	testSnapshotStoreContract(t, func(t *testing.T) SnapshotStore { return newTestFileStore(t, 3, nil) })
}

func TestNewFileSnapshotStore(t *testing.T) {
	for _, retain := range []int{0, -1} {
		if _, err := NewFileSnapshotStore(t.TempDir(), retain, io.Discard); !errors.Is(err, errSnapshotRetain) {
			t.Errorf("retain %d: err = %v, want errSnapshotRetain", retain, err)
		}
	}
	base := t.TempDir()
	s, err := NewFileSnapshotStore(base, 1, nil) // nil output means stderr
	if err != nil {
		t.Fatal(err)
	}
	if s.path != filepath.Join(base, "snapshots") {
		t.Fatalf("path = %s, want %s/snapshots", s.path, base)
	}
	if names := dirNames(t, s); len(names) != 0 {
		t.Fatalf("new store left %v behind", names)
	}
	file := filepath.Join(t.TempDir(), "a-file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := NewFileSnapshotStoreWithLogger(file, 1, nil); err == nil {
		t.Fatal("store under a regular file: no error")
	}
}

func TestFileSnapshotStoreRetainAndReap(t *testing.T) {
	s := newTestFileStore(t, 2, nil)
	var ids []string
	for i := range uint64(4) {
		ids = append(ids, writeTestSnapshot(t, s, 10*(i+1), 1, []byte{byte(i)}))
	}
	if got, want := dirNames(t, s), []string{ids[2], ids[3]}; !slices.Equal(got, want) {
		t.Fatalf("directories = %v, want the newest two %v", got, want)
	}
	list, err := s.List()
	if err != nil || len(list) != 2 || list[0].ID != ids[3] || list[1].ID != ids[2] {
		t.Fatalf("List = %v, %v; want %s, %s", list, err, ids[3], ids[2])
	}
	// A second store sharing the directory with retain 1 reaps down to one.
	s1, err := NewFileSnapshotStoreWithLogger(filepath.Dir(s.path), 1, hclog.NewNullLogger())
	if err != nil {
		t.Fatal(err)
	}
	if err := s1.ReapSnapshots(); err != nil {
		t.Fatal(err)
	}
	if got := dirNames(t, s); !slices.Equal(got, []string{ids[3]}) {
		t.Fatalf("after reap: %v, want [%s]", got, ids[3])
	}
}

func TestFileSnapshotStoreOrdering(t *testing.T) {
	s := newTestFileStore(t, 10, nil)
	// Written out of order; listed by term, then index, newest first.
	written := [][2]uint64{{5, 2}, {10, 1}, {7, 2}, {3, 3}, {12, 1}}
	want := [][2]uint64{{3, 3}, {7, 2}, {5, 2}, {12, 1}, {10, 1}}
	for _, it := range written {
		writeTestSnapshot(t, s, it[0], it[1], []byte("x"))
	}
	list, err := s.List()
	if err != nil {
		t.Fatal(err)
	}
	var got [][2]uint64
	for _, m := range list {
		got = append(got, [2]uint64{m.Index, m.Term})
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("List order (index, term) = %v, want %v", got, want)
	}
}

func TestFileSnapshotStoreDetectsCorruption(t *testing.T) {
	tests := []struct {
		name    string
		corrupt func(data []byte) []byte
	}{
		{"flipped bit", func(d []byte) []byte { d[len(d)/2] ^= 0x10; return d }},
		{"truncated", func(d []byte) []byte { return d[:len(d)-1] }},
		{"extended", func(d []byte) []byte { return append(d, 0) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logs bytes.Buffer
			s := newTestFileStore(t, 1, &logs)
			id := writeTestSnapshot(t, s, 10, 1, bytes.Repeat([]byte("state "), 1000))
			state := filepath.Join(s.path, id, "state.bin")
			data, err := os.ReadFile(state)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(state, tt.corrupt(data), 0o644); err != nil {
				t.Fatal(err)
			}
			meta, rc, err := s.Open(id)
			if meta != nil || rc != nil || !errors.Is(err, errSnapshotCorrupt) || !strings.Contains(err.Error(), id) {
				t.Fatalf("Open = %v, %v, %v; want errSnapshotCorrupt naming %s", meta, rc, err, id)
			}
			if !strings.Contains(logs.String(), id) {
				t.Fatalf("log does not name the snapshot: %s", logs.String())
			}
		})
	}
}

func TestFileSnapshotStoreSkipsBadMeta(t *testing.T) {
	tests := []struct {
		name string
		meta func(good []byte, id string) []byte
	}{
		{"not json", func([]byte, string) []byte { return []byte("{not json") }},
		{"empty", func([]byte, string) []byte { return nil }},
		{"trailing garbage", func(good []byte, _ string) []byte { return append(good, "}"...) }},
		{"other id", func(good []byte, id string) []byte { return bytes.Replace(good, []byte(id), []byte("9-9-9"), 1) }},
		{"version 2", func(good []byte, _ string) []byte {
			return bytes.Replace(good, []byte(`"Version":1`), []byte(`"Version":2`), 1)
		}},
		{"short crc", func(good []byte, _ string) []byte {
			return regexp.MustCompile(`"CRC":"[^"]*"`).ReplaceAll(good, []byte(`"CRC":"AAAA"`))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logs bytes.Buffer
			s := newTestFileStore(t, 5, &logs)
			good := writeTestSnapshot(t, s, 10, 1, []byte("good"))
			bad := writeTestSnapshot(t, s, 20, 1, []byte("bad"))
			metaPath := filepath.Join(s.path, bad, "meta.json")
			data, err := os.ReadFile(metaPath)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(metaPath, tt.meta(data, bad), 0o644); err != nil {
				t.Fatal(err)
			}
			list, err := s.List()
			if err != nil || len(list) != 1 || list[0].ID != good {
				t.Fatalf("List = %v, %v; want only %s", list, err, good)
			}
			if !strings.Contains(logs.String(), "[ERROR]") || !strings.Contains(logs.String(), bad) {
				t.Fatalf("no error logged naming %s: %s", bad, logs.String())
			}
			if _, _, err := s.Open(bad); err == nil {
				t.Fatalf("Open(%s) with bad meta succeeded", bad)
			}
		})
	}
}

func TestFileSnapshotSinkCancelLeavesNothing(t *testing.T) {
	s := newTestFileStore(t, 1, nil)
	sink := createTestSink(t, s, 10, bytes.Repeat([]byte("x"), 200<<10))
	if names := dirNames(t, s); len(names) != 1 || names[0] != sink.ID()+".tmp" {
		t.Fatalf("while writing: %v, want [%s.tmp]", names, sink.ID())
	}
	if err := sink.Cancel(); err != nil {
		t.Fatal(err)
	}
	if names := dirNames(t, s); len(names) != 0 {
		t.Fatalf("after Cancel: %v", names)
	}
	if err := sink.Close(); err != nil {
		t.Fatalf("Close after Cancel = %v", err)
	}
	if names := dirNames(t, s); len(names) != 0 {
		t.Fatalf("after Close: %v", names)
	}
}

func TestFileSnapshotSinkFailedWriteLeavesNothing(t *testing.T) {
	tests := []struct {
		name  string
		write int // bytes written after the file breaks
	}{
		{"write fails", 3 * snapshotBufferSize}, // more than the buffer: reaches the file
		{"flush on close fails", 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newTestFileStore(t, 1, nil)
			previous := writeTestSnapshot(t, s, 5, 1, []byte("previous"))
			sink := createTestSink(t, s, 10, []byte("some data"))
			// Break the file under the sink, as a failing disk would.
			if err := sink.(*FileSnapshotSink).file.Close(); err != nil {
				t.Fatal(err)
			}
			_, werr := sink.Write(make([]byte, tt.write))
			if tt.write > snapshotBufferSize && werr == nil {
				t.Fatal("Write to a broken file succeeded")
			}
			if err := sink.Close(); err == nil {
				t.Fatal("Close of a failed sink succeeded")
			}
			if names := dirNames(t, s); !slices.Equal(names, []string{previous}) {
				t.Fatalf("after failed Close: %v, want only %s", names, previous)
			}
			if err := sink.Cancel(); err != nil {
				t.Fatalf("Cancel after Close = %v", err)
			}
		})
	}
}

// TestFileSnapshotStoreReadsHashicorpLayout reads snapshots laid out by hand
// as hashicorp/raft writes them.
func TestFileSnapshotStoreReadsHashicorpLayout(t *testing.T) {
	base := t.TempDir()
	snaps := filepath.Join(base, "snapshots")
	data := bytes.Repeat([]byte("hashicorp state "), 300)
	writeHashicorpSnapshot(t, snaps, "2-10-1700000000000", 10, 2, data)
	writeHashicorpSnapshot(t, snaps, "2-12-1700000000500", 12, 2, []byte("newer"))
	s, err := NewFileSnapshotStoreWithLogger(base, 2, hclog.NewNullLogger())
	if err != nil {
		t.Fatal(err)
	}
	list, err := s.List()
	if err != nil || len(list) != 2 || list[0].ID != "2-12-1700000000500" {
		t.Fatalf("List = %v, %v", list, err)
	}
	meta, got := readTestSnapshot(t, s, "2-10-1700000000000")
	checkTestMeta(t, meta, "2-10-1700000000000", 10, 2, len(data))
	if !bytes.Equal(got, data) {
		t.Fatalf("read %q..., want the state written", got[:min(len(got), 20)])
	}
	if want, _ := base64.StdEncoding.DecodeString("kqoxMC4wLjAuMTo4MzAw"); !bytes.Equal(meta.Peers, want) {
		t.Fatalf("Peers = %x, want %x", meta.Peers, want)
	}
}

// TestFileSnapshotStoreWritesHashicorpLayout checks our output against the
// facts of hashicorp/raft's layout, field by field.
func TestFileSnapshotStoreWritesHashicorpLayout(t *testing.T) {
	s := newTestFileStore(t, 1, nil)
	data := bytes.Repeat([]byte{1, 2, 3, 250}, 5000)
	before := time.Now().UnixMilli()
	id := writeTestSnapshot(t, s, 42, 7, data)
	m := regexp.MustCompile(`^7-42-(\d+)$`).FindStringSubmatch(id)
	var msec int64
	if m != nil {
		_, _ = fmt.Sscan(m[1], &msec)
	}
	if m == nil || msec < before || msec > time.Now().UnixMilli()+1000 {
		t.Fatalf("ID %q is not <term>-<index>-<unix ms>", id)
	}
	dir := filepath.Join(filepath.Dir(s.path), "snapshots", id)
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var files []string
	for _, e := range entries {
		files = append(files, e.Name())
	}
	if !slices.Equal(files, []string{"meta.json", "state.bin"}) {
		t.Fatalf("files = %v", files)
	}
	if state, _ := os.ReadFile(filepath.Join(dir, "state.bin")); !bytes.Equal(state, data) {
		t.Fatal("state.bin is not the data written")
	}
	raw, err := os.ReadFile(filepath.Join(dir, "meta.json"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasSuffix(raw, []byte("}\n")) {
		t.Fatalf("meta.json does not end with a newline: %q", raw)
	}
	var meta map[string]any
	if err := json.Unmarshal(raw, &meta); err != nil {
		t.Fatal(err)
	}
	crc, _ := base64.StdEncoding.DecodeString(fmt.Sprint(meta["CRC"]))
	want := map[string]any{
		"Version": 1.0, "ID": id, "Index": 42.0, "Term": 7.0, "Peers": nil, "ConfigurationIndex": 41.0,
		"Size": float64(len(data)), "CRC": base64.StdEncoding.EncodeToString(hashicorpCRC(data)),
		"Configuration": map[string]any{"Servers": []any{
			map[string]any{"Suffrage": 0.0, "ID": "a", "Address": "10.0.0.1:8300"},
			map[string]any{"Suffrage": 1.0, "ID": "b", "Address": "10.0.0.2:8300"},
			map[string]any{"Suffrage": 2.0, "ID": "c", "Address": "10.0.0.3:8300"},
		}},
	}
	if !reflect.DeepEqual(meta, want) || len(crc) != 8 {
		t.Fatalf("meta.json = %s\nwant the fields %v", raw, want)
	}
}

func TestFileSnapshotStoreTempDirs(t *testing.T) {
	base := t.TempDir()
	snaps := filepath.Join(base, "snapshots")
	old := time.Now().Add(-2 * staleTmpAge)
	mkTemp := func(name string, age time.Time) {
		dir := filepath.Join(snaps, name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		state := filepath.Join(dir, "state.bin")
		if err := os.WriteFile(state, []byte("partial"), 0o644); err != nil {
			t.Fatal(err)
		}
		for _, p := range []string{state, dir} {
			if err := os.Chtimes(p, age, age); err != nil {
				t.Fatal(err)
			}
		}
	}
	mkTemp("1-5-100.tmp", old)             // left by a crash
	mkTemp("1-6-100.reap.tmp", time.Now()) // a reap cut short
	mkTemp("1-7-100.tmp", time.Now())      // maybe another process writing
	writeHashicorpSnapshot(t, snaps, "1-4-100", 4, 1, []byte("kept"))

	s, err := NewFileSnapshotStoreWithLogger(base, 5, hclog.NewNullLogger())
	if err != nil {
		t.Fatal(err)
	}
	if got := dirNames(t, s); !slices.Equal(got, []string{"1-4-100", "1-7-100.tmp"}) {
		t.Fatalf("after open: %v", got)
	}
	if list, _ := s.List(); len(list) != 1 || list[0].ID != "1-4-100" {
		t.Fatalf("List = %v, want only 1-4-100", list)
	}

	// A sink of our own is never cleaned up, however old its directory.
	sink, err := s.Create(SnapshotVersionMax, 8, 1, testSnapshotConfiguration, 7, nil)
	if err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Join(snaps, sink.ID()+".tmp")
	for _, p := range []string{filepath.Join(tmp, "state.bin"), tmp} {
		if err := os.Chtimes(p, old, old); err != nil {
			t.Fatal(err)
		}
	}
	writeTestSnapshot(t, s, 9, 1, []byte("reaps")) // its Close runs the cleanup
	if _, err := os.Stat(tmp); err != nil {
		t.Fatalf("live sink's directory was removed: %v", err)
	}
	if err := sink.Close(); err != nil {
		t.Fatalf("Close of the old-looking sink: %v", err)
	}
}

func TestFileSnapshotStoreOpenRejectsBadIDs(t *testing.T) {
	s := newTestFileStore(t, 1, nil)
	for _, id := range []string{"", ".", "..", "../x", "a/b", `a\b`, "1-2-3.tmp", "x\x00"} {
		if _, _, err := s.Open(id); !errors.Is(err, errSnapshotID) {
			t.Errorf("Open(%q) = %v, want errSnapshotID", id, err)
		}
	}
}

// TestFileSnapshotStoreOpenBoundedMemory verifies and reads a 16 MiB
// snapshot and checks that what was allocated meanwhile is a small fraction
// of it: the data is streamed, never held.
func TestFileSnapshotStoreOpenBoundedMemory(t *testing.T) {
	const size = 16 << 20
	base := t.TempDir()
	id := "1-10-100"
	writeHashicorpSnapshot(t, filepath.Join(base, "snapshots"), id, 10, 1, make([]byte, size))
	s, err := NewFileSnapshotStoreWithLogger(base, 1, hclog.NewNullLogger())
	if err != nil {
		t.Fatal(err)
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, rc, err := s.Open(id)
	if err != nil {
		t.Fatal(err)
	}
	n, err := io.Copy(io.Discard, rc)
	rc.Close()
	runtime.ReadMemStats(&after)
	if err != nil || n != size {
		t.Fatalf("read %d bytes, %v; want %d", n, err, size)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 1<<20 {
		t.Fatalf("Open and read of %d bytes allocated %d bytes", size, alloc)
	}
}

func TestFileSnapshotStoreConcurrent(t *testing.T) {
	s := newTestFileStore(t, 2, nil)
	writeTestSnapshot(t, s, 1, 1, []byte("first"))
	var wg sync.WaitGroup
	for w := range 3 {
		wg.Go(func() {
			for i := range 3 {
				if err := writeSnapshot(s, uint64(10*w+i+2), bytes.Repeat([]byte{byte(w)}, 1000)); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Go(func() {
		for range 20 {
			list, err := s.List()
			if err != nil {
				t.Error(err)
				return
			}
			for _, m := range list {
				// A reap may remove it meanwhile; what opens must verify.
				if _, rc, err := s.Open(m.ID); err == nil {
					_, _ = io.Copy(io.Discard, rc)
					rc.Close()
				} else if !errors.Is(err, errSnapshotNotFound) {
					t.Errorf("Open(%s): %v", m.ID, err)
				}
			}
		}
	})
	wg.Wait()
	if names := dirNames(t, s); len(names) != 2 || strings.HasSuffix(names[0], ".tmp") {
		t.Fatalf("after concurrent snapshots: %v, want the two newest", names)
	}
}

// writeSnapshot writes and closes a snapshot at term 1, for goroutines
// other than the test's.
func writeSnapshot(s SnapshotStore, index uint64, data []byte) error {
	sink, err := s.Create(SnapshotVersionMax, index, 1, testSnapshotConfiguration, index-1, nil)
	if err != nil {
		return err
	}
	if _, err := sink.Write(data); err != nil {
		return errors.Join(err, sink.Cancel())
	}
	return sink.Close()
}

func FuzzDecodeSnapshotMeta(f *testing.F) {
	f.Add([]byte(`{"Version":1,"ID":"2-10-1700000000000","Index":10,"Term":2,"Peers":"kqoxMC4wLjAuMTo4MzAw",` +
		`"Configuration":{"Servers":[{"Suffrage":0,"ID":"a","Address":"10.0.0.1:8300"}]},` +
		`"ConfigurationIndex":9,"Size":5,"CRC":"AAAAAAAAAAA="}` + "\n"))
	f.Add([]byte(`{"Version":0,"ID":"x","CRC":"AQIDBAUGBwg=","Peers":null,"Configuration":{"Servers":null}}`))
	f.Add([]byte(`{"Version":1,"ID":"../x","Size":-1}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		meta, err := decodeSnapshotMeta(data)
		if err != nil {
			return
		}
		if !validSnapshotID(meta.ID) || len(meta.CRC) != 8 || meta.Size < 0 {
			t.Fatalf("accepted invalid meta %+v", meta)
		}
		enc, err := encodeSnapshotMeta(meta)
		if err != nil {
			t.Fatalf("encode %+v: %v", meta, err)
		}
		again, err := decodeSnapshotMeta(enc)
		if err != nil || !reflect.DeepEqual(again, meta) {
			t.Fatalf("round trip: %+v, %v; want %+v", again, err, meta)
		}
	})
}

func BenchmarkFileSnapshotSinkWrite(b *testing.B) {
	benchmarkSinkWrite(b, newTestFileStore(b, 1, nil))
}

func BenchmarkFileSnapshotOpen(b *testing.B) {
	s := newTestFileStore(b, 1, nil)
	const size = 4 << 20
	id := writeTestSnapshot(b, s, 1, 1, bytes.Repeat([]byte{0x5a}, size))
	b.ReportAllocs()
	b.SetBytes(size)
	for b.Loop() {
		_, rc, err := s.Open(id)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := io.Copy(io.Discard, rc); err != nil {
			b.Fatal(err)
		}
		rc.Close()
	}
}
