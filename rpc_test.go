package raft

// Tests of a server's answers to RPCs from a scripted peer: stale terms,
// servers outside the configuration, hostile configurations and snapshots,
// stray TimeoutNow requests.

import (
	"bytes"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"
)

// loneServer is one real server, "a", in a configuration of three; the test
// plays "b" through its own transport. "c" does not exist.
type loneServer struct {
	r     *Raft
	store *InmemStore
	snaps *InmemSnapshotStore
	peer  *InmemTransport // b's transport
}

func newLoneServer(t *testing.T) *loneServer {
	t.Helper()
	addrA, transA := NewInmemTransport("a")
	addrB, transB := NewInmemTransport("b")
	transA.Connect(addrB, transB)
	transB.Connect(addrA, transA)
	conf := DefaultConfig()
	conf.LocalID = "a"
	conf.LogLevel = "off"
	store, snaps := NewInmemStore(), NewInmemSnapshotStore()
	servers := Configuration{Servers: []Server{{ID: "a", Address: addrA}, {ID: "b", Address: addrB}, {ID: "c", Address: "c"}}}
	require.NoError(t, BootstrapCluster(conf, store, store, snaps, transA, servers))
	r, err := NewRaft(conf, &countFSM{}, store, store, snaps, transA)
	require.NoError(t, err)
	t.Cleanup(func() {
		r.Shutdown().Error()
		transB.Close()
	})
	return &loneServer{r: r, store: store, snaps: snaps, peer: transB}
}

// header is b's RPC header.
func (s *loneServer) header() RPCHeader {
	return RPCHeader{ProtocolVersion: 3, ID: []byte("b"), Addr: []byte("b")}
}

// appendEntries sends an AppendEntries from b.
func (s *loneServer) appendEntries(t *testing.T, req *AppendEntriesRequest) (*AppendEntriesResponse, error) {
	t.Helper()
	req.RPCHeader = s.header()
	var resp AppendEntriesResponse
	err := s.peer.AppendEntries("a", "a", req, &resp)
	return &resp, err
}

// becomeLeaderB makes a follow b as the leader of term 2 with 3 entries.
func (s *loneServer) becomeLeaderB(t *testing.T) {
	t.Helper()
	resp, err := s.appendEntries(t, &AppendEntriesRequest{Term: 2, PrevLogEntry: 1, PrevLogTerm: 1,
		Entries: []*Log{{Index: 2, Term: 2, Type: LogNoop}, {Index: 3, Term: 2, Data: []byte("x")}}, LeaderCommitIndex: 3})
	require.NoError(t, err)
	require.True(t, resp.Success)
	require.Equal(t, uint64(3), s.r.LastIndex())
}

func TestStaleTermRefusedWithoutSideEffect(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newLoneServer(t)
		s.becomeLeaderB(t)
		resp, err := s.appendEntries(t, &AppendEntriesRequest{Term: 1, PrevLogEntry: 3, PrevLogTerm: 2,
			Entries: []*Log{{Index: 4, Term: 1, Data: []byte("stale")}}, LeaderCommitIndex: 4})
		require.NoError(t, err)
		require.False(t, resp.Success)
		require.Equal(t, uint64(2), resp.Term, "the answer tells the stale leader the current term")
		require.Equal(t, uint64(3), s.r.LastIndex(), "nothing was appended")
		require.Equal(t, uint64(2), s.r.CurrentTerm())
		_, id := s.r.LeaderWithID()
		require.Equal(t, ServerID("b"), id)

		var vote RequestVoteResponse
		require.NoError(t, s.peer.RequestVote("a", "a", &RequestVoteRequest{RPCHeader: s.header(), Term: 1, LastLogIndex: 9, LastLogTerm: 9}, &vote))
		require.False(t, vote.Granted)
		require.Equal(t, uint64(2), s.r.CurrentTerm())
	})
}

func TestCandidateOutsideConfigurationChangesNothing(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newLoneServer(t)
		s.becomeLeaderB(t)
		time.Sleep(10 * time.Second) // b falls silent: a no longer knows a leader
		term := s.r.CurrentTerm()
		stranger := RPCHeader{ProtocolVersion: 3, ID: []byte("x"), Addr: []byte("b")}
		var vote RequestVoteResponse
		require.NoError(t, s.peer.RequestVote("a", "a", &RequestVoteRequest{RPCHeader: stranger, Term: term + 50,
			LastLogIndex: 100, LastLogTerm: 100}, &vote))
		require.False(t, vote.Granted)
		require.Equal(t, term, vote.Term)
		require.Equal(t, term, s.r.CurrentTerm(), "a removed or unknown server must not inflate a voter's term")
		var pre RequestPreVoteResponse
		require.NoError(t, s.peer.RequestPreVote("a", "a", &RequestPreVoteRequest{RPCHeader: stranger, Term: term + 50,
			LastLogIndex: 100, LastLogTerm: 100}, &pre))
		require.False(t, pre.Granted)
	})
}

func TestVoteRefusedWhileLeaderKnown(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newLoneServer(t)
		s.becomeLeaderB(t)
		c := RPCHeader{ProtocolVersion: 3, ID: []byte("c"), Addr: []byte("c")}
		var vote RequestVoteResponse
		require.NoError(t, s.peer.RequestVote("a", "a", &RequestVoteRequest{RPCHeader: c, Term: 3, LastLogIndex: 3, LastLogTerm: 2}, &vote))
		require.False(t, vote.Granted, "a follower that hears from its leader ignores candidates")
		require.Equal(t, uint64(2), s.r.CurrentTerm())
		// Unless the leader itself handed over.
		require.NoError(t, s.peer.RequestVote("a", "a", &RequestVoteRequest{RPCHeader: c, Term: 3, LastLogIndex: 3, LastLogTerm: 2, LeadershipTransfer: true}, &vote))
		require.True(t, vote.Granted)
		require.Equal(t, uint64(3), s.r.CurrentTerm())
		// The vote was persisted before it was granted.
		votedTerm, err := s.store.GetUint64(keyLastVoteTerm)
		require.NoError(t, err)
		require.Equal(t, uint64(3), votedTerm)
		cand, err := s.store.Get(keyLastVoteCand)
		require.NoError(t, err)
		require.Equal(t, []byte("c"), cand)
	})
}

// TestVoteSurvivesRestart: a server that voted in a term and restarted
// before the term ended must not vote for another candidate in that term
// (Figure 2: votedFor is persistent state), and may repeat its vote.
func TestVoteSurvivesRestart(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newLoneServer(t)
		s.becomeLeaderB(t)
		ask := func(trans *InmemTransport, candidate string) *RequestVoteResponse {
			t.Helper()
			var vote RequestVoteResponse
			h := RPCHeader{ProtocolVersion: 3, ID: []byte(candidate), Addr: []byte(candidate)}
			require.NoError(t, trans.RequestVote("a", "a", &RequestVoteRequest{RPCHeader: h, Term: 3,
				LastLogIndex: 3, LastLogTerm: 2, LeadershipTransfer: true}, &vote))
			return &vote
		}
		require.True(t, ask(s.peer, "c").Granted)
		require.NoError(t, s.r.Shutdown().Error())

		addrA, transA := NewInmemTransport("a")
		s.peer.Connect(addrA, transA)
		conf := DefaultConfig()
		conf.LocalID, conf.LogLevel = "a", "off"
		r, err := NewRaft(conf, &countFSM{}, s.store, s.store, s.snaps, transA)
		require.NoError(t, err)
		defer r.Shutdown()
		require.Equal(t, uint64(3), r.CurrentTerm())
		vote := ask(s.peer, "b")
		require.False(t, vote.Granted, "a voted for c in term 3 before it restarted")
		require.Equal(t, uint64(3), vote.Term)
		require.True(t, ask(s.peer, "c").Granted, "the same vote may be given again")
	})
}

func TestBadConfigurationEntryRefused(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newLoneServer(t)
		s.becomeLeaderB(t)
		_, err := s.appendEntries(t, &AppendEntriesRequest{Term: 2, PrevLogEntry: 3, PrevLogTerm: 2,
			Entries: []*Log{{Index: 4, Term: 2, Data: []byte("ok")}, {Index: 5, Term: 2, Type: LogConfiguration, Data: []byte{0xc1, 0xff}}}})
		require.Error(t, err)
		require.ErrorContains(t, err, "configuration")
		require.Equal(t, uint64(3), s.r.LastIndex(), "nothing of the request was stored")
		last, _ := s.store.LastIndex()
		require.Equal(t, uint64(3), last)
		require.Len(t, s.r.GetConfiguration().Configuration().Servers, 3)
	})
}

func TestHostileInstallSnapshotRefused(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newLoneServer(t)
		s.becomeLeaderB(t)
		good := EncodeConfiguration(Configuration{Servers: []Server{{ID: "a", Address: "a"}, {ID: "b", Address: "b"}}})
		install := func(conf []byte, data []byte, size int64) (*InstallSnapshotResponse, error) {
			req := &InstallSnapshotRequest{RPCHeader: s.header(), SnapshotVersion: 1, Term: 2, LastLogIndex: 10,
				LastLogTerm: 2, Configuration: conf, ConfigurationIndex: 1, Size: size}
			var resp InstallSnapshotResponse
			err := s.peer.InstallSnapshot("a", "a", req, &resp, bytes.NewReader(data))
			return &resp, err
		}
		_, err := install([]byte{0x93, 0xff}, []byte("state"), 5)
		require.ErrorContains(t, err, "configuration")
		_, err = install(good, []byte("abc"), 10)
		require.ErrorContains(t, err, "shorter than its declared size")
		metas, err := s.snaps.List()
		require.NoError(t, err)
		require.Empty(t, metas, "a refused snapshot must not be kept")
		require.Equal(t, uint64(3), s.r.LastIndex())
	})
}

func TestTimeoutNowOnlyFromTheLeader(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newLoneServer(t)
		s.becomeLeaderB(t)
		stranger := RPCHeader{ProtocolVersion: 3, ID: []byte("c"), Addr: []byte("c")}
		err := s.peer.TimeoutNow("a", "a", &TimeoutNowRequest{RPCHeader: stranger}, new(TimeoutNowResponse))
		require.True(t, errors.Is(err, errNotFromLeader), "%v", err)
		require.Equal(t, Follower, s.r.State())
		require.Equal(t, uint64(2), s.r.CurrentTerm())
		// From the leader it starts an election at once.
		require.NoError(t, s.peer.TimeoutNow("a", "a", &TimeoutNowRequest{RPCHeader: s.header()}, new(TimeoutNowResponse)))
		require.Eventually(t, func() bool { return s.r.CurrentTerm() == 3 }, time.Second, time.Millisecond)
	})
}
