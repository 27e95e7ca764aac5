package raft

import (
	"bufio"
	"errors"
	"net"
	"testing"
	"time"
)

func TestPipelineAnswersInOrder(t *testing.T) {
	client, _ := newTestTransport(t, func(c *NetworkTransportConfig) { c.MaxRPCsInFlight = 8 })
	server, _ := newTestTransport(t)
	serveRPCs(t, server, func(rpc RPC) (any, error) {
		req := rpc.Command.(*AppendEntriesRequest)
		return &AppendEntriesResponse{Term: req.Term, LastLog: req.PrevLogEntry, Success: true}, nil
	})
	pipe, err := client.AppendEntriesPipeline("f", server.LocalAddr())
	if err != nil {
		t.Fatal(err)
	}
	defer pipe.Close()
	const n = 50
	go func() {
		for i := range n {
			req := &AppendEntriesRequest{Term: 1, PrevLogEntry: uint64(i), Entries: []*Log{{Index: uint64(i + 1), Data: []byte("x")}}}
			if _, err := pipe.AppendEntries(req, &AppendEntriesResponse{}); err != nil {
				t.Errorf("request %d: %v", i, err)
				return
			}
		}
	}()
	for i := range n {
		f := <-pipe.Consumer()
		if err := f.Error(); err != nil {
			t.Fatal(err)
		}
		if f.Request().PrevLogEntry != uint64(i) || f.Response().LastLog != uint64(i) || f.Start().IsZero() {
			t.Fatalf("future %d: request %d, response %+v", i, f.Request().PrevLogEntry, f.Response())
		}
	}
}

func TestPipelineNeedsTwoInFlight(t *testing.T) {
	client, _ := newTestTransport(t, func(c *NetworkTransportConfig) { c.MaxRPCsInFlight = 1 })
	if _, err := client.AppendEntriesPipeline("f", "127.0.0.1:1"); !errors.Is(err, ErrPipelineReplicationNotSupported) {
		t.Fatalf("got %v", err)
	}
}

// rawServer accepts one connection and counts the request frames on it; it
// answers one AppendEntries per value sent on answer.
type rawServer struct {
	ln       net.Listener
	requests chan struct{}
	answer   chan struct{}
}

func newRawServer(t *testing.T) *rawServer {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &rawServer{ln: ln, requests: make(chan struct{}, 100), answer: make(chan struct{}, 100)}
	done := make(chan struct{})
	t.Cleanup(func() { _ = ln.Close(); <-done; close(s.answer) })
	go func() {
		defer close(done)
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		defer conn.Close()
		go s.answerAll(conn)
		r := bufio.NewReader(conn)
		var buf []byte
		for {
			if _, err := r.ReadByte(); err != nil {
				return
			}
			if buf, err = readValue(r, buf[:0], 1<<20); err != nil {
				return
			}
			s.requests <- struct{}{}
		}
	}()
	return s
}

func (s *rawServer) answerAll(conn net.Conn) {
	for range s.answer {
		frame := appendAppendEntriesResponse(appendString(nil, ""), &AppendEntriesResponse{Success: true})
		if _, err := conn.Write(frame); err != nil {
			return
		}
	}
}

func TestPipelineDepthIsMaxRPCsInFlight(t *testing.T) {
	const depth = 4
	client, _ := newTestTransport(t, func(c *NetworkTransportConfig) { c.MaxRPCsInFlight = depth })
	server := newRawServer(t)
	pipe, err := client.AppendEntriesPipeline("f", ServerAddress(server.ln.Addr().String()))
	if err != nil {
		t.Fatal(err)
	}
	defer pipe.Close()
	sent := make(chan struct{}, 10)
	go func() {
		for range depth + 1 {
			if _, err := pipe.AppendEntries(&AppendEntriesRequest{Term: 1}, &AppendEntriesResponse{}); err != nil {
				return
			}
			sent <- struct{}{}
		}
	}()
	for range depth {
		<-server.requests
	}
	for range depth - 1 {
		<-sent // the request written last is the one blocked on back-pressure
	}
	select {
	case <-server.requests:
		t.Fatalf("more than %d requests were written without an answer", depth)
	case <-time.After(20 * time.Millisecond): // a short look for what must not happen
	}
	server.answer <- struct{}{}
	<-server.requests // one answer frees one slot
	f := <-pipe.Consumer()
	if err := f.Error(); err != nil || !f.Response().Success {
		t.Fatalf("answer: %v %+v", err, f.Response())
	}
}

func TestPipelineCloseFailsPendingFutures(t *testing.T) {
	client, _ := newTestTransport(t, func(c *NetworkTransportConfig) { c.MaxRPCsInFlight = 4 })
	server := newRawServer(t)
	pipe, err := client.AppendEntriesPipeline("f", ServerAddress(server.ln.Addr().String()))
	if err != nil {
		t.Fatal(err)
	}
	var futures []AppendFuture
	for range 3 {
		f, err := pipe.AppendEntries(&AppendEntriesRequest{Term: 1}, &AppendEntriesResponse{})
		if err != nil {
			t.Fatal(err)
		}
		futures = append(futures, f)
	}
	if err := pipe.Close(); err != nil {
		t.Fatal(err)
	}
	for i, f := range futures {
		if err := f.Error(); err == nil {
			t.Fatalf("future %d succeeded without an answer", i)
		}
	}
	if _, err := pipe.AppendEntries(&AppendEntriesRequest{}, &AppendEntriesResponse{}); err == nil {
		t.Fatal("a closed pipeline accepted a request")
	}
}
