package compat

// A cluster of servers of both libraries over loopback TCP, and what the
// mixed-cluster tests do with it: find the leader, retry requests across
// leadership changes, write commands, compare the histories.
//
// These tests run on real sockets and real time, so nothing waits a fixed
// duration: every wait polls a condition until the test's end (derived from
// t.Deadline), and every request that fails for want of a leader is retried
// against whichever server leads.

import (
	"bytes"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
)

const (
	// pollEvery is how often a wait checks its condition.
	pollEvery = 5 * time.Millisecond
	// retryWait bounds each wait for the effect of one attempt (a leadership
	// transfer, say) before the attempt is made again.
	retryWait = 3 * time.Second
	// maxTestTime bounds a test that has no deadline of its own.
	maxTestTime = 45 * time.Second
	// window is how many writes are issued concurrently.
	window = 50
)

// logSink keeps the tail of what the servers log, for a failing test to
// print: quiet when tests pass, diagnosable when one fails.
type logSink struct {
	mu  sync.Mutex // guards buf
	buf []byte
}

// logTail is how much of the log a sink keeps.
const logTail = 256 << 10

func (s *logSink) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.buf = append(s.buf, p...)
	if len(s.buf) > 2*logTail {
		s.buf = append(s.buf[:0], s.buf[len(s.buf)-logTail:]...)
	}
	return len(p), nil
}

func (s *logSink) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.buf
	if len(b) > logTail {
		b = b[len(b)-logTail:]
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			b = b[i+1:]
		}
	}
	return string(b)
}

type cluster struct {
	t    *testing.T
	end  time.Time // when every wait gives up
	s    settings
	sink *logSink
	log  hclog.Logger // the test's own steps, among the servers' lines

	mu    sync.Mutex // guards all and nodes
	all   []node     // every server created, to shut down at the end
	nodes []node     // the servers running, in the order they started

	windows  atomic.Uint64 // the last window number handed out
	attempts atomic.Uint64 // the last attempt number handed out
}

// newCluster starts one bootstrapped server per entry of libs.
func newCluster(t *testing.T, s settings, libs ...lib) *cluster {
	t.Helper()
	c := &cluster{t: t, s: s, sink: &logSink{}, end: time.Now().Add(maxTestTime)}
	if d, ok := t.Deadline(); ok && d.Add(-5*time.Second).Before(c.end) {
		c.end = d.Add(-5 * time.Second)
	}
	c.log = c.logger("test")
	t.Cleanup(c.shutdownAll)
	t.Cleanup(func() { // before the shutdown, which may be what hangs
		if t.Failed() {
			t.Logf("server logs (tail):\n%s", c.sink)
		}
	})
	var boot []member
	var created []node
	for i, l := range libs {
		n := c.create(l, fmt.Sprintf("%s%d", l[:2], i+1))
		created = append(created, n)
		boot = append(boot, member{n.id(), n.addr()})
	}
	for _, n := range created {
		c.start(n, boot)
	}
	return c
}

func (c *cluster) logger(name string) hclog.Logger {
	return hclog.New(&hclog.LoggerOptions{Name: name, Level: hclog.Info, Output: c.sink})
}

// create makes a server (not yet running) with empty stores.
func (c *cluster) create(l lib, id string) node {
	c.t.Helper()
	var n node
	var err error
	switch l {
	case raftkit:
		n, err = newRaftkitNode(id, c.s, c.logger(id), c.stuck)
	default:
		n, err = newHashicorpNode(id, c.s, c.logger(id), c.stuck)
	}
	if err != nil {
		c.t.Fatal(err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.all = append(c.all, n)
	return n
}

// stuck fails the test for a request that never completed; any goroutine
// may call it while the test runs.
func (c *cluster) stuck(what string) {
	c.t.Errorf("%s did not complete within %s", what, futureWait)
}

// start runs n, bootstrapped with boot unless nil.
func (c *cluster) start(n node, boot []member) {
	c.t.Helper()
	if err := n.start(boot); err != nil {
		c.t.Fatal(err)
	}
	c.log.Info("started", "id", n.id(), "lib", n.lib(), "addr", n.addr())
	c.mu.Lock()
	defer c.mu.Unlock()
	c.nodes = append(c.nodes, n)
}

// stop shuts n down and forgets it.
func (c *cluster) stop(n node) {
	c.t.Helper()
	c.log.Info("stopping", "id", n.id(), "lib", n.lib())
	c.mu.Lock()
	c.nodes = slices.DeleteFunc(c.nodes, func(m node) bool { return m == n })
	c.all = slices.DeleteFunc(c.all, func(m node) bool { return m == n })
	c.mu.Unlock()
	c.shutdown(n)
}

func (c *cluster) shutdownAll() {
	c.mu.Lock()
	all := c.all
	c.all, c.nodes = nil, nil
	c.mu.Unlock()
	for _, n := range all {
		c.shutdown(n)
	}
}

// shutdownWait bounds a server's shutdown. A raftkit server that hangs
// fails the test with every goroutine's stack instead of the whole run
// timing out. A hashicorp server may hang too: its replication pipeline
// deadlocks when a response with a newer term (or a refusal) ends its
// decoder while the sender waits for room in the pipeline; that is
// hashicorp's bug, so the test only logs it. Either way the transport is
// then closed, so that the peers' requests fail at once.
const shutdownWait = 5 * time.Second

func (c *cluster) shutdown(n node) {
	c.t.Helper()
	done := make(chan error, 1)
	go func() { done <- n.stop() }()
	select {
	case err := <-done:
		if err != nil {
			c.t.Errorf("shutdown %s (%s): %v", n.id(), n.lib(), err)
		}
	case <-time.After(shutdownWait):
		if n.lib() == raftkit {
			buf := make([]byte, 4<<20)
			buf = buf[:runtime.Stack(buf, true)]
			c.t.Errorf("shutdown of %s (%s) hangs; goroutines:\n%s", n.id(), n.lib(), buf)
		} else {
			c.t.Logf("shutdown of %s (%s) hangs; leaving it", n.id(), n.lib())
		}
	}
	if err := n.closeTransport(); err != nil {
		c.t.Errorf("close the transport of %s (%s): %v", n.id(), n.lib(), err)
	}
}

// running returns the servers running.
func (c *cluster) running() []node {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.nodes)
}

// currentLeader returns a running server that believes it leads, or nil.
func (c *cluster) currentLeader() node {
	for _, n := range c.running() {
		if n.isLeader() {
			return n
		}
	}
	return nil
}

// waitUntil polls cond until it holds or until (at the latest) the test's
// end; it reports whether cond held.
func (c *cluster) waitUntil(until time.Time, cond func() bool) bool {
	until = minTime(until, c.end)
	for {
		if cond() {
			return true
		}
		if time.Now().After(until) {
			return false
		}
		time.Sleep(pollEvery)
	}
}

// waitFor polls cond until it holds, failing the test at its end.
func (c *cluster) waitFor(what string, cond func() bool) {
	c.t.Helper()
	if !c.waitUntil(c.end, cond) {
		c.t.Fatalf("gave up waiting for %s", what)
	}
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// leader waits for a running server that believes it leads.
func (c *cluster) leader() node {
	c.t.Helper()
	var l node
	c.waitFor("a leader", func() bool { l = c.currentLeader(); return l != nil })
	return l
}

// retry runs op on the leader until it succeeds, and returns that leader.
func (c *cluster) retry(what string, op func(leader node) error) node {
	c.t.Helper()
	var last error
	var done node
	ok := c.waitUntil(c.end, func() bool {
		l := c.currentLeader()
		if l == nil {
			return false
		}
		if last = op(l); last != nil {
			return false
		}
		done = l
		return true
	})
	if !ok {
		c.t.Fatalf("gave up on %s; last error: %v", what, last)
	}
	return done
}
