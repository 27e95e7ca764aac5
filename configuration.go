package raft

// This file owns cluster configurations: the types, their encoding in log
// entries and snapshots, and the pure functions that decide what a membership
// change produces (Raft thesis, chapter 4: one server changes at a time).

import (
	"errors"
	"fmt"

	"github.com/hashicorp/go-msgpack/v2/codec"
)

// ServerSuffrage says whether a server votes.
type ServerSuffrage int

// The suffrages. Their numeric values are stored in configurations and must
// not change.
const (
	// Voter is a server whose vote is counted in elections and whose match
	// index is counted toward the commit index.
	Voter ServerSuffrage = iota
	// Nonvoter receives the log but is not counted in any majority.
	Nonvoter
	// Staging is a server that is catching up before it becomes a voter
	// (AddVoter). Until then it is treated as a Nonvoter.
	Staging
)

// String returns the suffrage's name.
func (s ServerSuffrage) String() string {
	switch s {
	case Voter:
		return "Voter"
	case Nonvoter:
		return "Nonvoter"
	case Staging:
		return "Staging"
	}
	return "ServerSuffrage"
}

// ConfigurationStore is an FSM that also wants to see configuration entries.
// StoreConfiguration is called on the FSM goroutine, in log order with the
// commands, for every LogConfiguration entry the FSM goroutine reaches.
type ConfigurationStore interface {
	FSM

	// StoreConfiguration receives each configuration and its log index.
	StoreConfiguration(index uint64, configuration Configuration)
}

// ServerID is a unique string identifying a server for all time.
type ServerID string

// ServerAddress is a network address for a server that a transport can
// contact.
type ServerAddress string

// Server is one member of a configuration.
type Server struct {
	// Suffrage says whether the server votes.
	Suffrage ServerSuffrage
	// ID is unique among the servers of a configuration and never reused.
	ID ServerID
	// Address is where the transport reaches the server.
	Address ServerAddress
}

// Configuration is the set of servers of a cluster.
type Configuration struct {
	Servers []Server
}

// Clone returns a deep copy of the configuration.
func (c *Configuration) Clone() (copy Configuration) {
	copy.Servers = append(copy.Servers, c.Servers...)
	return
}

// ConfigurationChangeCommand is the kind of a membership change.
type ConfigurationChangeCommand uint8

// The membership changes.
const (
	// AddVoter adds a server that will vote once it has caught up.
	AddVoter ConfigurationChangeCommand = iota
	// AddNonvoter adds a server that receives the log but never votes.
	AddNonvoter
	// DemoteVoter makes a voter a non-voter.
	DemoteVoter
	// RemoveServer removes a server.
	RemoveServer
	// Promote makes a Staging server a Voter; raft issues it itself.
	Promote
	// AddStaging is the name hashicorp/raft gave AddVoter's value.
	AddStaging = 0
)

// String returns the command's name.
func (c ConfigurationChangeCommand) String() string {
	switch c {
	case AddVoter:
		return "AddVoter"
	case AddNonvoter:
		return "AddNonvoter"
	case DemoteVoter:
		return "DemoteVoter"
	case RemoveServer:
		return "RemoveServer"
	case Promote:
		return "Promote"
	}
	return "ConfigurationChangeCommand"
}

// configurationChangeRequest describes a membership change asked of the
// leader.
type configurationChangeRequest struct {
	command       ConfigurationChangeCommand
	serverID      ServerID
	serverAddress ServerAddress // only for the Add commands
	// prevIndex, when non-zero, is the index of the configuration the caller
	// based the change on: the change fails if the latest configuration is
	// newer (compare and swap).
	prevIndex uint64
}

// configurations is the pair of configurations a server tracks.
//
// Invariant: committedIndex <= latestIndex; latest is the configuration of the
// last configuration entry in the log (or snapshot), committed the last one
// known committed. A configuration takes effect as soon as it is in the log
// (thesis, section 4.1), so decisions use latest.
type configurations struct {
	committed      Configuration
	committedIndex uint64
	latest         Configuration
	latestIndex    uint64
}

// clone returns a deep copy.
func (c *configurations) clone() configurations {
	return configurations{
		committed:      c.committed.Clone(),
		committedIndex: c.committedIndex,
		latest:         c.latest.Clone(),
		latestIndex:    c.latestIndex,
	}
}

// Errors of configuration checks and changes.
var (
	errConfigEmptyID        = errors.New("raft: empty ID in configuration")
	errConfigEmptyAddress   = errors.New("raft: empty address in configuration")
	errConfigDuplicateID    = errors.New("raft: duplicate ID in configuration")
	errConfigDuplicateAddr  = errors.New("raft: duplicate address in configuration")
	errConfigNoVoter        = errors.New("raft: need at least one voter in configuration")
	errConfigUnknownCommand = errors.New("raft: unknown configuration change command")
	errConfigChanged        = errors.New("configuration changed since")
	errConfigLastVoter      = errors.New("raft: cannot remove or demote the last voter")
)

// checkConfiguration reports whether c is a valid configuration: unique
// non-empty IDs and addresses, and at least one voter.
func checkConfiguration(c Configuration) error {
	ids := make(map[ServerID]bool, len(c.Servers))
	addrs := make(map[ServerAddress]bool, len(c.Servers))
	voters := 0
	for _, s := range c.Servers {
		switch {
		case s.ID == "":
			return fmt.Errorf("%w: %v", errConfigEmptyID, c.Servers)
		case s.Address == "":
			return fmt.Errorf("%w: server %q", errConfigEmptyAddress, s.ID)
		case ids[s.ID]:
			return fmt.Errorf("%w: %q", errConfigDuplicateID, s.ID)
		case addrs[s.Address]:
			return fmt.Errorf("%w: %q", errConfigDuplicateAddr, s.Address)
		}
		ids[s.ID] = true
		addrs[s.Address] = true
		if s.Suffrage == Voter {
			voters++
		}
	}
	if voters == 0 {
		return errConfigNoVoter
	}
	return nil
}

// nextConfiguration returns the configuration that results from applying
// change to current, whose log index is currentIndex. It is a pure function:
// the leader calls it and appends the result (thesis, section 4.1).
//
// Outcomes kept from hashicorp/raft: adding a voter that is already a voter
// only updates its address; removing an unknown server changes nothing; a
// stale prevIndex fails with "configuration changed since ...".
func nextConfiguration(current Configuration, currentIndex uint64, change configurationChangeRequest) (Configuration, error) {
	if change.prevIndex > 0 && change.prevIndex != currentIndex {
		return Configuration{}, fmt.Errorf("%w %v (latest is %v)", errConfigChanged, change.prevIndex, currentIndex)
	}
	next := current.Clone()
	i := serverIndex(next, change.serverID)
	switch change.command {
	case AddVoter:
		addOrUpdate(&next, i, Server{Suffrage: Staging, ID: change.serverID, Address: change.serverAddress})
	case AddNonvoter:
		addOrUpdate(&next, i, Server{Suffrage: Nonvoter, ID: change.serverID, Address: change.serverAddress})
	case DemoteVoter:
		if i >= 0 {
			next.Servers[i].Suffrage = Nonvoter
		}
	case RemoveServer:
		if i >= 0 {
			next.Servers = append(next.Servers[:i], next.Servers[i+1:]...)
		}
	case Promote:
		if i >= 0 && next.Servers[i].Suffrage == Staging {
			next.Servers[i].Suffrage = Voter
		}
	default:
		return Configuration{}, fmt.Errorf("%w: %d", errConfigUnknownCommand, change.command)
	}
	if voterCount(current) > 0 && voterCount(next) == 0 {
		return Configuration{}, fmt.Errorf("%w: %s %q", errConfigLastVoter, change.command, change.serverID)
	}
	if err := checkConfiguration(next); err != nil {
		return Configuration{}, err
	}
	return next, nil
}

// addOrUpdate adds s to c, or, when the server is already at index i, updates
// its address. An existing server keeps its suffrage, except that a Nonvoter
// asked to be added as a voter starts staging. (As in hashicorp/raft, adding
// a voter again changes only its address, and AddNonvoter never demotes.)
func addOrUpdate(c *Configuration, i int, s Server) {
	if i < 0 {
		c.Servers = append(c.Servers, s)
		return
	}
	cur := &c.Servers[i]
	cur.Address = s.Address
	if s.Suffrage == Staging && cur.Suffrage == Nonvoter {
		cur.Suffrage = Staging
	}
}

// serverIndex returns the position of id in c, or -1.
func serverIndex(c Configuration, id ServerID) int {
	for i, s := range c.Servers {
		if s.ID == id {
			return i
		}
	}
	return -1
}

// hasVote reports whether id is a voter of c.
func hasVote(c Configuration, id ServerID) bool {
	i := serverIndex(c, id)
	return i >= 0 && c.Servers[i].Suffrage == Voter
}

// inConfiguration reports whether id is a member of c, voting or not.
func inConfiguration(c Configuration, id ServerID) bool {
	return serverIndex(c, id) >= 0
}

// voterCount returns the number of voters of c.
func voterCount(c Configuration) int {
	n := 0
	for _, s := range c.Servers {
		if s.Suffrage == Voter {
			n++
		}
	}
	return n
}

// quorumSize is the number of votes that make a majority of c's voters.
func quorumSize(c Configuration) int {
	return voterCount(c)/2 + 1
}

// EncodeConfiguration serializes a Configuration using MsgPack, in the form
// hashicorp/raft uses, so that logs and snapshots are interchangeable. It
// panics only if the encoder fails, which cannot happen for this type.
func EncodeConfiguration(configuration Configuration) []byte {
	var buf []byte
	var h codec.MsgpackHandle
	if err := codec.NewEncoderBytes(&buf, &h).Encode(configuration); err != nil {
		panic(fmt.Errorf("raft: failed to encode configuration: %w", err))
	}
	return buf
}

// DecodeConfiguration deserializes a Configuration using MsgPack. Like
// hashicorp/raft's, it panics when buf does not decode; raft itself never
// calls it on bytes from the network or disk: it uses decodeConfiguration,
// which returns the error.
func DecodeConfiguration(buf []byte) Configuration {
	c, err := decodeConfiguration(buf)
	if err != nil {
		panic(err)
	}
	return c
}

// errBadConfiguration is returned for configuration bytes that do not decode.
var errBadConfiguration = errors.New("raft: configuration does not decode")

// decodeConfiguration decodes the output of EncodeConfiguration.
func decodeConfiguration(buf []byte) (Configuration, error) {
	var c Configuration
	var h codec.MsgpackHandle
	if err := codec.NewDecoderBytes(buf, &h).Decode(&c); err != nil {
		return Configuration{}, fmt.Errorf("%w: %w", errBadConfiguration, err)
	}
	return c, nil
}
