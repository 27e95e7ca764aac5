//go:build race || raftdebug

package raft

import "fmt"

// assert panics with the values that broke an invariant. It is compiled in
// under the race detector and the raftdebug build tag only.
func assert(cond bool, msg string, kv ...interface{}) {
	if !cond {
		panic(fmt.Sprintf("raft: invariant broken: %s %v", msg, kv))
	}
}
