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

// TestReplicatorGather: a replicator waits for more entries only while
// some are pending, yet fewer than its last request carried.
func TestReplicatorGather(t *testing.T) {
	tests := []struct {
		name      string
		pending   uint64
		lastBatch uint64
		want      bool
	}{
		{"only the commit index to send", 0, 10, false},
		{"fewer than the last request", 3, 10, true},
		{"as many as the last request", 10, 10, false},
		{"more than the last request", 12, 10, false},
		{"one entry after one entry (light load)", 1, 1, false},
		{"first request of the term", 5, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &Raft{}
			p := &replicator{r: r, lastBatch: tt.lastBatch}
			p.next.Store(100)
			r.pubLastIndex.Store(100 + tt.pending - 1)
			if got := p.gather(); got != tt.want {
				t.Fatalf("gather() = %v, want %v", got, tt.want)
			}
		})
	}
}
