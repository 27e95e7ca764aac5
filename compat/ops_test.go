package compat

// What the mixed-cluster tests do to a cluster: write through the leader,
// move leadership, change membership, and check that every server applied
// the same history, holding every acknowledged write exactly once.

import (
	"fmt"
	"maps"
	"slices"
	"sync"
	"testing"
	"time"
)

// write applies n commands through whichever server leads, window by window,
// and returns the attempts acknowledged (n of them) in the order of their
// windows. A failed attempt may or may not have been committed; it is
// retried as a new attempt.
func (c *cluster) write(n int) []uint64 {
	c.t.Helper()
	var acked []uint64
	var last error
	for len(acked) < n {
		if time.Now().After(c.end) {
			c.t.Fatalf("gave up writing after %d of %d acknowledged; last error: %v", len(acked), n, last)
		}
		got, err := c.writeWindow(c.leader(), min(window, n-len(acked)))
		acked = append(acked, got...)
		if err != nil {
			last = err
		}
		if len(got) == 0 {
			time.Sleep(pollEvery) // no leader able to write yet: poll again
		}
	}
	return acked
}

// writeWindow issues k writes to l at once and returns the attempts
// acknowledged, sorted, and an error of one that failed.
func (c *cluster) writeWindow(l node, k int) ([]uint64, error) {
	w := c.windows.Add(1)
	var mu sync.Mutex // guards acked and failed
	var acked []uint64
	var failed error
	var wg sync.WaitGroup
	for range k {
		a := c.attempts.Add(1)
		wg.Go(func() {
			err := l.apply(command(w, a))
			mu.Lock()
			defer mu.Unlock()
			if err == nil {
				acked = append(acked, a)
			} else {
				failed = fmt.Errorf("apply on %s (%s): %w", l.id(), l.lib(), err)
			}
		})
	}
	wg.Wait()
	slices.Sort(acked)
	return acked, failed
}

// applied runs a barrier through the leader and returns how many commands
// the leader then has applied: everything committed so far.
func (c *cluster) applied() int {
	c.t.Helper()
	var n int
	c.retry("a barrier", func(l node) error {
		if err := l.barrier(); err != nil {
			return fmt.Errorf("barrier on %s (%s): %w", l.id(), l.lib(), err)
		}
		n = l.history().len()
		return nil
	})
	return n
}

// converge waits until every running server applied everything committed,
// checks that they all applied the same commands, holding acked, and
// returns those commands. Nothing may be writing meanwhile.
func (c *cluster) converge(acked []uint64) []string {
	c.t.Helper()
	want := c.applied()
	nodes := c.running()
	c.waitFor(fmt.Sprintf("every server to apply %d commands", want), func() bool {
		for _, n := range nodes {
			if n.history().len() < want {
				return false
			}
		}
		return true
	})
	ref := nodes[0].history().commands()
	for _, n := range nodes[1:] {
		if got := n.history().commands(); !slices.Equal(got, ref) {
			c.t.Fatalf("%s (%s) applied %d commands, %s (%s) %d; first difference at %d",
				n.id(), n.lib(), len(got), nodes[0].id(), nodes[0].lib(), len(ref), firstDifference(got, ref))
		}
	}
	checkHistory(c.t, ref, acked)
	return ref
}

func firstDifference(a, b []string) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// checkHistory checks the commands a server applied: every attempt at most
// once, windows in the order they were issued, every acknowledged attempt
// present.
func checkHistory(t *testing.T, cmds []string, acked []uint64) {
	t.Helper()
	seen := make(map[uint64]bool, len(cmds))
	var lastWindow uint64
	for i, cmd := range cmds {
		w, a, err := parseCommand(cmd)
		if err != nil {
			t.Fatalf("command %d: %v", i, err)
		}
		if seen[a] {
			t.Fatalf("command %d: attempt %d applied twice", i, a)
		}
		if w < lastWindow {
			t.Fatalf("command %d: window %d applied after window %d", i, w, lastWindow)
		}
		seen[a], lastWindow = true, w
	}
	for _, a := range acked {
		if !seen[a] {
			t.Fatalf("acknowledged attempt %d is missing from the %d commands applied", a, len(cmds))
		}
	}
}

// lead makes n the leader: the current leader transfers leadership to it
// (or an election does), as many times as it takes.
func (c *cluster) lead(n node) {
	c.t.Helper()
	var last error
	ok := c.waitUntil(c.end, func() bool {
		l := c.currentLeader()
		switch {
		case l == n:
			return true
		case l == nil:
			return false
		}
		if last = l.transferTo(n.id(), n.addr()); last == nil {
			c.waitUntil(time.Now().Add(retryWait), n.isLeader)
		}
		return false
	})
	if !ok {
		c.t.Fatalf("gave up making %s (%s) the leader; last error: %v", n.id(), n.lib(), last)
	}
}

// handOver has from, once leading, pass leadership to to with
// LeadershipTransferToServer, and waits until to leads. An attempt that
// fails (an election may intervene on a loaded machine) is made again.
func (c *cluster) handOver(from, to node) {
	c.t.Helper()
	var last error
	ok := c.waitUntil(c.end, func() bool {
		c.lead(from)
		if last = from.transferTo(to.id(), to.addr()); last != nil {
			return false
		}
		return c.waitUntil(time.Now().Add(retryWait), to.isLeader)
	})
	if !ok {
		c.t.Fatalf("gave up handing leadership from %s (%s) to %s (%s); last error: %v",
			from.id(), from.lib(), to.id(), to.lib(), last)
	}
	c.log.Info("leadership handed over", "from", from.id(), "to", to.id())
}

// changeConfiguration runs change on the leader until the leader's
// configuration satisfies done, then commits it with a barrier. It returns
// the library of the leader that made the change.
func (c *cluster) changeConfiguration(what string, change func(l node) error, done func(servers map[string]string) bool) lib {
	c.t.Helper()
	var by lib
	c.retry(what, func(l node) error {
		servers, err := l.servers()
		if err != nil {
			return err
		}
		if !done(servers) {
			by = l.lib()
			if err := change(l); err != nil {
				return fmt.Errorf("%s on %s (%s): %w", what, l.id(), l.lib(), err)
			}
			if servers, err = l.servers(); err != nil {
				return err
			}
			if !done(servers) {
				return fmt.Errorf("%s on %s (%s) succeeded, yet the configuration is %v", what, l.id(), l.lib(), servers)
			}
		}
		return l.barrier()
	})
	c.log.Info("configuration changed", "change", what, "by", by)
	return by
}

func (c *cluster) addVoter(n node) lib {
	c.t.Helper()
	return c.changeConfiguration("add voter "+n.id(),
		func(l node) error { return l.addVoter(n.id(), n.addr()) },
		func(s map[string]string) bool { return s[n.id()] == "Voter" })
}

func (c *cluster) removeServer(n node) lib {
	c.t.Helper()
	return c.changeConfiguration("remove server "+n.id(),
		func(l node) error { return l.removeServer(n.id()) },
		func(s map[string]string) bool { _, in := s[n.id()]; return !in })
}

// catchUp waits until n applied everything committed when it is called.
func (c *cluster) catchUp(n node) {
	c.t.Helper()
	want := c.applied()
	c.waitFor(fmt.Sprintf("%s to catch up to %d commands", n.id(), want), func() bool { return n.history().len() >= want })
}

// first returns the first running server of l.
func (c *cluster) first(l lib) node {
	c.t.Helper()
	for _, n := range c.running() {
		if n.lib() == l {
			return n
		}
	}
	c.t.Fatalf("no %s server running", l)
	return nil
}

// voters returns the IDs of the voters in the leader's configuration, sorted.
func (c *cluster) voters() []string {
	c.t.Helper()
	var ids []string
	c.retry("reading the configuration", func(l node) error {
		servers, err := l.servers()
		ids = nil
		for _, id := range slices.Sorted(maps.Keys(servers)) {
			if servers[id] == "Voter" {
				ids = append(ids, id)
			}
		}
		return err
	})
	return ids
}
