package raft

// This file owns FileSnapshotStore, which keeps snapshots in a directory in
// the layout of hashicorp/raft's FileSnapshotStore, so that either library
// reads what the other wrote:
//
//	<base>/snapshots/                      created by NewFileSnapshotStore
//	    <term>-<index>-<unix ms>/          a finished snapshot; the name is its ID
//	        state.bin                      the FSM's bytes, as written to the sink
//	        meta.json                      one JSON object and a newline:
//	            "Version"            int     snapshot format, 0 or 1 (we write 1)
//	            "ID"                 string  the directory's name
//	            "Index", "Term"      uint64  last log entry covered
//	            "Peers"              base64  protocol 0 peers; null when we write
//	            "Configuration"      object  {"Servers":[{"Suffrage":int,"ID":string,"Address":string}]}
//	            "ConfigurationIndex" uint64
//	            "Size"               int64   length of state.bin
//	            "CRC"                base64  8 bytes: CRC-64 (ECMA polynomial) of state.bin,
//	                                         big-endian (hash/crc64's Sum)
//	    <name>.tmp/                        a snapshot being written, or left by a crash
//	    <name>.reap.tmp/                   an old snapshot being deleted
//
// A snapshot is written into <name>.tmp (state.bin through a buffer, the CRC
// computed on the way, then fsync; then meta.json and fsync; then fsync of the
// directory), renamed to <name>, and the parent directory is fsync'ed: a
// directory without the suffix is always complete. Directories ending in .tmp
// are never listed; once no sink of this store owns them and they have not
// changed for staleTmpAge (another process may be writing one), they are
// removed.

import (
	"bufio"
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"hash/crc64"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
)

const (
	snapPath      = "snapshots" // directory under the base given by the user
	metaFilePath  = "meta.json"
	stateFilePath = "state.bin"
	tmpSuffix     = ".tmp"
	reapSuffix    = ".reap" + tmpSuffix
	permTestFile  = "permTest" // created and removed to check that we may write

	// snapshotBufferSize is the size of the buffers between the sink or the
	// reader and state.bin.
	snapshotBufferSize = 64 << 10

	// maxMetaSize bounds what List reads of a meta.json: a configuration of
	// thousands of servers fits many times over.
	maxMetaSize = 16 << 20

	// staleTmpAge is how long a temporary directory must have been left
	// untouched before a store that does not own it removes it.
	staleTmpAge = 10 * time.Minute

	// maxNameAttempts bounds the search for an unused snapshot name.
	maxNameAttempts = 1000
)

var (
	errSnapshotNotFound = errors.New("raft: snapshot not found")
	errSnapshotCorrupt  = errors.New("raft: snapshot is corrupt")
	errSnapshotID       = errors.New("raft: invalid snapshot id")
	errSinkDone         = errors.New("raft: snapshot sink is already closed or cancelled")
	errSnapshotRetain   = errors.New("raft: must retain at least one snapshot")
	errSnapshotVersion  = errors.New("raft: unsupported snapshot version")
)

// crcTable is the CRC-64 table of hashicorp's format. It is never written
// after initialization.
var crcTable = crc64.MakeTable(crc64.ECMA)

// FileSnapshotStore implements SnapshotStore with one directory per snapshot
// under a base directory. It is safe for concurrent use.
type FileSnapshotStore struct {
	path   string // <base>/snapshots
	retain int
	logger hclog.Logger

	// mu guards lastMsec and active.
	mu sync.Mutex
	// lastMsec is the time part of the last name handed out; names take a
	// later one each time so that they stay unique.
	lastMsec int64
	// active holds the IDs of the sinks not yet closed or cancelled, whose
	// temporary directories must not be cleaned up.
	active map[string]struct{}
}

// fileSnapshotMeta is the content of meta.json.
type fileSnapshotMeta struct {
	SnapshotMeta
	CRC []byte
}

// NewFileSnapshotStoreWithLogger opens (creating it if needed) the store in
// base/snapshots, keeping the latest retain snapshots (at least 1). A nil
// logger means an hclog logger on stderr.
func NewFileSnapshotStoreWithLogger(base string, retain int, logger hclog.Logger) (*FileSnapshotStore, error) {
	if retain < 1 {
		return nil, fmt.Errorf("file snapshot store: retain %d: %w", retain, errSnapshotRetain)
	}
	if logger == nil {
		logger = newSnapshotLogger(hclog.DefaultOutput)
	}
	path := filepath.Join(base, snapPath)
	if err := os.MkdirAll(path, 0o755); err != nil {
		return nil, fmt.Errorf("file snapshot store: snapshot path not accessible: %w", err)
	}
	f := &FileSnapshotStore{path: path, retain: retain, logger: logger, active: make(map[string]struct{})}
	if err := f.testPermissions(); err != nil {
		return nil, fmt.Errorf("file snapshot store: permissions test failed: %w", err)
	}
	f.removeStaleTemps()
	return f, nil
}

// NewFileSnapshotStore is NewFileSnapshotStoreWithLogger with an hclog logger
// writing to logOutput (stderr if nil).
func NewFileSnapshotStore(base string, retain int, logOutput io.Writer) (*FileSnapshotStore, error) {
	if logOutput == nil {
		logOutput = os.Stderr
	}
	return NewFileSnapshotStoreWithLogger(base, retain, newSnapshotLogger(logOutput))
}

func newSnapshotLogger(out io.Writer) hclog.Logger {
	return hclog.New(&hclog.LoggerOptions{Name: "snapshot", Output: out, Level: hclog.DefaultLevel})
}

// testPermissions checks that files can be created in the store.
func (f *FileSnapshotStore) testPermissions() error {
	p := filepath.Join(f.path, permTestFile)
	fh, err := os.Create(p)
	if err != nil {
		return err
	}
	if err := fh.Close(); err != nil {
		return err
	}
	return os.Remove(p)
}

// snapshotName names a snapshot as hashicorp/raft does.
func snapshotName(term, index uint64, msec int64) string {
	return fmt.Sprintf("%d-%d-%d", term, index, msec)
}

// checkSnapshotVersion accepts the one version that stores write.
func checkSnapshotVersion(version SnapshotVersion) error {
	if version != SnapshotVersionMax {
		return fmt.Errorf("%w %d", errSnapshotVersion, version)
	}
	return nil
}

// validSnapshotID reports whether id can name a finished snapshot's directory.
func validSnapshotID(id string) bool {
	return id != "" && id != "." && id != ".." && !strings.HasSuffix(id, tmpSuffix) &&
		!strings.ContainsAny(id, `/\`) && !strings.ContainsRune(id, 0) && filepath.Base(id) == id
}

// Create begins a snapshot in a new temporary directory.
func (f *FileSnapshotStore) Create(version SnapshotVersion, index, term uint64,
	configuration Configuration, configurationIndex uint64, trans Transport) (SnapshotSink, error) {
	if err := checkSnapshotVersion(version); err != nil {
		return nil, err
	}
	name, err := f.makeTempDir(term, index)
	if err != nil {
		return nil, fmt.Errorf("create snapshot: %w", err)
	}
	tmpDir := filepath.Join(f.path, name+tmpSuffix)
	f.logger.Info("creating new snapshot", "path", tmpDir)
	file, err := os.Create(filepath.Join(tmpDir, stateFilePath))
	if err != nil {
		f.untrack(name)
		return nil, errors.Join(fmt.Errorf("create snapshot %s: %w", name, err), os.RemoveAll(tmpDir))
	}
	return &FileSnapshotSink{
		store:  f,
		tmpDir: tmpDir,
		meta: fileSnapshotMeta{SnapshotMeta: SnapshotMeta{
			Version:            version,
			ID:                 name,
			Index:              index,
			Term:               term,
			Configuration:      configuration.Clone(),
			ConfigurationIndex: configurationIndex,
		}},
		file: file,
		w:    bufio.NewWriterSize(file, snapshotBufferSize),
		crc:  crc64.New(crcTable),
	}, nil
}

// makeTempDir creates the temporary directory of a new snapshot under an
// unused name, records the name as active and returns it.
func (f *FileSnapshotStore) makeTempDir(term, index uint64) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for range maxNameAttempts {
		f.lastMsec = max(time.Now().UnixMilli(), f.lastMsec+1)
		name := snapshotName(term, index, f.lastMsec)
		if _, err := os.Lstat(filepath.Join(f.path, name)); err == nil {
			continue // taken by a finished snapshot (another process, a clock step)
		}
		err := os.Mkdir(filepath.Join(f.path, name+tmpSuffix), 0o755)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if err != nil {
			return "", err
		}
		f.active[name] = struct{}{}
		return name, nil
	}
	return "", fmt.Errorf("no unused snapshot name after %d attempts", maxNameAttempts)
}

// untrack forgets a sink that was closed or cancelled.
func (f *FileSnapshotStore) untrack(name string) {
	f.mu.Lock()
	delete(f.active, name)
	f.mu.Unlock()
}

// isActive reports whether a sink of this store owns name's temporary
// directory.
func (f *FileSnapshotStore) isActive(name string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	_, ok := f.active[name]
	return ok
}

// List returns the metadata of the latest snapshots (at most retain), newest
// first. A snapshot whose meta.json cannot be read is skipped and logged.
func (f *FileSnapshotStore) List() ([]*SnapshotMeta, error) {
	snaps, err := f.snapshots()
	if err != nil {
		return nil, err
	}
	out := make([]*SnapshotMeta, 0, min(len(snaps), f.retain))
	for _, s := range snaps[:min(len(snaps), f.retain)] {
		out = append(out, &s.SnapshotMeta)
	}
	return out, nil
}

// snapshots returns every finished snapshot with readable metadata, newest
// first: by term, then index, then ID, as hashicorp/raft orders them.
func (f *FileSnapshotStore) snapshots() ([]*fileSnapshotMeta, error) {
	entries, err := os.ReadDir(f.path)
	if err != nil {
		return nil, fmt.Errorf("list snapshots in %s: %w", f.path, err)
	}
	var metas []*fileSnapshotMeta
	for _, e := range entries {
		if !e.IsDir() || strings.HasSuffix(e.Name(), tmpSuffix) {
			continue
		}
		meta, err := f.readMeta(e.Name())
		if err != nil {
			f.logger.Error("skipping snapshot with unreadable metadata", "snapshot", e.Name(), "error", err)
			continue
		}
		metas = append(metas, meta)
	}
	slices.SortFunc(metas, func(a, b *fileSnapshotMeta) int {
		return cmp.Or(cmp.Compare(b.Term, a.Term), cmp.Compare(b.Index, a.Index), strings.Compare(b.ID, a.ID))
	})
	return metas, nil
}

// readMeta reads and checks the meta.json of snapshot id.
func (f *FileSnapshotStore) readMeta(id string) (*fileSnapshotMeta, error) {
	fh, err := os.Open(filepath.Join(f.path, id, metaFilePath))
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	data, err := io.ReadAll(io.LimitReader(fh, maxMetaSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxMetaSize {
		return nil, fmt.Errorf("%s is larger than %d bytes", metaFilePath, maxMetaSize)
	}
	meta, err := decodeSnapshotMeta(data)
	if err != nil {
		return nil, err
	}
	if meta.ID != id {
		return nil, fmt.Errorf("%s names snapshot %q, not its directory", metaFilePath, meta.ID)
	}
	return meta, nil
}

// decodeSnapshotMeta parses and checks the content of a meta.json.
func decodeSnapshotMeta(data []byte) (*fileSnapshotMeta, error) {
	meta := &fileSnapshotMeta{}
	if err := json.Unmarshal(data, meta); err != nil {
		return nil, fmt.Errorf("parse %s: %w", metaFilePath, err)
	}
	switch {
	case meta.Version < SnapshotVersionMin || meta.Version > SnapshotVersionMax:
		return nil, fmt.Errorf("%s: %w %d", metaFilePath, errSnapshotVersion, meta.Version)
	case !validSnapshotID(meta.ID):
		return nil, fmt.Errorf("%s: %w %q", metaFilePath, errSnapshotID, meta.ID)
	case meta.Size < 0:
		return nil, fmt.Errorf("%s: negative size %d", metaFilePath, meta.Size)
	case len(meta.CRC) != crc64.Size:
		return nil, fmt.Errorf("%s: CRC of %d bytes, want %d", metaFilePath, len(meta.CRC), crc64.Size)
	}
	return meta, nil
}

// encodeSnapshotMeta returns the content of a meta.json.
func encodeSnapshotMeta(meta *fileSnapshotMeta) ([]byte, error) {
	data, err := json.Marshal(meta)
	if err != nil {
		return nil, err
	}
	return append(data, '\n'), nil
}

// Open checks snapshot id's data against its CRC, reading it once with
// bounded memory, and returns its metadata and a reader of the data.
func (f *FileSnapshotStore) Open(id string) (*SnapshotMeta, io.ReadCloser, error) {
	if !validSnapshotID(id) {
		return nil, nil, fmt.Errorf("open snapshot: %w %q", errSnapshotID, id)
	}
	meta, err := f.readMeta(id)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, fmt.Errorf("open snapshot %s: %w: %w", id, errSnapshotNotFound, err)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("open snapshot %s: %w", id, err)
	}
	fh, err := os.Open(filepath.Join(f.path, id, stateFilePath))
	if errors.Is(err, fs.ErrNotExist) { // reaped since its meta.json was read
		return nil, nil, fmt.Errorf("open snapshot %s: %w: %w", id, errSnapshotNotFound, err)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("open snapshot %s: %w", id, err)
	}
	if err := verifySnapshotData(fh, meta); err != nil {
		fh.Close()
		f.logger.Error("snapshot failed verification", "snapshot", id, "error", err)
		return nil, nil, fmt.Errorf("open snapshot %s: %w", id, err)
	}
	return &meta.SnapshotMeta, &snapshotReader{r: bufio.NewReaderSize(fh, snapshotBufferSize), f: fh}, nil
}

// verifySnapshotData reads fh to the end, compares its length and CRC with meta,
// and rewinds it.
func verifySnapshotData(fh *os.File, meta *fileSnapshotMeta) error {
	crc := crc64.New(crcTable)
	n, err := io.Copy(crc, fh)
	if err != nil {
		return fmt.Errorf("read %s: %w", stateFilePath, err)
	}
	if n != meta.Size {
		return fmt.Errorf("%w: %s holds %d bytes, %s says %d", errSnapshotCorrupt, stateFilePath, n, metaFilePath, meta.Size)
	}
	if sum := crc.Sum(nil); !bytes.Equal(sum, meta.CRC) {
		return fmt.Errorf("%w: %s has CRC %x, %s says %x", errSnapshotCorrupt, stateFilePath, sum, metaFilePath, meta.CRC)
	}
	if _, err := fh.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("rewind %s: %w", stateFilePath, err)
	}
	return nil
}

// snapshotReader reads a snapshot's data through a buffer.
type snapshotReader struct {
	r *bufio.Reader
	f *os.File
}

func (r *snapshotReader) Read(p []byte) (int, error) { return r.r.Read(p) }
func (r *snapshotReader) Close() error               { return r.f.Close() }

// ReapSnapshots deletes the snapshots beyond the retain newest, and the
// temporary directories left over by crashes.
func (f *FileSnapshotStore) ReapSnapshots() error {
	snaps, err := f.snapshots()
	if err != nil {
		return fmt.Errorf("reap snapshots: %w", err)
	}
	var errs []error
	for _, s := range snaps[min(len(snaps), f.retain):] {
		if err := f.remove(s.ID); err != nil {
			errs = append(errs, err)
		}
	}
	f.removeStaleTemps()
	return errors.Join(errs...)
}

// remove deletes snapshot id: first renamed to a temporary name, so that a
// crash halfway never leaves a listed snapshot with files missing.
func (f *FileSnapshotStore) remove(id string) error {
	path := filepath.Join(f.path, id)
	f.logger.Info("reaping snapshot", "path", path)
	doomed := path + reapSuffix
	if err := os.Rename(path, doomed); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil // reaped concurrently
		}
		return fmt.Errorf("reap snapshot %s: %w", id, err)
	}
	if err := os.RemoveAll(doomed); err != nil {
		return fmt.Errorf("reap snapshot %s: %w", id, err)
	}
	return nil
}

// removeStaleTemps removes the temporary directories that no sink of this
// store owns and that are old enough not to belong to a live writer
// elsewhere. Failures are logged: they cost disk space, not correctness.
func (f *FileSnapshotStore) removeStaleTemps() {
	entries, err := os.ReadDir(f.path)
	if err != nil {
		f.logger.Error("failed to scan for temporary snapshots", "path", f.path, "error", err)
		return
	}
	for _, e := range entries {
		name := e.Name()
		if !e.IsDir() || !strings.HasSuffix(name, tmpSuffix) {
			continue
		}
		reaping := strings.HasSuffix(name, reapSuffix)
		if !reaping && (f.isActive(strings.TrimSuffix(name, tmpSuffix)) || !untouchedFor(filepath.Join(f.path, name), staleTmpAge)) {
			continue
		}
		f.logger.Warn("removing leftover temporary snapshot", "name", name)
		if err := os.RemoveAll(filepath.Join(f.path, name)); err != nil {
			f.logger.Error("failed to remove temporary snapshot", "name", name, "error", err)
		}
	}
}

// untouchedFor reports whether neither dir nor any file in it was modified
// within age.
func untouchedFor(dir string, age time.Duration) bool {
	latest := time.Time{}
	if info, err := os.Stat(dir); err == nil {
		latest = info.ModTime()
	}
	entries, _ := os.ReadDir(dir) // a partial listing still gives a lower bound
	for _, e := range entries {
		if info, err := e.Info(); err == nil && info.ModTime().After(latest) {
			latest = info.ModTime()
		}
	}
	return time.Since(latest) >= age
}

// FileSnapshotSink writes one snapshot of a FileSnapshotStore.
type FileSnapshotSink struct {
	store  *FileSnapshotStore
	tmpDir string

	// mu guards every field below, and meta's Size and CRC (the rest of
	// meta is set by Create and never changes).
	mu   sync.Mutex
	meta fileSnapshotMeta
	file *os.File // nil once closed
	w    *bufio.Writer
	crc  hash.Hash64
	size int64
	err  error // the first write failure: the sink can then only be discarded
	done bool  // closed or cancelled
}

// ID returns the snapshot's ID, to give to Open once the sink is closed.
func (s *FileSnapshotSink) ID() string {
	return s.meta.ID
}

// Write appends b to the snapshot's data.
func (s *FileSnapshotSink) Write(b []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.done {
		return 0, fmt.Errorf("write snapshot %s: %w", s.meta.ID, errSinkDone)
	}
	if s.err != nil {
		return 0, s.err
	}
	n, err := s.w.Write(b)
	s.crc.Write(b[:n])
	s.size += int64(n)
	if err != nil {
		s.err = fmt.Errorf("write snapshot %s: %w", s.meta.ID, err)
		return n, s.err
	}
	return n, nil
}

// Close makes the snapshot durable and visible, then reaps old snapshots.
// If it fails before the snapshot is complete, nothing of it is left behind;
// if only the final directory sync fails, the complete snapshot stays listed.
// Closing again, or after Cancel, does nothing.
func (s *FileSnapshotSink) Close() error {
	return s.finish(s.closeLocked)
}

// Cancel discards the snapshot. Cancelling again, or after Close, does
// nothing.
func (s *FileSnapshotSink) Cancel() error {
	return s.finish(s.discardLocked)
}

// finish ends the sink's life with end, unless it has already ended.
func (s *FileSnapshotSink) finish(end func() error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.done {
		return nil
	}
	s.done = true
	defer s.store.untrack(s.meta.ID)
	return end()
}

func (s *FileSnapshotSink) closeLocked() error {
	if err := s.commitLocked(); err != nil {
		s.store.logger.Error("failed to save snapshot", "snapshot", s.meta.ID, "error", err)
		return errors.Join(fmt.Errorf("close snapshot %s: %w", s.meta.ID, err), s.discardLocked())
	}
	// The snapshot is durable: failing to delete older ones costs disk
	// space only, so it is not reported as a failure to save this one.
	if err := s.store.ReapSnapshots(); err != nil {
		s.store.logger.Error("failed to reap old snapshots", "error", err)
	}
	return nil
}

// commitLocked writes the data and the metadata durably and moves the
// snapshot into place.
func (s *FileSnapshotSink) commitLocked() error {
	if s.err != nil {
		return s.err
	}
	if err := s.w.Flush(); err != nil {
		return fmt.Errorf("flush %s: %w", stateFilePath, err)
	}
	if err := s.file.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", stateFilePath, err)
	}
	err := s.file.Close()
	s.file = nil
	if err != nil {
		return fmt.Errorf("close %s: %w", stateFilePath, err)
	}
	s.meta.Size = s.size
	s.meta.CRC = s.crc.Sum(nil)
	if err := writeMetaFile(filepath.Join(s.tmpDir, metaFilePath), &s.meta); err != nil {
		return err
	}
	if err := syncDir(s.tmpDir); err != nil {
		return err
	}
	final := strings.TrimSuffix(s.tmpDir, tmpSuffix)
	if err := os.Rename(s.tmpDir, final); err != nil {
		return fmt.Errorf("move snapshot into place: %w", err)
	}
	// From here the snapshot is complete and listed; only the durability of
	// its name is in doubt if the sync fails.
	return syncDir(s.store.path)
}

// discardLocked closes the data file and removes the temporary directory.
func (s *FileSnapshotSink) discardLocked() error {
	if s.file != nil {
		_ = s.file.Close() // the data is being thrown away
		s.file = nil
	}
	if err := os.RemoveAll(s.tmpDir); err != nil {
		return fmt.Errorf("remove temporary snapshot %s: %w", s.tmpDir, err)
	}
	return nil
}

// writeMetaFile writes meta to path and syncs it.
func writeMetaFile(path string, meta *fileSnapshotMeta) error {
	data, err := encodeSnapshotMeta(meta)
	if err != nil {
		return fmt.Errorf("encode %s: %w", metaFilePath, err)
	}
	fh, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o666)
	if err != nil {
		return fmt.Errorf("create %s: %w", metaFilePath, err)
	}
	_, err = fh.Write(data)
	if err := syncAndClose(fh, err); err != nil {
		return fmt.Errorf("write %s: %w", metaFilePath, err)
	}
	return nil
}

// syncAndClose syncs fh unless err (from writing it) is set, closes it, and
// returns the first error.
func syncAndClose(fh *os.File, err error) error {
	if err == nil {
		err = fh.Sync()
	}
	if cerr := fh.Close(); err == nil {
		err = cerr
	}
	return err
}

// syncDir makes the entries of dir durable. Windows has no such call and
// needs none.
func syncDir(dir string) error {
	if runtime.GOOS == "windows" {
		return nil
	}
	fh, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	if err := syncAndClose(fh, nil); err != nil {
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	return nil
}
