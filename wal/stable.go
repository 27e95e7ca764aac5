package wal

// This file owns the two small files the WAL replaces whole: "stable" (the
// raft.StableStore) and "head" (the logical first index and the commit
// index, for when no record carries them). Both are written to a temporary
// file, synced, renamed over the old one and the directory synced, so a
// crash leaves either the old or the new file, never a mix. Their layouts
// are drawn in doc.go.

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"sync"
)

const (
	stableName  = "stable"
	stableMagic = "RKWALST1"
	headName    = "head"
	headMagic   = "RKWALHD1"
	headSize    = 28
)

// stableStore holds the StableStore's values in memory, for Get.
type stableStore struct {
	// mu guards vals and serializes writes of the stable file.
	mu   sync.Mutex
	vals map[string][]byte
}

func (s *stableStore) load(w *WAL) error {
	b, err := readWhole(w.fs, filepath.Join(w.dir, stableName))
	if err != nil || b == nil {
		s.vals = map[string][]byte{}
		return err
	}
	vals, err := decodeStable(b)
	if err != nil {
		return fmt.Errorf("%w: %s: %w", ErrCorrupt, filepath.Join(w.dir, stableName), err)
	}
	s.vals = vals
	return nil
}

// Set stores val under key durably.
func (w *WAL) Set(key, val []byte) error {
	s := &w.stable
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := w.writable(); err != nil {
		return err
	}
	vals := maps.Clone(s.vals)
	vals[string(key)] = append([]byte(nil), val...)
	if err := w.replaceFile(stableName, encodeStable(vals)); err != nil {
		return w.fail(err)
	}
	s.vals = vals
	return nil
}

// Get returns the value stored under key, or ErrKeyNotFound.
func (w *WAL) Get(key []byte) ([]byte, error) {
	s := &w.stable
	s.mu.Lock()
	defer s.mu.Unlock()
	if w.closed.Load() {
		return nil, ErrClosed
	}
	v, ok := s.vals[string(key)]
	if !ok {
		return nil, ErrKeyNotFound
	}
	return append([]byte(nil), v...), nil
}

// SetUint64 stores val under key durably.
func (w *WAL) SetUint64(key []byte, val uint64) error {
	return w.Set(key, binary.BigEndian.AppendUint64(nil, val))
}

// GetUint64 returns the value stored under key, or 0 and ErrKeyNotFound.
func (w *WAL) GetUint64(key []byte) (uint64, error) {
	v, err := w.Get(key)
	if err != nil {
		return 0, err
	}
	if len(v) != 8 {
		return 0, fmt.Errorf("raft: wal key %q holds %d bytes, not a uint64", key, len(v))
	}
	return binary.BigEndian.Uint64(v), nil
}

// encodeStable lays out vals; the order of entries carries no meaning.
func encodeStable(vals map[string][]byte) []byte {
	b := make([]byte, 0, 16+len(vals)*32)
	b = append(b, stableMagic...)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(vals)))
	for k, v := range vals {
		b = binary.LittleEndian.AppendUint32(b, uint32(len(k)))
		b = binary.LittleEndian.AppendUint32(b, uint32(len(v)))
		b = append(b, k...)
		b = append(b, v...)
	}
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
}

func decodeStable(b []byte) (map[string][]byte, error) {
	if len(b) < 16 || string(b[:8]) != stableMagic {
		return nil, errors.New("not a stable file")
	}
	body := b[:len(b)-4]
	if got, want := binary.LittleEndian.Uint32(b[len(b)-4:]), crc32.Checksum(body, castagnoli); got != want {
		return nil, fmt.Errorf("crc %08x, want %08x", got, want)
	}
	n := binary.LittleEndian.Uint32(body[8:])
	rest := body[12:]
	vals := make(map[string][]byte, min(int(n), len(rest)/8))
	for range n {
		if len(rest) < 8 {
			return nil, errors.New("truncated entry")
		}
		kl, vl := uint64(binary.LittleEndian.Uint32(rest)), uint64(binary.LittleEndian.Uint32(rest[4:]))
		rest = rest[8:]
		if kl+vl > uint64(len(rest)) {
			return nil, errors.New("entry past the end")
		}
		vals[string(rest[:kl])] = append([]byte(nil), rest[kl:kl+vl]...)
		rest = rest[kl+vl:]
	}
	if len(rest) != 0 {
		return nil, fmt.Errorf("%d bytes after the last entry", len(rest))
	}
	return vals, nil
}

// head is the content of the head file.
type head struct {
	first  uint64 // entries below first are deleted, whatever segments hold
	commit uint64 // commit index when the log was last emptied
}

func encodeHead(h head) []byte {
	b := make([]byte, 0, headSize)
	b = append(b, headMagic...)
	b = binary.LittleEndian.AppendUint64(b, h.first)
	b = binary.LittleEndian.AppendUint64(b, h.commit)
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
}

func decodeHead(b []byte) (head, error) {
	if len(b) != headSize || string(b[:8]) != headMagic {
		return head{}, errors.New("not a head file")
	}
	if got, want := binary.LittleEndian.Uint32(b[24:]), crc32.Checksum(b[:24], castagnoli); got != want {
		return head{}, fmt.Errorf("crc %08x, want %08x", got, want)
	}
	return head{first: binary.LittleEndian.Uint64(b[8:]), commit: binary.LittleEndian.Uint64(b[16:])}, nil
}

func readHead(fsys fileSystem, dir string) (head, error) {
	path := filepath.Join(dir, headName)
	b, err := readWhole(fsys, path)
	if err != nil || b == nil {
		return head{}, err
	}
	h, err := decodeHead(b)
	if err != nil {
		return head{}, fmt.Errorf("%w: %s: %w", ErrCorrupt, path, err)
	}
	return h, nil
}

// writeHeadLocked replaces the head file; wmu is held.
func (w *WAL) writeHeadLocked(h head) error {
	if err := w.replaceFile(headName, encodeHead(h)); err != nil {
		return err
	}
	w.headFirst = h.first
	return nil
}

// readWhole returns the content of path, nil if it does not exist.
func readWhole(fsys fileSystem, path string) ([]byte, error) {
	f, err := fsys.OpenFile(path, os.O_RDONLY, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("raft: wal open %s: %w", path, err)
	}
	defer f.Close()
	size, err := f.Size()
	if err != nil {
		return nil, fmt.Errorf("raft: wal stat %s: %w", path, err)
	}
	b := make([]byte, size)
	if _, err := f.ReadAt(b, 0); err != nil {
		return nil, fmt.Errorf("raft: wal read %s: %w", path, err)
	}
	return b, nil
}

// replaceFile atomically replaces the file name in the WAL's directory with
// data: temporary file, sync, rename, directory sync.
func (w *WAL) replaceFile(name string, data []byte) error {
	path := filepath.Join(w.dir, name)
	tmp := path + tmpSuffix
	f, err := w.fs.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("raft: wal create %s: %w", tmp, err)
	}
	_, err = f.WriteAt(data, 0)
	if err == nil && w.opts.sync {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("raft: wal write %s: %w", tmp, err)
	}
	if err := w.fs.Rename(tmp, path); err != nil {
		return fmt.Errorf("raft: wal rename %s: %w", tmp, err)
	}
	return w.syncDir()
}
