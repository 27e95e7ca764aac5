package raft

import (
	"errors"
	"slices"
	"testing"
)

// logWithTail returns a Raft whose LogStore holds entries 1 to last and
// whose tail holds tailFrom to last.
func logWithTail(t *testing.T, last, tailFrom uint64) *Raft {
	t.Helper()
	store := NewInmemStore()
	r := &Raft{logs: store}
	var tail []*Log
	for i := uint64(1); i <= last; i++ {
		e := &Log{Index: i, Term: 1}
		if err := store.StoreLog(e); err != nil {
			t.Fatal(err)
		}
		if i >= tailFrom {
			tail = append(tail, e)
		}
	}
	r.tail.append(tail)
	return r
}

// indexes lists the indexes of es.
func indexes(es []*Log) []uint64 {
	var out []uint64
	for _, e := range es {
		out = append(out, e.Index)
	}
	return out
}

// TestEntriesAppendsToDst: entries appends what it reads after what dst
// already holds, from the tail and from the LogStore alike.
func TestEntriesAppendsToDst(t *testing.T) {
	r := logWithTail(t, 10, 6)
	tests := []struct {
		name            string
		dst             []*Log
		from, last      uint64
		max             int
		want            []uint64
		wantNotFoundErr bool
	}{
		{"from the store", nil, 2, 4, 10, []uint64{2, 3, 4}, false},
		{"from the tail", nil, 7, 10, 10, []uint64{7, 8, 9, 10}, false},
		{"across both", nil, 4, 8, 10, []uint64{4, 5, 6, 7, 8}, false},
		{"bounded by max", nil, 6, 10, 2, []uint64{6, 7}, false},
		{"after dst, from the tail", []*Log{{Index: 99}}, 8, 10, 10, []uint64{99, 8, 9, 10}, false},
		{"after dst, across both", []*Log{{Index: 98}, {Index: 99}}, 5, 7, 10, []uint64{98, 99, 5, 6, 7}, false},
		{"nothing asked", []*Log{{Index: 99}}, 5, 4, 10, []uint64{99}, false},
		{"past the log", nil, 10, 12, 10, []uint64{10}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := r.entries(tt.dst, tt.from, tt.last, tt.max)
			if notFound := errors.Is(err, ErrLogNotFound); notFound != tt.wantNotFoundErr || (err != nil && !notFound) {
				t.Fatalf("error %v, want ErrLogNotFound: %v", err, tt.wantNotFoundErr)
			}
			if g := indexes(got); !slices.Equal(g, tt.want) {
				t.Fatalf("got indexes %v, want %v", g, tt.want)
			}
		})
	}
}

// TestFSMLoadMixesFuturesAndLog: the FSM runner takes the leader's own
// entries from their futures and the others from the log, in index order.
func TestFSMLoadMixesFuturesAndLog(t *testing.T) {
	r := logWithTail(t, 8, 5)
	futures := []*logFuture{newLogFuture(Log{Index: 3, Term: 1}), newLogFuture(Log{Index: 4, Term: 1})}
	f := &fsmRunner{r: r}
	used, err := f.load(1, 7, futures)
	if err != nil || used != 2 {
		t.Fatalf("load used %d futures, error %v; want 2, nil", used, err)
	}
	if got := indexes(f.batch); !slices.Equal(got, []uint64{1, 2, 3, 4, 5, 6, 7}) {
		t.Fatalf("batch indexes %v", got)
	}
	for i, fu := range f.futs {
		var want *logFuture
		if i == 2 || i == 3 {
			want = futures[i-2]
		}
		if fu != want {
			t.Fatalf("future of entry %d is %p, want %p", i+1, fu, want)
		}
		if want != nil && f.batch[i] != &want.log {
			t.Fatalf("entry %d does not come from its future", i+1)
		}
	}
}
