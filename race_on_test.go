//go:build race

package raft_test

// raceEnabled reports whether the tests run under the race detector, which
// makes memory-heavy tests too slow at full size.
const raceEnabled = true
