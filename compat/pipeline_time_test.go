package compat

import (
	"fmt"
	"testing"
	"time"

	hraft "github.com/hashicorp/raft"
	"github.com/raftkit/raft"
)

const pipelined = 20

func pipelinedRequest(i int) *raft.AppendEntriesRequest {
	return &raft.AppendEntriesRequest{RPCHeader: header("l"), Term: 3, PrevLogEntry: uint64(i), PrevLogTerm: 3,
		Entries: []*raft.Log{{Index: uint64(i + 1), Term: 3, Data: []byte(fmt.Sprint("cmd ", i))}}}
}

func TestPipelineRaftkitToHashicorp(t *testing.T) {
	p := newPair(t, false, false)
	done := make(chan struct{})
	defer close(done)
	go func() {
		for {
			select {
			case rpc := <-p.hc.Consumer():
				req := rpc.Command.(*hraft.AppendEntriesRequest)
				rpc.Respond(&hraft.AppendEntriesResponse{Term: 3, LastLog: req.PrevLogEntry + 1, Success: true}, nil)
			case <-done:
				return
			}
		}
	}()
	pipe, err := p.rk.AppendEntriesPipeline("h", raft.ServerAddress(p.hc.LocalAddr()))
	if err != nil {
		t.Fatal(err)
	}
	defer pipe.Close()
	go func() {
		for i := range pipelined {
			if _, err := pipe.AppendEntries(pipelinedRequest(i), &raft.AppendEntriesResponse{}); err != nil {
				t.Errorf("request %d: %v", i, err)
				return
			}
		}
	}()
	for i := range pipelined {
		f := <-pipe.Consumer()
		if err := f.Error(); err != nil || f.Response().LastLog != uint64(i+1) || !f.Response().Success {
			t.Fatalf("answer %d: %v %+v", i, err, f.Response())
		}
	}
}

func TestPipelineHashicorpToRaftkit(t *testing.T) {
	p := newPair(t, false, false)
	done := make(chan struct{})
	defer close(done)
	go func() {
		for {
			select {
			case rpc := <-p.rk.Consumer():
				req := rpc.Command.(*raft.AppendEntriesRequest)
				rpc.Respond(&raft.AppendEntriesResponse{Term: 3, LastLog: req.PrevLogEntry + 1, Success: true}, nil)
			case <-done:
				return
			}
		}
	}()
	pipe, err := p.hc.AppendEntriesPipeline("r", hraft.ServerAddress(p.rk.LocalAddr()))
	if err != nil {
		t.Fatal(err)
	}
	defer pipe.Close()
	go func() {
		for i := range pipelined {
			req := toHashicorp(pipelinedRequest(i)).(*hraft.AppendEntriesRequest)
			if _, err := pipe.AppendEntries(req, &hraft.AppendEntriesResponse{}); err != nil {
				t.Errorf("request %d: %v", i, err)
				return
			}
		}
	}()
	for i := range pipelined {
		f := <-pipe.Consumer()
		if err := f.Error(); err != nil || f.Response().LastLog != uint64(i+1) || !f.Response().Success {
			t.Fatalf("answer %d: %v %+v", i, err, f.Response())
		}
	}
}

// sentTimes are the AppendedAt values of the time format test.
func sentTimes() []time.Time {
	return []time.Time{
		time.Now(), // local zone, with a monotonic reading the wire drops
		{},
		time.Date(2020, 2, 29, 23, 59, 59, 999999999, time.FixedZone("", 5*3600+1800)),
		time.Unix(1<<34, 1).UTC(),
		time.Unix(-100, 0).UTC(),
	}
}

// checkTimes compares received AppendedAt values with sentTimes: the same
// instant always, and the same zone offset in the old (MarshalBinary) format.
func checkTimes(t *testing.T, got, sent []time.Time, oldFormat bool) {
	t.Helper()
	for i, want := range sent {
		if !got[i].Equal(want) {
			t.Fatalf("time %d: got %v, want %v", i, got[i], want)
		}
		_, gotOff := got[i].Zone()
		_, wantOff := want.Zone()
		if oldFormat && gotOff != wantOff {
			t.Fatalf("time %d: offset %d, want %d", i, gotOff, wantOff)
		}
	}
}

func TestAppendedAtTimeFormats(t *testing.T) {
	for _, rkNew := range []bool{false, true} {
		for _, hcNew := range []bool{false, true} {
			t.Run(fmt.Sprintf("raftkit new %v, hashicorp new %v", rkNew, hcNew), func(t *testing.T) {
				p := newPair(t, rkNew, hcNew)
				req := &raft.AppendEntriesRequest{RPCHeader: header("l"), Term: 2, PrevLogEntry: 1}
				sent := sentTimes()
				for i, at := range sent {
					req.Entries = append(req.Entries, &raft.Log{Index: uint64(i + 2), Term: 2, AppendedAt: at})
				}
				x := exchange{req: req, resp: &raft.AppendEntriesResponse{Term: 2, Success: true}}

				received := make(chan *hraft.AppendEntriesRequest, 1)
				go func() {
					rpc := <-p.hc.Consumer()
					received <- rpc.Command.(*hraft.AppendEntriesRequest)
					rpc.Respond(toHashicorp(x.resp), nil)
				}()
				if _, err := callRaftkit(p.rk, p.hc.LocalAddr(), x); err != nil {
					t.Fatal(err)
				}
				checkTimes(t, appendedAt(toRaftkit(<-received).(*raft.AppendEntriesRequest)), sent, !rkNew)

				back := make(chan *raft.AppendEntriesRequest, 1)
				go func() {
					rpc := <-p.rk.Consumer()
					back <- rpc.Command.(*raft.AppendEntriesRequest)
					rpc.Respond(x.resp, nil)
				}()
				if _, err := callHashicorp(p.hc, raft.ServerAddress(p.rk.LocalAddr()), x); err != nil {
					t.Fatal(err)
				}
				checkTimes(t, appendedAt(<-back), sent, !hcNew)
			})
		}
	}
}

func appendedAt(req *raft.AppendEntriesRequest) []time.Time {
	var ts []time.Time
	for _, l := range req.Entries {
		ts = append(ts, l.AppendedAt)
	}
	return ts
}
