package compat

// Transport-level interoperability: a raftkit NetworkTransport and a
// hashicorp/raft NetworkTransport (the reference) exchange every RPC over
// loopback TCP, in both directions, and must see the same field values.

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	hraft "github.com/hashicorp/raft"
	"github.com/raftkit/raft"
)

// pair is one transport of each library.
type pair struct {
	rk *raft.NetworkTransport
	hc *hraft.NetworkTransport
}

func newPair(t *testing.T, rkNewTime, hcNewTime bool) *pair {
	t.Helper()
	rk, err := raft.NewTCPTransportWithConfig("127.0.0.1:0", nil, &raft.NetworkTransportConfig{
		MaxPool: 2, Timeout: 5 * time.Second, MsgpackUseNewTimeFormat: rkNewTime, MaxRPCsInFlight: 4, Logger: hclog.NewNullLogger()})
	if err != nil {
		t.Fatal(err)
	}
	hc, err := hraft.NewTCPTransportWithConfig("127.0.0.1:0", nil, &hraft.NetworkTransportConfig{
		MaxPool: 2, Timeout: 5 * time.Second, MsgpackUseNewTimeFormat: hcNewTime, MaxRPCsInFlight: 4, Logger: hclog.NewNullLogger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rk.Close(); _ = hc.Close() })
	return &pair{rk: rk, hc: hc}
}

func header(id string) raft.RPCHeader {
	return raft.RPCHeader{ProtocolVersion: 3, ID: []byte(id), Addr: []byte("addr-" + id)}
}

// exchange is one RPC: a request and the answer the server gives (raftkit
// types; converted for the hashicorp side), and snapshot data if any.
type exchange struct {
	name    string
	req     any
	resp    any
	errText string
	data    []byte
}

func exchanges() []exchange {
	at := time.Unix(1700000000, 123456789).UTC()
	return []exchange{
		{name: "AppendEntries", req: &raft.AppendEntriesRequest{RPCHeader: header("l"), Term: 5, Leader: []byte("addr-l"), PrevLogEntry: 10,
			PrevLogTerm: 4, LeaderCommitIndex: 9, Entries: []*raft.Log{
				{Index: 11, Term: 5, Type: raft.LogCommand, Data: []byte("set x"), Extensions: []byte("ext"), AppendedAt: at},
				{Index: 12, Term: 5, Type: raft.LogNoop, Data: []byte{}, AppendedAt: at},
				{Index: 13, Term: 5, Type: raft.LogConfiguration, Data: bytes.Repeat([]byte{7}, 70000)},
				{Index: 14, Term: 5, Type: raft.LogBarrier},
			}},
			resp: &raft.AppendEntriesResponse{RPCHeader: header("f"), Term: 5, LastLog: 14, Success: true, NoRetryBackoff: true}},
		{name: "heartbeat", req: &raft.AppendEntriesRequest{RPCHeader: header("l"), Term: 5, Leader: []byte("addr-l")},
			resp: &raft.AppendEntriesResponse{RPCHeader: header("f"), Term: 5, LastLog: 14, Success: true}},
		{name: "RequestVote", req: &raft.RequestVoteRequest{RPCHeader: header("c"), Term: 6, Candidate: []byte("addr-c"),
			LastLogIndex: 14, LastLogTerm: 5, LeadershipTransfer: true},
			resp: &raft.RequestVoteResponse{RPCHeader: header("f"), Term: 6, Granted: true}},
		{name: "RequestVote refused", req: &raft.RequestVoteRequest{RPCHeader: header("c"), Term: 6},
			resp: &raft.RequestVoteResponse{RPCHeader: header("f"), Term: 7, Peers: []byte{}}, errText: "no vote: stale term"},
		{name: "RequestPreVote", req: &raft.RequestPreVoteRequest{RPCHeader: header("c"), Term: 7, LastLogIndex: 14, LastLogTerm: 5},
			resp: &raft.RequestPreVoteResponse{RPCHeader: header("f"), Term: 6, Granted: true}},
		{name: "TimeoutNow", req: &raft.TimeoutNowRequest{RPCHeader: header("l")}, resp: &raft.TimeoutNowResponse{RPCHeader: header("f")}},
		{name: "InstallSnapshot", req: &raft.InstallSnapshotRequest{RPCHeader: header("l"), SnapshotVersion: 1, Term: 5, Leader: []byte("addr-l"),
			LastLogIndex: 100, LastLogTerm: 5, Configuration: []byte{0x81}, ConfigurationIndex: 90, Size: 300000},
			resp: &raft.InstallSnapshotResponse{RPCHeader: header("f"), Term: 5, Success: true}, data: snapshotData(300000)},
	}
}

func snapshotData(n int) []byte {
	b := make([]byte, n+50) // more than Size: a client sends exactly Size
	for i := range b {
		b[i] = byte(i % 251)
	}
	return b
}

func TestRaftkitClientHashicorpServer(t *testing.T) {
	p := newPair(t, false, false)
	var beats atomic.Int32
	p.hc.SetHeartbeatHandler(func(rpc hraft.RPC) {
		beats.Add(1)
		rpc.Respond(toHashicorp(exchanges()[1].resp), nil)
	})
	for _, x := range exchanges() {
		t.Run(x.name, func(t *testing.T) {
			got := make(chan error, 1)
			go func() { got <- serveHashicorp(p.hc, x, x.name == "heartbeat") }()
			resp, err := callRaftkit(p.rk, p.hc.LocalAddr(), x)
			checkAnswer(t, x, resp, err)
			if err := <-got; err != nil {
				t.Fatal(err)
			}
		})
	}
	if beats.Load() != 1 {
		t.Fatalf("hashicorp's heartbeat handler ran %d times, want 1", beats.Load())
	}
}

func TestHashicorpClientRaftkitServer(t *testing.T) {
	p := newPair(t, false, false)
	var beats atomic.Int32
	p.rk.SetHeartbeatHandler(func(rpc raft.RPC) {
		beats.Add(1)
		rpc.Respond(exchanges()[1].resp, nil)
	})
	for _, x := range exchanges() {
		t.Run(x.name, func(t *testing.T) {
			got := make(chan error, 1)
			go func() { got <- serveRaftkit(p.rk, x, x.name == "heartbeat") }()
			resp, err := callHashicorp(p.hc, raft.ServerAddress(p.rk.LocalAddr()), x)
			checkAnswer(t, x, toRaftkit(resp), err)
			if err := <-got; err != nil {
				t.Fatal(err)
			}
		})
	}
	if beats.Load() != 1 {
		t.Fatalf("raftkit's heartbeat handler ran %d times, want 1", beats.Load())
	}
}

// checkAnswer compares the answer a client got with the one the server sent.
func checkAnswer(t *testing.T, x exchange, resp any, err error) {
	t.Helper()
	if x.errText == "" && err != nil {
		t.Fatalf("call: %v", err)
	}
	if x.errText != "" && (err == nil || err.Error() != x.errText) {
		t.Fatalf("error %v, want the server's text %q", err, x.errText)
	}
	if !reflect.DeepEqual(resp, x.resp) {
		t.Fatalf("response %#v\nwant %#v", resp, x.resp)
	}
}

// serveHashicorp answers one RPC on hc (unless the heartbeat handler does),
// checking that it carries x.req.
func serveHashicorp(hc *hraft.NetworkTransport, x exchange, heartbeat bool) error {
	if heartbeat {
		return nil
	}
	select {
	case rpc := <-hc.Consumer():
		return answer(x, toRaftkit(rpc.Command), rpc.Reader, func(resp any, err error) { rpc.Respond(toHashicorp(resp), err) })
	case <-time.After(5 * time.Second):
		return errors.New("no RPC reached the hashicorp server")
	}
}

// serveRaftkit is serveHashicorp for a raftkit server.
func serveRaftkit(rk *raft.NetworkTransport, x exchange, heartbeat bool) error {
	if heartbeat {
		return nil
	}
	select {
	case rpc := <-rk.Consumer():
		return answer(x, rpc.Command, rpc.Reader, rpc.Respond)
	case <-time.After(5 * time.Second):
		return errors.New("no RPC reached the raftkit server")
	}
}

// answer reads the snapshot if any, responds with x's answer, and checks
// the request (in raftkit types) against x.req.
func answer(x exchange, command any, reader io.Reader, respond func(any, error)) error {
	var data []byte
	if reader != nil {
		data, _ = io.ReadAll(reader)
	}
	var err error
	if x.errText != "" {
		err = errors.New(x.errText)
	}
	respond(x.resp, err)
	return checkRequest(command, data, x)
}

// checkRequest compares what a server received with what was sent.
func checkRequest(got any, data []byte, x exchange) error {
	if !reflect.DeepEqual(got, x.req) {
		return errorf("server received %#v\nwant %#v", got, x.req)
	}
	if x.data != nil {
		size := x.req.(*raft.InstallSnapshotRequest).Size
		if !bytes.Equal(data, x.data[:size]) {
			return errorf("server read %d snapshot bytes, want exactly the %d declared", len(data), size)
		}
	}
	return nil
}
