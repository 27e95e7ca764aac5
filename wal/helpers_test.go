package wal

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/raftkit/raft"
)

// entry returns a deterministic entry for index and term, so that any
// reader can check an entry's content from its index and term alone.
func entry(index, term uint64, size int) *raft.Log {
	data := make([]byte, size)
	for i := range data {
		data[i] = byte(index*31 + term*7 + uint64(i))
	}
	var ext []byte
	if index%3 == 0 {
		ext = []byte(fmt.Sprintf("ext-%d", index))
	}
	return &raft.Log{
		Index: index, Term: term, Type: raft.LogType(index % 6), Data: nilIfEmpty(data), Extensions: ext,
		AppendedAt: time.Unix(1_700_000_000, int64(index)),
	}
}

func entries(from, to, term uint64, size int) []*raft.Log {
	var logs []*raft.Log
	for i := from; i <= to; i++ {
		logs = append(logs, entry(i, term, size))
	}
	return logs
}

// sameLog reports how got differs from want, "" when it does not.
func sameLog(got, want *raft.Log) string {
	switch {
	case got.Index != want.Index || got.Term != want.Term || got.Type != want.Type:
		return fmt.Sprintf("got index %d term %d type %v, want %d %d %v",
			got.Index, got.Term, got.Type, want.Index, want.Term, want.Type)
	case !bytes.Equal(got.Data, want.Data) || !bytes.Equal(got.Extensions, want.Extensions):
		return fmt.Sprintf("index %d: payload differs", want.Index)
	case !got.AppendedAt.Equal(want.AppendedAt):
		return fmt.Sprintf("index %d: AppendedAt %v, want %v", want.Index, got.AppendedAt, want.AppendedAt)
	}
	return ""
}

func mustOpen(t testing.TB, dir string, opts ...Option) *WAL {
	t.Helper()
	w, err := Open(dir, opts...)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return w
}

func mustStore(t testing.TB, w *WAL, logs []*raft.Log) {
	t.Helper()
	if err := w.StoreLogs(logs); err != nil {
		t.Fatalf("StoreLogs [%d..]: %v", logs[0].Index, err)
	}
}

// checkRange asserts that w holds exactly first..last, with the content
// entry(i, term(i), size(i)) gives.
func checkRange(t testing.TB, w *WAL, first, last uint64, want func(i uint64) *raft.Log) {
	t.Helper()
	f, _ := w.FirstIndex()
	l, _ := w.LastIndex()
	if f != first || l != last {
		t.Fatalf("bounds [%d, %d], want [%d, %d]", f, l, first, last)
	}
	if first == 0 {
		return
	}
	for _, i := range []uint64{first - 1, last + 1} {
		var got raft.Log
		if err := w.GetLog(i, &got); !errors.Is(err, raft.ErrLogNotFound) {
			t.Fatalf("GetLog(%d) outside the log: %v, want ErrLogNotFound", i, err)
		}
	}
	for i := first; i <= last; i++ {
		var got raft.Log
		if err := w.GetLog(i, &got); err != nil {
			t.Fatalf("GetLog(%d): %v", i, err)
		}
		if d := sameLog(&got, want(i)); d != "" {
			t.Fatal(d)
		}
	}
}

// segFiles lists the segment files of a WAL directory, oldest first.
func segFiles(t testing.TB, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(filepath.Join(dir, subdir))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), segSuffix) {
			names = append(names, filepath.Join(dir, subdir, e.Name()))
		}
	}
	slices.Sort(names)
	return names
}

// faultFS wraps the real file layer and lets a test fail or observe any
// operation: hook is called before each one with its name ("write",
// "datasync", "sync", "allocate", "truncate", "rename", "remove",
// "syncdir", "open") and the path, and a non-nil result fails it.
type faultFS struct {
	osFS
	mu   sync.Mutex // guards hook
	hook func(op, path string) error
}

func (fs *faultFS) setHook(h func(op, path string) error) {
	fs.mu.Lock()
	fs.hook = h
	fs.mu.Unlock()
}

func (fs *faultFS) check(op, path string) error {
	fs.mu.Lock()
	h := fs.hook
	fs.mu.Unlock()
	if h == nil {
		return nil
	}
	return h(op, path)
}

func (fs *faultFS) OpenFile(name string, flag int, perm os.FileMode) (file, error) {
	if err := fs.check("open", name); err != nil {
		return nil, err
	}
	f, err := fs.osFS.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return &faultFile{file: f, fs: fs, path: name}, nil
}

func (fs *faultFS) Rename(o, n string) error {
	if err := fs.check("rename", o); err != nil {
		return err
	}
	return fs.osFS.Rename(o, n)
}

func (fs *faultFS) Remove(name string) error {
	if err := fs.check("remove", name); err != nil {
		return err
	}
	return fs.osFS.Remove(name)
}

func (fs *faultFS) SyncDir(name string) error {
	if err := fs.check("syncdir", name); err != nil {
		return err
	}
	return fs.osFS.SyncDir(name)
}

type faultFile struct {
	file
	fs   *faultFS
	path string
}

func (f *faultFile) WriteAt(b []byte, off int64) (int, error) {
	if err := f.fs.check("write", f.path); err != nil {
		return 0, err
	}
	return f.file.WriteAt(b, off)
}

func (f *faultFile) Datasync() error {
	if err := f.fs.check("datasync", f.path); err != nil {
		return err
	}
	return f.file.Datasync()
}

func (f *faultFile) Sync() error {
	if err := f.fs.check("sync", f.path); err != nil {
		return err
	}
	return f.file.Sync()
}

func (f *faultFile) Allocate(off, n int64) error {
	if err := f.fs.check("allocate", f.path); err != nil {
		return err
	}
	return f.file.Allocate(off, n)
}

func (f *faultFile) Truncate(n int64) error {
	if err := f.fs.check("truncate", f.path); err != nil {
		return err
	}
	return f.file.Truncate(n)
}

// waitFor polls cond until it holds or the test's deadline nears.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	if tt, ok := t.(*testing.T); ok {
		if d, ok := tt.Deadline(); ok && time.Until(d) < 20*time.Second {
			deadline = d.Add(-time.Second)
		}
	}
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}
