package rafttest_test

import (
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/raftkit/raft"
	"github.com/raftkit/raft/rafttest"
)

// TestSlowWriteLostToFailure: a write lands at the end of its delay, so one
// in flight when writes start failing (a crash during a slow write) is lost,
// and one that landed before stays.
func TestSlowWriteLostToFailure(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := rafttest.NewStore()
		s.SetWriteDelay(10 * time.Millisecond)
		if err := s.StoreLogs([]*raft.Log{{Index: 1, Term: 1}}); err != nil {
			t.Fatal(err)
		}
		done := make(chan error)
		go func() { done <- s.StoreLogs([]*raft.Log{{Index: 2, Term: 1}}) }()
		time.Sleep(5 * time.Millisecond) // the second write is in flight
		s.FailWrites(true)
		if err := <-done; !errors.Is(err, rafttest.ErrInjected) {
			t.Fatalf("write in flight at the failure: %v, want ErrInjected", err)
		}
		if last, _ := s.LastIndex(); last != 1 || s.LogWrites() != 1 {
			t.Fatalf("last index %d after %d writes, want 1 after 1", last, s.LogWrites())
		}
	})
}
