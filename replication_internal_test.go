package raft

import "testing"

// TestReplicatorAppendedWakeUp: new entries wake a replicator unless it
// would only go back to sleep (a pipelined request in flight, and not
// enough entries for a full request).
func TestReplicatorAppendedWakeUp(t *testing.T) {
	const maxEntries = 64
	tests := []struct {
		name     string
		next     uint64 // the replicator's next index
		last     uint64 // the leader's last index
		inflight int32
		want     bool
	}{
		{"nothing in flight", 10, 12, 0, true},
		{"in flight, a few new entries", 10, 12, 1, false},
		{"in flight, one short of a full request", 10, 10 + maxEntries - 2, 1, false},
		{"in flight, a full request", 10, 10 + maxEntries - 1, 2, true},
		{"in flight, more than a full request", 10, 200, 1, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &Raft{}
			r.pubLastIndex.Store(tt.last)
			p := &replicator{r: r, trigger: make(chan struct{}, 1)}
			p.next.Store(tt.next)
			p.inflight.Store(tt.inflight)
			p.appended(maxEntries)
			if got := len(p.trigger) == 1; got != tt.want {
				t.Fatalf("woken = %v, want %v", got, tt.want)
			}
		})
	}
}
