//go:build !race && !raftdebug

package raft

// assert checks an invariant; this build (neither -race nor the raftdebug
// tag) compiles the checks out.
func assert(cond bool, msg string, kv ...interface{}) {}
