package rafttest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"sync"

	"github.com/raftkit/raft"
)

// LogFSM is an FSM that records every command applied to it, in order. Its
// Apply returns the command's index. It is what a Cluster uses when the test
// gives no FSM, and a handy probe of what raft applied.
type LogFSM struct {
	mu       sync.Mutex
	commands [][]byte // guarded by mu
	indexes  []uint64 // guarded by mu; the log index of each command
}

// NewLogFSM returns an empty LogFSM.
func NewLogFSM() *LogFSM { return &LogFSM{} }

// Apply records the command.
func (f *LogFSM) Apply(l *raft.Log) interface{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.commands = append(f.commands, append([]byte(nil), l.Data...))
	f.indexes = append(f.indexes, l.Index)
	return l.Index
}

// Commands returns a copy of the commands applied so far.
func (f *LogFSM) Commands() [][]byte {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([][]byte(nil), f.commands...)
}

// Indexes returns the log indexes of the commands applied so far.
func (f *LogFSM) Indexes() []uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]uint64(nil), f.indexes...)
}

// logState is LogFSM's snapshot format.
type logState struct {
	Commands [][]byte
	Indexes  []uint64
}

// Snapshot captures the commands applied so far.
func (f *LogFSM) Snapshot() (raft.FSMSnapshot, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return &logSnapshot{logState{Commands: append([][]byte(nil), f.commands...), Indexes: append([]uint64(nil), f.indexes...)}}, nil
}

// Restore replaces the record with a snapshot's.
func (f *LogFSM) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	var st logState
	if err := json.NewDecoder(rc).Decode(&st); err != nil {
		return fmt.Errorf("rafttest: LogFSM restore: %w", err)
	}
	if len(st.Commands) != len(st.Indexes) {
		return fmt.Errorf("rafttest: LogFSM restore: %d commands for %d indexes", len(st.Commands), len(st.Indexes))
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.commands, f.indexes = st.Commands, st.Indexes
	return nil
}

type logSnapshot struct{ st logState }

func (s *logSnapshot) Persist(sink raft.SnapshotSink) error {
	var buf bytes.Buffer
	if err := json.NewEncoder(&buf).Encode(s.st); err != nil {
		sink.Cancel()
		return err
	}
	if _, err := sink.Write(buf.Bytes()); err != nil {
		sink.Cancel()
		return err
	}
	return sink.Close()
}

func (s *logSnapshot) Release() {}
