package raft

import "errors"

// StableStore holds the few values raft must not forget across a restart:
// its current term and its vote (keys CurrentTerm, LastVoteTerm and
// LastVoteCand, the keys hashicorp/raft uses).
//
// The main loop is the only caller. A Set or SetUint64 that returns nil must
// be durable: a vote is granted only after it is stored. A missing key is
// reported by Get with an error ("not found") or an empty value, and by
// GetUint64 with 0 or that error.
type StableStore interface {
	Set(key []byte, val []byte) error

	Get(key []byte) ([]byte, error)

	SetUint64(key []byte, val uint64) error
	GetUint64(key []byte) (uint64, error)
}

// Keys of the StableStore, shared with hashicorp/raft so that a node's state
// survives a switch of library.
var (
	keyCurrentTerm  = []byte("CurrentTerm")
	keyLastVoteTerm = []byte("LastVoteTerm")
	keyLastVoteCand = []byte("LastVoteCand")
)

// errKeyNotFound is what raftkit's own stores return for a missing key.
var errKeyNotFound = errors.New("not found")

// isNotFound reports whether err means that a StableStore holds no value for
// a key. Stores written for hashicorp/raft (raft-boltdb and others) signal it
// with an error whose text is "not found"; this is the one place that knows.
func isNotFound(err error) bool {
	return err != nil && (errors.Is(err, errKeyNotFound) || err.Error() == errKeyNotFound.Error())
}
