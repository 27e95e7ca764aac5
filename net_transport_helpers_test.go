package raft

import (
	"bytes"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
)

// syncBuffer is a log sink tests can read while the transport writes.
type syncBuffer struct {
	mu  sync.Mutex // guards buf
	buf bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}

// testLogger logs to out at debug level.
func testLogger(out *syncBuffer) hclog.Logger {
	return hclog.New(&hclog.LoggerOptions{Name: "raft-net", Output: out, Level: hclog.Debug})
}

// deadline is when a polling test gives up: a little before the test's own
// deadline, or 10s from now.
func deadline(t *testing.T) time.Time {
	if d, ok := t.Deadline(); ok {
		return d.Add(-time.Second)
	}
	return time.Now().Add(10 * time.Second)
}

// waitFor polls cond until it holds or the test's deadline nears.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	end := deadline(t)
	for !cond() {
		if time.Now().After(end) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// newTestTransport returns a TCP transport on loopback, closed at cleanup.
func newTestTransport(t *testing.T, modify ...func(*NetworkTransportConfig)) (*NetworkTransport, *syncBuffer) {
	t.Helper()
	logs := &syncBuffer{}
	config := &NetworkTransportConfig{MaxPool: 2, Timeout: 2 * time.Second, Logger: testLogger(logs)}
	for _, m := range modify {
		m(config)
	}
	trans, err := NewTCPTransportWithConfig("127.0.0.1:0", nil, config)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = trans.Close() })
	return trans, logs
}

// serveRPCs answers every RPC of trans with answer until the test ends.
// Snapshot readers are read to the end first, their bytes kept in got.
func serveRPCs(t *testing.T, trans *NetworkTransport, answer func(rpc RPC) (any, error)) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	t.Cleanup(func() { close(done); wg.Wait() })
	wg.Go(func() {
		for {
			select {
			case rpc := <-trans.Consumer():
				resp, err := answer(rpc)
				rpc.Respond(resp, err)
			case <-done:
				return
			}
		}
	})
}

// transportGoroutines counts the goroutines running code of a
// NetworkTransport (accept loops, connection handlers, pipeline decoders).
func transportGoroutines() int {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	n := 0
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "raft.(*NetworkTransport).listen") || strings.Contains(g, "raft.(*serverConn).serve") ||
			strings.Contains(g, "raft.(*netPipeline).decodeResponses") {
			n++
		}
	}
	return n
}
