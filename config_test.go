package raft

import (
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestDefaultConfigIsValid(t *testing.T) {
	c := DefaultConfig()
	c.LocalID = "a"
	require.NoError(t, ValidateConfig(c))
	require.Equal(t, ProtocolVersion(3), c.ProtocolVersion)
	require.Equal(t, time.Second, c.HeartbeatTimeout)
	require.Equal(t, time.Second, c.ElectionTimeout)
	require.Equal(t, 50*time.Millisecond, c.CommitTimeout)
	require.Equal(t, 64, c.MaxAppendEntries)
	require.True(t, c.ShutdownOnRemove)
	require.Equal(t, uint64(10240), c.TrailingLogs)
	require.Equal(t, 120*time.Second, c.SnapshotInterval)
	require.Equal(t, uint64(8192), c.SnapshotThreshold)
	require.Equal(t, 500*time.Millisecond, c.LeaderLeaseTimeout)
	require.Equal(t, "DEBUG", c.LogLevel)
}

func TestValidateConfig(t *testing.T) {
	cases := []struct {
		edit func(*Config)
		want string
	}{
		{func(c *Config) { c.ProtocolVersion = 0 }, "ProtocolVersion 0 must be >= 1 and <= 3"},
		{func(c *Config) { c.ProtocolVersion = 4 }, "ProtocolVersion 4 must be >= 1 and <= 3"},
		{func(c *Config) { c.LocalID = "" }, "LocalID cannot be empty"},
		{func(c *Config) { c.HeartbeatTimeout = 4 * time.Millisecond }, "HeartbeatTimeout is too low"},
		{func(c *Config) { c.ElectionTimeout = 4 * time.Millisecond }, "ElectionTimeout is too low"},
		{func(c *Config) { c.CommitTimeout = time.Microsecond }, "CommitTimeout is too low"},
		{func(c *Config) { c.MaxAppendEntries = 0 }, "MaxAppendEntries must be positive"},
		{func(c *Config) { c.MaxAppendEntries = 1025 }, "MaxAppendEntries is too large"},
		{func(c *Config) { c.SnapshotInterval = time.Millisecond }, "SnapshotInterval is too low"},
		{func(c *Config) { c.LeaderLeaseTimeout = time.Millisecond }, "LeaderLeaseTimeout is too low"},
		{func(c *Config) { c.LeaderLeaseTimeout = 2 * time.Second },
			"LeaderLeaseTimeout (2s) cannot be larger than heartbeat timeout (1s)"},
		{func(c *Config) { c.ElectionTimeout = 500 * time.Millisecond },
			"ElectionTimeout (500ms) must be equal or greater than Heartbeat Timeout (1s)"},
	}
	for _, c := range cases {
		t.Run(c.want, func(t *testing.T) {
			conf := DefaultConfig()
			conf.LocalID = "a"
			c.edit(conf)
			err := ValidateConfig(conf)
			require.EqualError(t, err, c.want)
		})
	}
}

func TestNewRaftRefusesBadArguments(t *testing.T) {
	store := NewInmemStore()
	_, trans := NewInmemTransport("")
	defer trans.Close()
	good := func() *Config {
		c := DefaultConfig()
		c.LocalID = "a"
		c.LogLevel = "off"
		return c
	}
	cases := []struct {
		name  string
		conf  *Config
		fsm   FSM
		store LogStore
		is    error
		text  string
	}{
		{name: "invalid config", conf: func() *Config { c := good(); c.LocalID = ""; return c }(), fsm: &countFSM{}, store: store, text: "LocalID cannot be empty"},
		{name: "nil config", conf: nil, fsm: &countFSM{}, store: store, text: "nil Config"},
		{name: "old protocol", conf: func() *Config { c := good(); c.ProtocolVersion = 2; return c }(), fsm: &countFSM{}, store: store, is: ErrUnsupportedProtocol},
		{name: "no FSM", conf: good(), fsm: nil, store: store, text: "needs an FSM"},
		{name: "commit tracking without such a store", conf: func() *Config { c := good(); c.RestoreCommittedLogs = true; return c }(), fsm: &countFSM{}, store: store, is: ErrIncompatibleLogStore},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r, err := NewRaft(c.conf, c.fsm, c.store, store, NewInmemSnapshotStore(), trans)
			require.Nil(t, r)
			require.Error(t, err)
			if c.is != nil {
				require.True(t, errors.Is(err, c.is), "%v is not %v", err, c.is)
			}
			if c.text != "" {
				require.True(t, strings.Contains(err.Error(), c.text), "%q lacks %q", err, c.text)
			}
		})
	}
}

func TestReloadConfig(t *testing.T) {
	r := newTestServer(t)
	rc := r.ReloadableConfig()
	require.Equal(t, time.Second, rc.HeartbeatTimeout)
	rc.TrailingLogs, rc.SnapshotThreshold, rc.SnapshotInterval = 7, 9, time.Minute
	rc.HeartbeatTimeout, rc.ElectionTimeout = 600*time.Millisecond, 700*time.Millisecond
	require.Error(t, r.ReloadConfig(ReloadableConfig{}), "an invalid configuration is refused")
	require.NoError(t, r.ReloadConfig(rc))
	require.Equal(t, rc, r.ReloadableConfig())
	require.Equal(t, uint64(7), r.config().TrailingLogs)
	// The lease must stay below the heartbeat timeout.
	rc.HeartbeatTimeout = 100 * time.Millisecond
	require.Error(t, r.ReloadConfig(rc))
}

// newTestServer starts a lone, unbootstrapped server for tests of its API.
func newTestServer(t *testing.T) *Raft {
	t.Helper()
	conf := DefaultConfig()
	conf.LocalID = "a"
	conf.LogLevel = "off"
	store := NewInmemStore()
	_, trans := NewInmemTransport("")
	r, err := NewRaft(conf, &countFSM{}, store, store, NewInmemSnapshotStore(), trans)
	require.NoError(t, err)
	t.Cleanup(func() { r.Shutdown().Error() })
	return r
}

// countFSM counts the commands applied; it snapshots as nothing.
type countFSM struct {
	n int
}

func (f *countFSM) Apply(*Log) interface{}          { f.n++; return f.n }
func (f *countFSM) Snapshot() (FSMSnapshot, error)  { return nopSnapshot{}, nil }
func (f *countFSM) Restore(rc io.ReadCloser) error  { return rc.Close() }
func (nopSnapshot) Persist(sink SnapshotSink) error { return sink.Close() }
func (nopSnapshot) Release()                        {}

type nopSnapshot struct{}

// noPreVote is a transport without the pre-vote capability.
type noPreVote struct{ Transport }

func TestPreVoteFollowsConfigAndTransport(t *testing.T) {
	cases := []struct {
		name     string
		disabled bool
		wrap     bool
		want     bool
	}{
		{"on by default", false, false, true},
		{"PreVoteDisabled", true, false, false},
		{"transport without pre-vote", false, true, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			conf := DefaultConfig()
			conf.LocalID = "a"
			conf.LogLevel = "off"
			conf.PreVoteDisabled = c.disabled
			_, inmem := NewInmemTransport("")
			defer inmem.Close()
			var trans Transport = inmem
			if c.wrap {
				trans = noPreVote{inmem}
			}
			store := NewInmemStore()
			r, err := newRaft(conf, &countFSM{}, store, store, NewInmemSnapshotStore(), trans)
			require.NoError(t, err)
			require.Equal(t, c.want, r.preVote != nil)
		})
	}
}

func TestDefaultLoggerHonoursOutputAndLevel(t *testing.T) {
	var out strings.Builder
	conf := DefaultConfig()
	conf.LocalID = "a"
	conf.LogOutput = &out
	conf.LogLevel = "WARN"
	l := newLogger(conf)
	l.Info("quiet")
	l.Warn("loud")
	require.NotContains(t, out.String(), "quiet")
	require.Contains(t, out.String(), "loud")
	require.Contains(t, out.String(), "raft:", "the default logger is named raft")
	conf.Logger = l.Named("mine")
	require.Equal(t, conf.Logger, newLogger(conf), "a configured Logger is used as is")
}
