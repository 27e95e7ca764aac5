package raft

import (
	"fmt"
	"time"

	metrics "github.com/armon/go-metrics"
)

// LogType describes the kind of a log entry. The numeric values are part of the
// wire and storage formats and match hashicorp/raft.
type LogType uint8

const (
	// LogCommand is applied to the user's FSM.
	LogCommand LogType = iota

	// LogNoop is appended by every new leader to commit entries of earlier terms
	// (Raft paper, section 5.4.2). It is never given to the FSM.
	LogNoop

	// LogAddPeerDeprecated belongs to protocol version 0 and is not used.
	LogAddPeerDeprecated

	// LogRemovePeerDeprecated belongs to protocol version 0 and is not used.
	LogRemovePeerDeprecated

	// LogBarrier makes the leader wait until every earlier entry is applied.
	LogBarrier

	// LogConfiguration holds an encoded Configuration (see EncodeConfiguration).
	LogConfiguration
)

// String returns the name of the log type.
func (lt LogType) String() string {
	switch lt {
	case LogCommand:
		return "LogCommand"
	case LogNoop:
		return "LogNoop"
	case LogAddPeerDeprecated:
		return "LogAddPeerDeprecated"
	case LogRemovePeerDeprecated:
		return "LogRemovePeerDeprecated"
	case LogBarrier:
		return "LogBarrier"
	case LogConfiguration:
		return "LogConfiguration"
	default:
		return fmt.Sprintf("%d", lt)
	}
}

// Log is one entry of the replicated log.
type Log struct {
	// Index is the entry's position in the log, from 1.
	Index uint64

	// Term is the term of the leader that created the entry.
	Term uint64

	// Type says how raft treats the entry.
	Type LogType

	// Data is the entry's payload: the user's command for LogCommand, an
	// encoded Configuration for LogConfiguration.
	Data []byte

	// Extensions holds an opaque byte slice of information for middleware. It
	// is replicated with the entry but never interpreted by raft.
	Extensions []byte

	// AppendedAt is when the leader appended the entry. Raft takes no
	// decision on it; it feeds metrics such as the age of the oldest entry.
	AppendedAt time.Time
}

// LogStore keeps the log durably.
//
// Raft calls a LogStore from several goroutines at once (the main loop writes,
// replication and FSM goroutines read), so implementations must be safe for
// concurrent use. Raft never modifies a *Log it passed to StoreLogs after the
// call, and never retains the *Log passed to GetLog; a store may keep the
// slices of stored entries.
type LogStore interface {
	// FirstIndex is the lowest index held, 0 when the store is empty.
	FirstIndex() (uint64, error)

	// LastIndex is the highest index held, 0 when the store is empty.
	LastIndex() (uint64, error)

	// GetLog fills log with the entry at index, or returns ErrLogNotFound.
	GetLog(index uint64, log *Log) error

	// StoreLog stores one entry, as StoreLogs does.
	StoreLog(log *Log) error

	// StoreLogs appends entries with consecutive indexes. When it returns nil
	// they must be durable: raft acknowledges them to the leader on that basis.
	StoreLogs(logs []*Log) error

	// DeleteRange removes the entries from min to max, both included.
	DeleteRange(min, max uint64) error
}

// MonotonicLogStore is an optional capability of a LogStore. A store whose
// IsMonotonic returns true cannot hold a gap between indexes, so after
// installing a snapshot raft empties it rather than leaving the older entries
// in place below the snapshot's index.
type MonotonicLogStore interface {
	IsMonotonic() bool
}

// CommitTrackingLogStore is a LogStore that also records the commit index, so
// that a restarting node can replay committed entries into its FSM before it
// hears from a leader (see Config.RestoreCommittedLogs).
type CommitTrackingLogStore interface {
	LogStore

	// StageCommitIndex records idx as committed. Raft calls it before
	// StoreLogs and the store makes it durable together with those logs; a
	// store may therefore persist it lazily.
	StageCommitIndex(idx uint64) error

	// GetCommitIndex returns the last commit index persisted by the store.
	GetCommitIndex() (uint64, error)
}

// oldestLogAge returns the age of the first entry of the store, for the
// raft.oldestLogAge gauge.
func oldestLogAge(s LogStore) (time.Duration, error) {
	first, err := s.FirstIndex()
	if err != nil || first == 0 {
		return 0, err
	}
	var l Log
	if err := s.GetLog(first, &l); err != nil {
		return 0, err
	}
	if l.AppendedAt.IsZero() {
		return 0, nil
	}
	return time.Since(l.AppendedAt), nil
}

// emitOldestLogAge sets the raft.oldestLogAge gauge, in milliseconds.
func (r *Raft) emitOldestLogAge() {
	age, err := oldestLogAge(r.logs)
	if err != nil {
		r.logger.Warn("failed to read the oldest log entry", "error", err)
		return
	}
	metrics.SetGauge([]string{"raft", "oldestLogAge"}, float32(age.Milliseconds()))
}
