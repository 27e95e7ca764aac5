package raft

// Membership rules observed from a real server "a" whose peers "b" and "c"
// are played by the test: a new leader changes nothing before its no-op
// commits, and one change waits for the previous one to commit.

import (
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"
)

// scriptedPeer answers the RPCs that reach a test-played server: it grants
// votes, and acknowledges AppendEntries only while ack is set.
type scriptedPeer struct {
	trans *InmemTransport
	ack   atomic.Bool
	stop  chan struct{}
	done  chan struct{}
}

func newScriptedPeer(trans *InmemTransport) *scriptedPeer {
	p := &scriptedPeer{trans: trans, stop: make(chan struct{}), done: make(chan struct{})}
	go p.run()
	return p
}

func (p *scriptedPeer) run() {
	defer close(p.done)
	var last uint64
	for {
		select {
		case rpc := <-p.trans.Consumer():
			switch req := rpc.Command.(type) {
			case *RequestPreVoteRequest:
				rpc.Respond(&RequestPreVoteResponse{Term: req.Term - 1, Granted: true}, nil)
			case *RequestVoteRequest:
				rpc.Respond(&RequestVoteResponse{Term: req.Term, Granted: true}, nil)
			case *AppendEntriesRequest:
				if !p.ack.Load() {
					rpc.Respond(nil, errNotFromLeader) // any error: no acknowledgement
					continue
				}
				if n := req.PrevLogEntry + uint64(len(req.Entries)); n > last {
					last = n
				}
				rpc.Respond(&AppendEntriesResponse{Term: req.Term, Success: true, LastLog: last}, nil)
			default:
				rpc.Respond(nil, errUnexpectedRPC)
			}
		case <-p.stop:
			return
		}
	}
}

func (p *scriptedPeer) close() {
	close(p.stop)
	<-p.done
	p.trans.Close()
}

// newScriptedLeader starts "a" with two scripted peers and waits until it
// leads.
func newScriptedLeader(t *testing.T) (*Raft, []*scriptedPeer) {
	t.Helper()
	addrA, transA := NewInmemTransport("a")
	conf := DefaultConfig()
	conf.LocalID = "a"
	conf.LogLevel = "off"
	conf.HeartbeatTimeout, conf.ElectionTimeout, conf.LeaderLeaseTimeout = 50*time.Millisecond, 50*time.Millisecond, 50*time.Millisecond
	servers := []Server{{ID: "a", Address: addrA}}
	var peers []*scriptedPeer
	for _, id := range []ServerID{"b", "c"} {
		addr, trans := NewInmemTransport(ServerAddress(id))
		transA.Connect(addr, trans)
		servers = append(servers, Server{ID: id, Address: addr})
		peers = append(peers, newScriptedPeer(trans))
	}
	store, snaps := NewInmemStore(), NewInmemSnapshotStore()
	require.NoError(t, BootstrapCluster(conf, store, store, snaps, transA, Configuration{Servers: servers}))
	r, err := NewRaft(conf, &countFSM{}, store, store, snaps, transA)
	require.NoError(t, err)
	t.Cleanup(func() {
		r.Shutdown().Error()
		for _, p := range peers {
			p.close()
		}
	})
	for r.State() != Leader {
		time.Sleep(time.Millisecond)
	}
	return r, peers
}

func TestNoChangeBeforeTheNoopCommits(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r, peers := newScriptedLeader(t)
		for _, p := range peers {
			p.ack.Store(true)
		}
		require.NoError(t, r.Barrier(0).Error()) // the configuration is committed
		// The peers stop acknowledging: the leader loses its lease and is
		// elected again in a newer term, whose no-op cannot commit. Its
		// configuration is committed, yet it must not change it before its
		// own no-op commits (the single-server change bug of 2015).
		for _, p := range peers {
			p.ack.Store(false)
		}
		term := r.CurrentTerm()
		for r.CurrentTerm() == term || r.State() != Leader {
			time.Sleep(time.Millisecond)
		}
		f := r.AddNonvoter("d", "d-addr", 0, 0)
		time.Sleep(10 * time.Millisecond) // below the lease
		require.Equal(t, uint64(1), r.GetConfiguration().Index(), "a change was appended before the no-op committed")
		for _, p := range peers {
			p.ack.Store(true)
		}
		require.NoError(t, f.Error())
		require.Len(t, r.GetConfiguration().Configuration().Servers, 4)
	})
}

func TestOneChangeAtATime(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r, peers := newScriptedLeader(t)
		for _, p := range peers {
			p.ack.Store(true)
		}
		require.NoError(t, r.Barrier(0).Error()) // the no-op is committed
		for _, p := range peers {
			p.ack.Store(false)
		}
		first := r.AddNonvoter("d", "d-addr", 0, 0)
		second := r.AddNonvoter("e", "e-addr", 0, 0)
		time.Sleep(10 * time.Millisecond)
		// The first change is appended; the second waits for it to commit.
		cf := r.GetConfiguration()
		require.Len(t, cf.Configuration().Servers, 4, "only the first change may be in the log")
		for _, p := range peers {
			p.ack.Store(true)
		}
		require.NoError(t, first.Error())
		require.NoError(t, second.Error())
		require.Greater(t, second.Index(), first.Index())
		require.Len(t, r.GetConfiguration().Configuration().Servers, 5)
	})
}
