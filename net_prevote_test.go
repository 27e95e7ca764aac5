package raft

import (
	"errors"
	"net"
	"testing"
)

// oldPeer is a server of a version before pre-vote: it reads the RPC type
// byte of each connection and closes the connection without answering.
func oldPeer(t *testing.T) ServerAddress {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			var b [1]byte
			c.Read(b[:])
			c.Close()
		}
	}()
	return ServerAddress(ln.Addr().String())
}

func TestRequestPreVoteToOldPeer(t *testing.T) {
	trans, _ := newTestTransport(t)
	addr := oldPeer(t)
	err := trans.RequestPreVote("old", addr, &RequestPreVoteRequest{Term: 2}, new(RequestPreVoteResponse))
	if !errors.Is(err, errPeerUnsupported) {
		t.Fatalf("pre-vote to a peer that closes the connection: %v, want errPeerUnsupported", err)
	}
}

func TestRequestPreVoteToUnreachablePeer(t *testing.T) {
	trans, _ := newTestTransport(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ServerAddress(ln.Addr().String())
	ln.Close() // nobody listens there now
	err = trans.RequestPreVote("gone", addr, &RequestPreVoteRequest{Term: 2}, new(RequestPreVoteResponse))
	if err == nil || errors.Is(err, errPeerUnsupported) {
		t.Fatalf("pre-vote to an unreachable peer: %v, want a plain failure (never a granted pre-vote)", err)
	}
}
