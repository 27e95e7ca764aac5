package raft

import (
	"fmt"
	"io"
	"time"

	"github.com/hashicorp/go-hclog"
)

// ProtocolVersion is the version of the raft protocol a server speaks.
// raftkit speaks version 3 only: ID-based configurations, pre-vote and
// leadership transfer. ValidateConfig accepts the versions hashicorp/raft
// accepts, and NewRaft refuses anything but 3 with ErrUnsupportedProtocol.
type ProtocolVersion int

const (
	// ProtocolVersionMin is the lowest version hashicorp/raft names.
	ProtocolVersionMin ProtocolVersion = 0
	// ProtocolVersionMax is the version raftkit speaks.
	ProtocolVersionMax = 3
)

// SnapshotVersion is the version of the snapshot format a server writes and
// reads. Version 1 is the format in which the configuration travels in the
// snapshot's metadata.
type SnapshotVersion int

const (
	// SnapshotVersionMin is the lowest snapshot version that can be read.
	SnapshotVersionMin SnapshotVersion = 0
	// SnapshotVersionMax is the version raftkit writes.
	SnapshotVersionMax = 1
)

// Config holds the settings of one Raft server. Start from DefaultConfig and
// set LocalID. ValidateConfig states the rules; NewRaft enforces them.
type Config struct {
	// ProtocolVersion must be 3 (see ProtocolVersion).
	ProtocolVersion ProtocolVersion

	// HeartbeatTimeout is how long a follower waits without hearing from the
	// leader before it starts an election. Reloadable.
	HeartbeatTimeout time.Duration

	// ElectionTimeout is how long a candidate waits for the votes of a quorum
	// before it starts a new election. Reloadable.
	ElectionTimeout time.Duration

	// CommitTimeout is the longest a follower waits to learn of a new commit
	// index when no new entries flow: the leader sends an empty
	// AppendEntries at least this often while a follower lags its commit
	// index.
	CommitTimeout time.Duration

	// MaxAppendEntries is the largest number of entries in one AppendEntries
	// request and in one batch written by the leader (group commit).
	MaxAppendEntries int

	// BatchApplyCh buffers the channel of Apply calls to MaxAppendEntries.
	// raftkit always buffers it (the setting is kept for compatibility):
	// Apply returns as soon as its command is queued, and its timeout bounds
	// the wait only when the buffer is full.
	BatchApplyCh bool

	// ShutdownOnRemove shuts a server down once it learns it was removed
	// from the configuration. Otherwise it stays up as a follower.
	ShutdownOnRemove bool

	// TrailingLogs is the number of entries a snapshot leaves in the log,
	// so that a slightly lagging follower catches up from the log rather
	// than from the snapshot. Reloadable.
	TrailingLogs uint64

	// SnapshotInterval is how often raft checks whether to take a snapshot;
	// each wait is randomized between 1x and 2x so that servers do not all
	// snapshot at once. Reloadable.
	SnapshotInterval time.Duration

	// SnapshotThreshold is how many entries must have been applied since the
	// last snapshot for a new one to be taken. Reloadable.
	SnapshotThreshold uint64

	// LeaderLeaseTimeout is how long a leader stays leader without hearing
	// from a quorum: past it, it steps down and fails its pending requests.
	LeaderLeaseTimeout time.Duration

	// LocalID is this server's unique ID in the cluster. Required.
	LocalID ServerID

	// NotifyCh receives true when this server becomes leader and false when
	// it stops being leader. Raft blocks on the send, so the reader must keep
	// up (LeaderCh has no such constraint).
	NotifyCh chan<- bool

	// LogOutput is where the default logger writes; stderr when nil.
	LogOutput io.Writer

	// LogLevel is the level of the default logger.
	LogLevel string

	// Logger replaces the default logger.
	Logger hclog.Logger

	// NoSnapshotRestoreOnStart skips restoring the newest snapshot into the
	// FSM when the server starts. The FSM is then expected to hold its state
	// already.
	NoSnapshotRestoreOnStart bool

	// PreVoteDisabled turns off the pre-vote phase of elections.
	PreVoteDisabled bool

	// NoLegacyTelemetry turns off metrics that duplicate a labelled metric
	// under a name containing a peer's ID.
	NoLegacyTelemetry bool

	// RestoreCommittedLogs makes NewRaft replay the entries up to the commit
	// index recorded by the log store into the FSM before it returns. The
	// log store must be a CommitTrackingLogStore.
	RestoreCommittedLogs bool
}

// ReloadableConfig is the subset of Config that ReloadConfig can change on a
// running server.
type ReloadableConfig struct {
	// TrailingLogs: see Config.TrailingLogs.
	TrailingLogs uint64

	// SnapshotInterval: see Config.SnapshotInterval.
	SnapshotInterval time.Duration

	// SnapshotThreshold: see Config.SnapshotThreshold.
	SnapshotThreshold uint64

	// HeartbeatTimeout: see Config.HeartbeatTimeout.
	HeartbeatTimeout time.Duration

	// ElectionTimeout: see Config.ElectionTimeout.
	ElectionTimeout time.Duration
}

// apply returns a copy of base with rc's values.
func (rc *ReloadableConfig) apply(base Config) Config {
	base.TrailingLogs = rc.TrailingLogs
	base.SnapshotInterval = rc.SnapshotInterval
	base.SnapshotThreshold = rc.SnapshotThreshold
	base.HeartbeatTimeout = rc.HeartbeatTimeout
	base.ElectionTimeout = rc.ElectionTimeout
	return base
}

// fromConfig fills rc from c.
func (rc *ReloadableConfig) fromConfig(c Config) {
	rc.TrailingLogs = c.TrailingLogs
	rc.SnapshotInterval = c.SnapshotInterval
	rc.SnapshotThreshold = c.SnapshotThreshold
	rc.HeartbeatTimeout = c.HeartbeatTimeout
	rc.ElectionTimeout = c.ElectionTimeout
}

// DefaultConfig returns the defaults of hashicorp/raft, which suit a
// cluster in one data centre. LocalID must still be set.
func DefaultConfig() *Config {
	return &Config{
		ProtocolVersion:    ProtocolVersionMax,
		HeartbeatTimeout:   1000 * time.Millisecond,
		ElectionTimeout:    1000 * time.Millisecond,
		CommitTimeout:      50 * time.Millisecond,
		MaxAppendEntries:   64,
		ShutdownOnRemove:   true,
		TrailingLogs:       10240,
		SnapshotInterval:   120 * time.Second,
		SnapshotThreshold:  8192,
		LeaderLeaseTimeout: 500 * time.Millisecond,
		LogLevel:           "DEBUG",
	}
}

// Bounds enforced by ValidateConfig.
const (
	minTimeout          = 5 * time.Millisecond
	minCommitTimeout    = time.Millisecond
	maxAppendEntriesCap = 1024
)

// ValidateConfig checks config against the rules of hashicorp/raft, with the
// same error messages.
func ValidateConfig(config *Config) error {
	// hashicorp/raft treats version 0 as unsupported: the lowest accepted is 1.
	protocolMin := max(ProtocolVersionMin, 1)
	switch {
	case config.ProtocolVersion < protocolMin || config.ProtocolVersion > ProtocolVersionMax:
		return fmt.Errorf("ProtocolVersion %d must be >= %d and <= %d",
			config.ProtocolVersion, protocolMin, ProtocolVersionMax)
	case len(config.LocalID) == 0:
		return fmt.Errorf("LocalID cannot be empty")
	case config.HeartbeatTimeout < minTimeout:
		return fmt.Errorf("HeartbeatTimeout is too low")
	case config.ElectionTimeout < minTimeout:
		return fmt.Errorf("ElectionTimeout is too low")
	case config.CommitTimeout < minCommitTimeout:
		return fmt.Errorf("CommitTimeout is too low")
	case config.MaxAppendEntries <= 0:
		return fmt.Errorf("MaxAppendEntries must be positive")
	case config.MaxAppendEntries > maxAppendEntriesCap:
		return fmt.Errorf("MaxAppendEntries is too large")
	case config.SnapshotInterval < minTimeout:
		return fmt.Errorf("SnapshotInterval is too low")
	case config.LeaderLeaseTimeout < minTimeout:
		return fmt.Errorf("LeaderLeaseTimeout is too low")
	case config.LeaderLeaseTimeout > config.HeartbeatTimeout:
		return fmt.Errorf("LeaderLeaseTimeout (%s) cannot be larger than heartbeat timeout (%s)",
			config.LeaderLeaseTimeout, config.HeartbeatTimeout)
	case config.ElectionTimeout < config.HeartbeatTimeout:
		return fmt.Errorf("ElectionTimeout (%s) must be equal or greater than Heartbeat Timeout (%s)",
			config.ElectionTimeout, config.HeartbeatTimeout)
	}
	return nil
}

// newLogger returns config's logger, or the default one: an hclog logger
// named "raft" at LogLevel on LogOutput.
func newLogger(config *Config) hclog.Logger {
	if config.Logger != nil {
		return config.Logger
	}
	return hclog.New(&hclog.LoggerOptions{
		Name:   "raft",
		Level:  hclog.LevelFromString(config.LogLevel),
		Output: config.LogOutput,
	})
}
