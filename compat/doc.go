// Package compat holds the tests that run raftkit against hashicorp/raft, the
// reference implementation: transport-level interoperability over loopback
// TCP here, mixed clusters elsewhere. It is a module of its own so that the
// raftkit library never depends on hashicorp/raft.
package compat
