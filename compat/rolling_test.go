package compat

// A rolling migration: each server of a hashicorp/raft cluster in turn is
// replaced by a raftkit server while a client keeps writing, and nothing the
// cluster acknowledged is lost.

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"
)

// client writes one command at a time through whichever server leads, from
// its own goroutine, until stopped.
type client struct {
	c      *cluster
	stopCh chan struct{}
	done   chan struct{}
	once   sync.Once

	mu     sync.Mutex // guards acked, failed and last
	acked  []uint64   // the attempts acknowledged, in order
	failed int        // attempts whose outcome is unknown
	last   error      // the error of the last failed attempt
}

func (c *cluster) startClient() *client {
	cl := &client{c: c, stopCh: make(chan struct{}), done: make(chan struct{})}
	go cl.run()
	c.t.Cleanup(func() { cl.stop() })
	return cl
}

func (cl *client) run() {
	defer close(cl.done)
	for {
		l := cl.c.currentLeader()
		var err error
		if l != nil {
			// A window per attempt: the history must hold them in order.
			w, a := cl.c.windows.Add(1), cl.c.attempts.Add(1)
			err = l.apply(command(w, a))
			cl.record(a, err)
		}
		wait := time.Duration(0)
		if l == nil || err != nil {
			wait = pollEvery // no leader able to write yet: poll again
		}
		select {
		case <-cl.stopCh:
			return
		case <-time.After(wait):
		}
	}
}

func (cl *client) record(attempt uint64, err error) {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	if err == nil {
		cl.acked = append(cl.acked, attempt)
	} else {
		cl.failed++
		cl.last = err
	}
}

func (cl *client) count() int {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	return len(cl.acked)
}

// waitAcks waits until k more writes are acknowledged.
func (cl *client) waitAcks(k int) {
	cl.c.t.Helper()
	want := cl.count() + k
	cl.c.waitFor(fmt.Sprintf("%d acknowledged writes", want), func() bool { return cl.count() >= want })
}

// stop ends the client's goroutine and returns the attempts acknowledged
// and the number that failed.
func (cl *client) stop() (acked []uint64, failed int) {
	cl.once.Do(func() { close(cl.stopCh) })
	<-cl.done
	cl.mu.Lock()
	defer cl.mu.Unlock()
	return slices.Clone(cl.acked), cl.failed
}

// replace removes old from the cluster, shuts it down, and adds a new
// raftkit server with empty stores in its place; it returns the new server
// once caught up.
func (c *cluster) replace(old node, id string) node {
	c.t.Helper()
	removedBy := c.removeServer(old)
	c.stop(old)
	n := c.create(raftkit, id)
	c.start(n, nil)
	addedBy := c.addVoter(n)
	c.catchUp(n)
	c.t.Logf("replaced %s (removed by a %s leader) with %s (added by a %s leader)", old.id(), removedBy, id, addedBy)
	return n
}

// TestRollingReplacement: a hashicorp cluster becomes a raftkit cluster one
// server at a time while a client writes; every server ends with every
// acknowledged write exactly once, in order. Snapshots are frequent, so that
// new servers may catch up by InstallSnapshot as well as by the log.
func TestRollingReplacement(t *testing.T) {
	c := newCluster(t, settings{trailingLogs: 64, snapshotThreshold: 128, snapshotInterval: 100 * time.Millisecond},
		hashicorp, hashicorp, hashicorp)
	hc := c.running()
	cl := c.startClient()

	// A hashicorp leader removes a follower and adds a voter at once.
	cl.waitAcks(20)
	c.lead(hc[0])
	rk := c.replace(hc[1], "rk4")

	// A raftkit leader removes a hashicorp follower and stages the new
	// server before promoting it.
	cl.waitAcks(20)
	c.lead(rk)
	c.replace(hc[2], "rk5")

	// A hashicorp leader removes itself; a raftkit leader adds the last one.
	cl.waitAcks(20)
	c.lead(hc[0])
	c.replace(hc[0], "rk6")

	cl.waitAcks(20)
	acked, failed := cl.stop()
	if got := libsOf(c.running()); !slices.Equal(got, []lib{raftkit, raftkit, raftkit}) {
		t.Fatalf("servers running: %v, want three raftkit", got)
	}
	if got := c.voters(); !slices.Equal(got, []string{"rk4", "rk5", "rk6"}) {
		t.Fatalf("voters %v, want rk4, rk5, rk6", got)
	}
	cmds := c.converge(acked)
	t.Logf("%d writes acknowledged, %d uncertain, %d applied", len(acked), failed, len(cmds))
}
