package compat

// The state machine of the mixed-cluster tests: a history of the commands
// applied, in order, shared by one FSM adapter per library.
//
// A command is 16 bytes, two big-endian uint64:
//
//	+----------------+----------------+
//	| window (8)     | attempt (8)    |
//	+----------------+----------------+
//
// attempt is unique to each Apply call the test makes (a retry is a new
// attempt), window groups the attempts issued concurrently. A snapshot is the
// list of commands: a uvarint count, then each command as a uvarint length
// and its bytes.

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"sync"

	hraft "github.com/hashicorp/raft"
	"github.com/raftkit/raft"
)

// command encodes one attempt of window.
func command(window, attempt uint64) []byte {
	b := make([]byte, 16)
	binary.BigEndian.PutUint64(b, window)
	binary.BigEndian.PutUint64(b[8:], attempt)
	return b
}

// parseCommand decodes what command encoded.
func parseCommand(c string) (window, attempt uint64, err error) {
	if len(c) != 16 {
		return 0, 0, fmt.Errorf("command of %d bytes, want 16", len(c))
	}
	return binary.BigEndian.Uint64([]byte(c[:8])), binary.BigEndian.Uint64([]byte(c[8:])), nil
}

// history records what one server's FSM applied.
type history struct {
	mu       sync.Mutex // guards cmds and restores
	cmds     []string   // the commands applied (or restored), in order
	restores int        // snapshots restored
}

func (h *history) add(data []byte) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.cmds = append(h.cmds, string(data))
}

// commands returns a copy of the commands applied so far.
func (h *history) commands() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.cmds...)
}

func (h *history) len() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.cmds)
}

func (h *history) restored() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.restores
}

// restore replaces the history with the snapshot read from r.
func (h *history) restore(r io.Reader) error {
	cmds, err := readCommands(r)
	if err != nil {
		return err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.cmds = cmds
	h.restores++
	return nil
}

func writeCommands(w io.Writer, cmds []string) error {
	bw := bufio.NewWriter(w)
	b := binary.AppendUvarint(nil, uint64(len(cmds)))
	for _, c := range cmds {
		b = binary.AppendUvarint(b, uint64(len(c)))
		b = append(b, c...)
		if len(b) > 4096 {
			if _, err := bw.Write(b); err != nil {
				return fmt.Errorf("write snapshot: %w", err)
			}
			b = b[:0]
		}
	}
	if _, err := bw.Write(b); err != nil {
		return fmt.Errorf("write snapshot: %w", err)
	}
	return bw.Flush()
}

// maxCommands bounds what readCommands believes of a count it reads.
const maxCommands = 1 << 24

func readCommands(r io.Reader) ([]string, error) {
	br := bufio.NewReader(r)
	n, err := binary.ReadUvarint(br)
	if err != nil || n > maxCommands {
		return nil, fmt.Errorf("snapshot count %d: %v", n, err)
	}
	cmds := make([]string, 0, n)
	for range n {
		size, err := binary.ReadUvarint(br)
		if err != nil || size > 1<<20 {
			return nil, fmt.Errorf("snapshot command length %d: %v", size, err)
		}
		b := make([]byte, size)
		if _, err := io.ReadFull(br, b); err != nil {
			return nil, fmt.Errorf("snapshot command: %w", err)
		}
		cmds = append(cmds, string(b))
	}
	return cmds, nil
}

// rkFSM is the history as a raftkit FSM.
type rkFSM struct{ h *history }

func (f rkFSM) Apply(l *raft.Log) any {
	if l.Type == raft.LogCommand {
		f.h.add(l.Data)
	}
	return nil
}

func (f rkFSM) Snapshot() (raft.FSMSnapshot, error) { return rkSnapshot(f.h.commands()), nil }

func (f rkFSM) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	return f.h.restore(rc)
}

type rkSnapshot []string

func (s rkSnapshot) Persist(sink raft.SnapshotSink) error {
	if err := writeCommands(sink, s); err != nil {
		_ = sink.Cancel()
		return err
	}
	return sink.Close()
}

func (rkSnapshot) Release() {}

// hcFSM is the history as a hashicorp FSM.
type hcFSM struct{ h *history }

func (f hcFSM) Apply(l *hraft.Log) any {
	if l.Type == hraft.LogCommand {
		f.h.add(l.Data)
	}
	return nil
}

func (f hcFSM) Snapshot() (hraft.FSMSnapshot, error) { return hcSnapshot(f.h.commands()), nil }

func (f hcFSM) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	return f.h.restore(rc)
}

type hcSnapshot []string

func (s hcSnapshot) Persist(sink hraft.SnapshotSink) error {
	if err := writeCommands(sink, s); err != nil {
		_ = sink.Cancel()
		return err
	}
	return sink.Close()
}

func (hcSnapshot) Release() {}
