// Package raft implements the Raft consensus algorithm (Ongaro and Ousterhout,
// "In Search of an Understandable Consensus Algorithm", and Ongaro's thesis)
// as a library: a service embeds it to replicate its own state machine, an
// FSM, across a cluster of servers.
//
// The API is that of github.com/hashicorp/raft v1.8, so that a service can
// switch by changing its import path, and the TCP transport speaks the same
// wire protocol, so that both libraries can run in one cluster.
//
// # Lifecycle
//
//   - Bootstrap: a new cluster starts with BootstrapCluster on its first
//     servers (it refuses stores that hold state, so it is safe at every
//     start). Further servers join through AddVoter or AddNonvoter on the
//     leader.
//   - Run: NewRaft recovers the server from its stores (term, vote, the
//     newest snapshot, the log) and starts it as a follower. Servers elect a
//     leader among themselves.
//   - Apply: on the leader, Apply appends a command to the log; once a
//     majority stored it, it is committed and every server's FSM applies it,
//     in log order. The leader's ApplyFuture returns the FSM's response.
//     Barrier and VerifyLeader serve consistent reads.
//   - Snapshot: every SnapshotInterval, once SnapshotThreshold entries were
//     applied, the FSM is snapshotted and the log compacted; followers that
//     fall too far behind receive the snapshot.
//   - Shutdown: Shutdown stops the server; pending requests fail with
//     ErrRaftShutdown.
//
// See DESIGN.md in the repository for the goroutines and the path of one
// Apply.
package raft
