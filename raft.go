package raft

// This file owns the Raft value: its fields and who may touch them, its start
// (NewRaft and recovery from the stores), the main loop that runs the
// follower, candidate and leader roles, role changes, and shutdown.
//
// Goroutines (all started through goFunc, so Shutdown waits for every one):
//   - the main loop (run): the only writer of term, vote, role, log, commit
//     index and configuration;
//   - the FSM goroutine (runFSM): applies committed entries in order, takes
//     FSM snapshots and restores them;
//   - the snapshot goroutine (runSnapshots): decides when to snapshot and
//     persists snapshots;
//   - while leader: the log writer, and one replicator and one heartbeater per
//     peer (replication.go);
//   - while candidate: one short-lived goroutine per vote request.

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
)

// Raft is one server of a Raft cluster.
type Raft struct {
	// RestoreCommittedLogs mirrors Config.RestoreCommittedLogs.
	RestoreCommittedLogs bool

	// Set by NewRaft and never changed.
	localID   ServerID
	localAddr ServerAddress
	logger    hclog.Logger
	fsm       FSM
	logs      LogStore
	stable    StableStore
	snaps     SnapshotStore
	trans     Transport
	preVote   WithPreVote // nil: elections have no pre-vote phase
	rpcHeader RPCHeader   // the header of every message this server sends

	// conf is replaced whole by ReloadConfig; readers Load it.
	conf     atomic.Pointer[Config]
	reloadMu sync.Mutex // serializes ReloadConfig's read-modify-write of conf

	// Published for readers on any goroutine. The main loop writes them,
	// except lastApplied (FSM goroutine) and lastContact (main loop and the
	// heartbeat fast path).
	state        atomic.Uint32 // RaftState
	pubTerm      atomic.Uint64
	pubCommit    atomic.Uint64
	pubLastIndex atomic.Uint64
	pubLastTerm  atomic.Uint64
	pubSnap      atomic.Pointer[indexTerm] // the newest snapshot's last entry
	lastApplied  atomic.Uint64
	lastContact  atomic.Int64 // UnixNano of the last contact with a leader; 0: never
	leader       atomic.Pointer[leaderInfo]
	pubConfigs   atomic.Pointer[configurations]
	// durableIndex is the highest index known to be in the LogStore.
	// Invariant: durableIndex <= lastIndex.
	durableIndex atomic.Uint64
	// watchMatch asks replicators to report every match, not only those
	// that can move the commit index: set while a leadership transfer or a
	// new voter's catch-up follows a peer's progress.
	watchMatch atomic.Bool
	// storageErr is the first failure of the log or stable store. Once set
	// the server acknowledges no write, grants no vote and does not lead.
	storageErr atomic.Pointer[error]

	// Owned by the main loop.
	term      uint64 // Invariant: persisted in the StableStore before use.
	votedTerm uint64
	votedFor  []byte
	lastIndex uint64 // Invariant: commitIndex <= lastIndex (or the snapshot's index).
	lastTerm  uint64
	snapIndex uint64 // index and term of the newest snapshot
	snapTerm  uint64
	commit    uint64 // Invariant: never decreases while running.
	configs   configurations
	// pendingConfigs are the configuration entries above the commit index,
	// in index order; the last one is configs.latest.
	pendingConfigs []configEntry
	votedAt        time.Time    // when the last vote was granted
	lead           *leaderState // non-nil exactly while the role is Leader
	// transferElection: the next election was asked for by the leader's
	// TimeoutNow, so it skips the pre-vote and voters grant despite knowing
	// a leader.
	transferElection bool

	// fsmStart is the FSM's state after recovery, read once by runFSM.
	fsmStart fsmState

	tail  logTail
	fsmQ  fsmQueue
	rand  lockedRand
	group sync.WaitGroup // every goroutine started by goFunc

	// Channels into the main loop.
	applyCh chan *logFuture
	reqCh   chan loopRequest
	rpcCh   chan RPC // RPCs the heartbeat fast path hands over

	leaderCh       chan bool // LeaderCh: cap 1, the latest transition wins
	userSnapshotCh chan *userSnapshotFuture

	observers observers

	shutdownMu sync.Mutex
	shutdown   bool // guarded by shutdownMu
	shutdownCh chan struct{}
}

// leaderInfo is the leader a server follows.
type leaderInfo struct {
	addr ServerAddress
	id   ServerID
}

// lockedRand is the server's source of randomness (election timeouts,
// snapshot intervals), shared by the main loop and the snapshot goroutine.
type lockedRand struct {
	mu  sync.Mutex
	rng *rand.Rand // guarded by mu
}

// jitter returns a duration in [d, 2d).
func (l *lockedRand) jitter(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return d + time.Duration(l.rng.Int64N(int64(d)))
}

// NewRaft creates a server and starts it. The stores must hold the state of
// this server (empty for a new one: use BootstrapCluster or join it to a
// cluster through AddVoter). It fails on an invalid configuration or when the
// stores cannot be read; it never panics on bad input.
func NewRaft(conf *Config, fsm FSM, logs LogStore, stable StableStore, snaps SnapshotStore, trans Transport) (*Raft, error) {
	r, err := newRaft(conf, fsm, logs, stable, snaps, trans)
	if err != nil {
		return nil, err
	}
	if err := r.recover(); err != nil {
		return nil, err
	}
	r.start()
	return r, nil
}

// newRaft checks the arguments and builds the Raft value, without reading
// the stores.
func newRaft(conf *Config, fsm FSM, logs LogStore, stable StableStore, snaps SnapshotStore, trans Transport) (*Raft, error) {
	if conf == nil {
		return nil, errors.New("raft: nil Config")
	}
	if err := ValidateConfig(conf); err != nil {
		return nil, err
	}
	if conf.ProtocolVersion != ProtocolVersionMax {
		return nil, fmt.Errorf("raft: protocol version %d: %w (raftkit speaks %d)",
			conf.ProtocolVersion, ErrUnsupportedProtocol, ProtocolVersionMax)
	}
	if fsm == nil || logs == nil || stable == nil || snaps == nil || trans == nil {
		return nil, errors.New("raft: NewRaft needs an FSM, a LogStore, a StableStore, a SnapshotStore and a Transport")
	}
	if _, ok := logs.(CommitTrackingLogStore); conf.RestoreCommittedLogs && !ok {
		return nil, fmt.Errorf("raft: RestoreCommittedLogs needs a CommitTrackingLogStore: %w", ErrIncompatibleLogStore)
	}
	c := *conf
	r := &Raft{
		RestoreCommittedLogs: c.RestoreCommittedLogs,
		localID:              c.LocalID,
		localAddr:            trans.LocalAddr(),
		logger:               newLogger(&c),
		fsm:                  fsm,
		logs:                 logs,
		stable:               stable,
		snaps:                snaps,
		trans:                trans,
		rand:                 lockedRand{rng: rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))},
		applyCh:              make(chan *logFuture, applyChCap(&c)),
		reqCh:                make(chan loopRequest),
		rpcCh:                make(chan RPC, 64),
		leaderCh:             make(chan bool, 1),
		userSnapshotCh:       make(chan *userSnapshotFuture),
		shutdownCh:           make(chan struct{}),
	}
	r.conf.Store(&c)
	r.rpcHeader = RPCHeader{ProtocolVersion: ProtocolVersionMax, ID: []byte(c.LocalID),
		Addr: trans.EncodePeer(c.LocalID, r.localAddr)}
	r.fsmQ.init()
	if pv, ok := trans.(WithPreVote); ok && !c.PreVoteDisabled {
		r.preVote = pv
	}
	r.leader.Store(&leaderInfo{})
	r.pubSnap.Store(&indexTerm{})
	r.pubConfigs.Store(&configurations{})
	return r, nil
}

// applyChCap is the buffer of the Apply channel. hashicorp/raft buffers it
// only with BatchApplyCh; raftkit always does: a caller then hands its entry
// over without waiting for the main loop to be free, and the main loop takes
// a whole batch without waking each caller. The timeout of Apply still
// bounds the wait when the buffer is full.
func applyChCap(c *Config) int {
	return c.MaxAppendEntries
}

// start launches the goroutines.
func (r *Raft) start() {
	r.logger.Info("starting", "id", r.localID, "address", r.localAddr, "term", r.term,
		"last-index", r.lastIndex, "commit-index", r.commit)
	r.trans.SetHeartbeatHandler(r.handleHeartbeatFast)
	r.setState(Follower)
	r.goFunc(r.runFSM)
	r.goFunc(r.runSnapshots)
	r.goFunc(r.run)
}

// goFunc runs f on a goroutine that Shutdown waits for.
func (r *Raft) goFunc(f func()) {
	r.group.Add(1)
	go func() {
		defer r.group.Done()
		f()
	}()
}

// config returns the current configuration.
func (r *Raft) config() *Config { return r.conf.Load() }

// run is the main loop: it runs the current role until shutdown.
func (r *Raft) run() {
	defer r.leaveRoles()
	for !r.isShutdown() {
		switch r.getState() {
		case Follower:
			r.runFollower()
		case Candidate:
			r.runCandidate()
		case Leader:
			r.runLeader()
		default:
			return
		}
	}
}

// leaveRoles tears down the role's resources when the main loop ends.
func (r *Raft) leaveRoles() {
	if r.lead != nil {
		r.stopLeading(ErrRaftShutdown)
	}
	r.drainApplies()
	r.setLeader("", "")
}

// isShutdown reports whether Shutdown was called.
func (r *Raft) isShutdown() bool {
	select {
	case <-r.shutdownCh:
		return true
	default:
		return false
	}
}

// getState returns the current role.
func (r *Raft) getState() RaftState { return RaftState(r.state.Load()) }

// setState publishes a role change. Only the main loop (and Shutdown) call it.
func (r *Raft) setState(s RaftState) {
	old := RaftState(r.state.Swap(uint32(s)))
	if old != s {
		r.observe(s)
	}
}

// setLeader publishes the leader this server follows ("" for none).
func (r *Raft) setLeader(addr ServerAddress, id ServerID) {
	old := r.leader.Load()
	if old.addr == addr && old.id == id {
		return
	}
	r.leader.Store(&leaderInfo{addr: addr, id: id})
	r.observe(LeaderObservation{Leader: addr, LeaderAddr: addr, LeaderID: id})
}

// setLastLog records the index and term of the last entry of the log.
func (r *Raft) setLastLog(index, term uint64) {
	r.lastIndex, r.lastTerm = index, term
	r.pubLastTerm.Store(term)
	r.pubLastIndex.Store(index)
}

// indexTerm names a log entry.
type indexTerm struct{ index, term uint64 }

// setSnapshot records the newest snapshot's index and term. Replication
// reads the pair together: a mismatched pair would break log matching.
func (r *Raft) setSnapshot(index, term uint64) {
	r.snapIndex, r.snapTerm = index, term
	r.pubSnap.Store(&indexTerm{index: index, term: term})
}

// setCommit moves the commit index forward.
func (r *Raft) setCommit(index uint64) {
	assert(index >= r.commit, "commit index going back", "from", r.commit, "to", index)
	assert(index <= r.lastIndex, "commit index past the log", "commit", index, "last", r.lastIndex)
	r.commit = index
	r.pubCommit.Store(index)
}

// setConfigs publishes the configurations.
func (r *Raft) setConfigs(c configurations) {
	r.configs = c
	pub := c.clone()
	r.pubConfigs.Store(&pub)
}

// touchContact records contact with the leader now.
func (r *Raft) touchContact() { r.lastContact.Store(time.Now().UnixNano()) }

// sinceContact is the time since the last contact with a leader.
func (r *Raft) sinceContact() time.Duration {
	last := r.lastContact.Load()
	if last == 0 {
		return time.Duration(1<<63 - 1)
	}
	return time.Since(time.Unix(0, last))
}

// failStorage records a storage failure: from now on the server
// acknowledges no write and takes no part in elections, until restarted.
// After a failed write the stores' contents are unknown (a failed fsync may
// have dropped pages), so carrying on could acknowledge lost data.
func (r *Raft) failStorage(op string, err error) error {
	wrapped := fmt.Errorf("%w: %s: %w", ErrStorageFailed, op, err)
	if r.storageErr.CompareAndSwap(nil, &wrapped) {
		r.logger.Error("storage failed: this server stops acknowledging writes and voting until restarted",
			"op", op, "error", err)
	}
	return *r.storageErr.Load()
}

// storageFailed returns the recorded storage failure, or nil.
func (r *Raft) storageFailed() error {
	if p := r.storageErr.Load(); p != nil {
		return *p
	}
	return nil
}

// setTerm moves to a new term and forgets the vote, durably.
func (r *Raft) setTerm(term uint64) error {
	if err := r.stable.SetUint64(keyCurrentTerm, term); err != nil {
		return r.failStorage("persist term", err)
	}
	r.term = term
	r.votedFor = nil
	r.pubTerm.Store(term)
	return nil
}

// persistVote records a vote for candidate in term, durably, before it is
// granted (Figure 2: "persistent state ... updated on stable storage before
// responding to RPCs").
func (r *Raft) persistVote(term uint64, candidate []byte) error {
	if err := r.stable.Set(keyLastVoteCand, candidate); err != nil {
		return r.failStorage("persist vote", err)
	}
	if err := r.stable.SetUint64(keyLastVoteTerm, term); err != nil {
		return r.failStorage("persist vote", err)
	}
	r.votedTerm, r.votedFor = term, append([]byte(nil), candidate...)
	r.votedAt = time.Now()
	return nil
}

// becomeFollower makes the server a follower in its current term, tearing
// down the leader's or candidate's state first.
func (r *Raft) becomeFollower() {
	if r.lead != nil {
		r.stopLeading(ErrLeadershipLost)
	}
	if r.getState() != Shutdown {
		r.setState(Follower)
	}
}

// adoptTerm moves to a newer term learned from a peer and becomes a follower
// (Figure 2, rules for all servers).
func (r *Raft) adoptTerm(term uint64) error {
	r.becomeFollower()
	r.setLeader("", "")
	return r.setTerm(term)
}

// Shutdown stops the server. Pending and later requests fail with
// ErrRaftShutdown. The returned future's Error closes the transport if it can
// be closed (so that RPCs in flight end at once) and waits until every
// goroutine has ended. Shutdown may be
// called any number of times; it never blocks.
func (r *Raft) Shutdown() Future {
	r.shutdownMu.Lock()
	defer r.shutdownMu.Unlock()
	if r.shutdown {
		return &shutdownFuture{}
	}
	r.shutdown = true
	close(r.shutdownCh)
	r.setState(Shutdown)
	return &shutdownFuture{r: r}
}

// randomTimeout returns a timer channel firing after a random duration in
// [d, 2d).
func (r *Raft) randomTimeout(d time.Duration) <-chan time.Time {
	return time.After(r.rand.jitter(d))
}
