// Package compat holds the tests that run raftkit against hashicorp/raft, the
// reference implementation, over loopback TCP: transport-level
// interoperability (transport_interop_test.go, pipeline_time_test.go) and
// clusters mixing servers of both libraries (mixed_test.go: replication,
// a leader's loss, leadership transfers, snapshot installs; rolling_test.go:
// a hashicorp cluster replaced by raftkit servers one at a time under
// writes). It is a module of its own so that the raftkit library never
// depends on hashicorp/raft.
package compat
