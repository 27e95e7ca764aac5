package compat

// Clusters mixing raftkit and hashicorp/raft servers over loopback TCP:
// replication, a leader's loss, leadership transfers and snapshot installs
// across the two libraries.

import (
	"fmt"
	"testing"
)

// mixes are the mixed clusters of three servers.
var mixes = [][]lib{{raftkit, raftkit, hashicorp}, {raftkit, hashicorp, hashicorp}}

func mixName(libs []lib) string {
	counts := map[lib]int{}
	for _, l := range libs {
		counts[l]++
	}
	return fmt.Sprintf("%draftkit+%dhashicorp", counts[raftkit], counts[hashicorp])
}

// majority returns the library most servers of libs run.
func majority(libs []lib) lib {
	n := 0
	for _, l := range libs {
		if l == raftkit {
			n++
		}
	}
	if 2*n > len(libs) {
		return raftkit
	}
	return hashicorp
}

// TestMixedReplication: a mixed cluster elects a leader and replicates 1,000
// entries to identical FSMs; when the leader shuts down, the two servers
// left (one of each library) elect a new one and writes go on.
func TestMixedReplication(t *testing.T) {
	for _, mix := range mixes {
		t.Run(mixName(mix), func(t *testing.T) {
			c := newCluster(t, noSnapshots, mix...)
			acked := c.write(1000)
			c.converge(acked)

			old := c.first(majority(mix))
			c.lead(old)
			c.stop(old)
			left := c.running()
			if len(left) != 2 || left[0].lib() == left[1].lib() {
				t.Fatalf("want one server of each library left, have %v", libsOf(left))
			}
			acked = append(acked, c.write(200)...)
			c.converge(acked)
		})
	}
}

func libsOf(nodes []node) []lib {
	var libs []lib
	for _, n := range nodes {
		libs = append(libs, n.lib())
	}
	return libs
}

// TestMixedLeadershipTransfer: LeadershipTransferToServer passes leadership
// from a raftkit leader to a hashicorp server and back, and writes go on.
func TestMixedLeadershipTransfer(t *testing.T) {
	for _, mix := range mixes {
		t.Run(mixName(mix), func(t *testing.T) {
			c := newCluster(t, noSnapshots, mix...)
			rk, hc := c.first(raftkit), c.first(hashicorp)
			acked := c.write(50)
			c.handOver(rk, hc)
			acked = append(acked, c.write(50)...)
			c.handOver(hc, rk)
			acked = append(acked, c.write(50)...)
			c.converge(acked)
		})
	}
}

// TestMixedSnapshotInstall: a leader whose log is compacted brings a new
// server of the other library up to date with InstallSnapshot.
func TestMixedSnapshotInstall(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mix    []lib
		joiner lib
	}{
		{"raftkit leader to hashicorp follower", []lib{raftkit, raftkit, hashicorp}, hashicorp},
		{"hashicorp leader to raftkit follower", []lib{hashicorp, hashicorp, raftkit}, raftkit},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := noSnapshots
			s.trailingLogs = 10
			c := newCluster(t, s, tc.mix...)
			acked := c.write(100)

			// The server of the joiner's library leaves, so that whichever
			// server leads is of the other library.
			gone := c.first(tc.joiner)
			c.removeServer(gone)
			c.stop(gone)
			acked = append(acked, c.write(300)...)
			c.compactAll()
			acked = append(acked, c.write(20)...)

			joiner := c.create(tc.joiner, "new")
			c.start(joiner, nil)
			c.addVoter(joiner)
			c.converge(acked)
			if joiner.history().restored() == 0 {
				t.Fatalf("%s (%s) caught up without restoring a snapshot", joiner.id(), joiner.lib())
			}
		})
	}
}

// compactAll has every running server take a snapshot and checks that it
// compacted its log.
func (c *cluster) compactAll() {
	c.t.Helper()
	for _, n := range c.running() {
		var err error
		c.waitUntil(c.end, func() bool { err = n.snapshot(); return err == nil })
		if err != nil {
			c.t.Fatalf("snapshot on %s (%s): %v", n.id(), n.lib(), err)
		}
		first, err := n.firstIndex()
		if err != nil || first <= 1 {
			c.t.Fatalf("%s (%s): log starts at %d after a snapshot (%v), want it compacted", n.id(), n.lib(), first, err)
		}
	}
}
