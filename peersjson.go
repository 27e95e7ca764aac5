package raft

// This file reads peers.json, the file an operator writes by hand to recover
// a cluster that lost its quorum (see RecoverCluster). Both formats are the
// ones hashicorp/raft reads, so that existing files keep working.
//
// Old format (ReadPeersJSON): a JSON array of addresses. Each server's ID is
// its address and every server is a voter.
//
//	["10.0.0.1:8300", "10.0.0.2:8300", "10.0.0.3:8300"]
//
// New format (ReadConfigJSON): a JSON array of objects, one per server.
//
//	[
//	  {
//	    "id":        "adf4238a-882b-9ddc-4a9d-5b6758e4159e",  string, required
//	    "address":   "10.0.0.1:8300",                         string, required
//	    "non_voter": false                                    bool, optional (false: a voter)
//	  },
//	  ...
//	]
//
// Keys match case-insensitively, as encoding/json (and so hashicorp/raft)
// matches them. Beyond hashicorp/raft, raftkit reads strictly: the file holds
// one array and nothing after it, objects have no other keys, the array is not
// empty, IDs and addresses are non-empty and unique, and at least one server
// votes. An error names each bad entry with its line and column, and lists
// every problem of the file (up to maxPeersProblems) so that an operator under
// pressure fixes the file in one pass.

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"reflect"
)

// Errors of peers files, beyond the configuration errors of configuration.go
// (empty or duplicate IDs and addresses, no voter), which they also return.
var (
	errPeersSyntax       = errors.New("raft: peers file is not valid JSON")
	errPeersShape        = errors.New("raft: peers file is not a JSON array of servers")
	errPeersUnknownField = errors.New("raft: unknown field in peers file")
	errPeersEmpty        = errors.New("raft: peers file lists no servers")
)

// maxPeersProblems bounds the problems one error lists, so that a file that
// is wrong throughout (say, a log pasted by mistake) gives a readable error.
const maxPeersProblems = 10

// ReadPeersJSON reads a peers.json file in the old format, a JSON array of
// addresses, and returns a configuration in which every server is a voter
// whose ID is its address. Use it only for clusters whose server IDs are
// their addresses; ReadConfigJSON reads the format with IDs.
func ReadPeersJSON(path string) (Configuration, error) {
	return readPeersFile(path, decodeAddressEntry)
}

// ReadConfigJSON reads a peers.json file in the new format, a JSON array of
// objects with "id", "address" and an optional "non_voter", and returns the
// configuration it describes.
func ReadConfigJSON(path string) (Configuration, error) {
	return readPeersFile(path, decodeServerEntry)
}

// entryDecoder turns one array element (valid JSON) into a server.
type entryDecoder func(raw []byte) (Server, error)

// readPeersFile reads the file at path and parses it with decode.
func readPeersFile(path string, decode entryDecoder) (Configuration, error) {
	buf, err := os.ReadFile(path)
	if err != nil {
		return Configuration{}, fmt.Errorf("raft: read peers file: %w", err)
	}
	c, err := parsePeers(buf, decode)
	if err != nil {
		return Configuration{}, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// parsePeers parses the contents of a peers file and checks the result.
func parsePeers(buf []byte, decode entryDecoder) (Configuration, error) {
	raws, err := splitPeersArray(buf)
	if err != nil {
		return Configuration{}, err
	}
	chk := newPeersChecker(len(raws))
	c := Configuration{Servers: make([]Server, 0, len(raws))}
	lines := lineCounter{buf: buf, line: 1}
	for i, r := range raws {
		label := fmt.Sprintf("entry %d (%s)", i+1, lines.position(r.off)) // from 1, for people
		s, err := decode(r.raw)
		if err != nil {
			chk.probs.add(fmt.Errorf("%s: %w", label, err))
			continue
		}
		chk.check(label, s)
		c.Servers = append(c.Servers, s)
	}
	if err := chk.err(); err != nil {
		return Configuration{}, err
	}
	// The checker found no problem, so this cannot fail today; it keeps any
	// rule added to checkConfiguration later in force for peers files too.
	if err := checkConfiguration(c); err != nil {
		return Configuration{}, fmt.Errorf("peers file: %w", err)
	}
	return c, nil
}

// rawEntry is one element of the array, with its offset in the file.
type rawEntry struct {
	raw []byte
	off int
}

// splitPeersArray checks that buf holds one JSON array and nothing else, and
// returns its elements. It does not look inside them.
func splitPeersArray(buf []byte) ([]rawEntry, error) {
	if len(bytes.Trim(buf, " \t\r\n")) == 0 {
		return nil, fmt.Errorf("%w: the file is empty", errPeersEmpty)
	}
	// Check the syntax of the whole file first: json.Unmarshal counts the
	// offset of a syntax error from the start of buf, while a Decoder used
	// token by token does not. It also rejects anything after the array,
	// which hashicorp/raft ignored (a second array there is a mistake).
	var whole json.RawMessage
	if err := json.Unmarshal(buf, &whole); err != nil {
		return nil, syntaxError(buf, err)
	}
	dec := json.NewDecoder(bytes.NewReader(buf))
	tok, err := dec.Token()
	switch {
	case err != nil:
		return nil, fmt.Errorf("%w: %w", errPeersSyntax, err)
	case tok == nil:
		return nil, fmt.Errorf("%w: the file holds null", errPeersEmpty)
	case tok != json.Delim('['):
		return nil, fmt.Errorf("%w: the file holds %s", errPeersShape, jsonKind(tok))
	}
	var raws []rawEntry
	for dec.More() {
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, fmt.Errorf("%w: %w", errPeersSyntax, err)
		}
		// RawMessage holds the element without the space before it, and
		// the decoder stops right after it.
		end := int(dec.InputOffset())
		raws = append(raws, rawEntry{raw: raw, off: end - len(raw)})
	}
	if len(raws) == 0 {
		return nil, fmt.Errorf("%w: the array is empty", errPeersEmpty)
	}
	return raws, nil
}

// syntaxError wraps a JSON syntax error with the line and column of the byte
// where the parser gave up.
func syntaxError(buf []byte, err error) error {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		// Offset counts the bytes read, the bad one included.
		return fmt.Errorf("%w: %s: %w", errPeersSyntax, position(buf, int(se.Offset)-1), err)
	}
	return fmt.Errorf("%w: %w", errPeersSyntax, err)
}

// position formats the line and column (both from 1, columns in bytes) of
// offset off in buf.
func position(buf []byte, off int) string {
	lines := lineCounter{buf: buf, line: 1}
	return lines.position(off)
}

// lineCounter turns offsets in buf into lines and columns. Offsets asked of
// it must not decrease, so that a file costs one pass, not one per entry.
type lineCounter struct {
	buf       []byte
	off       int // newlines before off are counted
	line      int // the line of off, from 1
	lineStart int // the offset of the first byte of that line
}

// position formats the line and column of offset off, which must be at
// least the last offset asked (an offset out of buf counts as its end).
func (lc *lineCounter) position(off int) string {
	off = min(max(off, lc.off), len(lc.buf))
	seen := lc.buf[lc.off:off]
	if n := bytes.Count(seen, []byte("\n")); n > 0 {
		lc.line += n
		lc.lineStart = lc.off + bytes.LastIndexByte(seen, '\n') + 1
	}
	lc.off = off
	return fmt.Sprintf("line %d, column %d", lc.line, off-lc.lineStart+1)
}

// decodeAddressEntry decodes an element of the old format: an address, which
// is also the server's ID.
func decodeAddressEntry(raw []byte) (Server, error) {
	var addr string
	if err := json.Unmarshal(raw, &addr); err != nil {
		err = typeError(err)
		if bytes.HasPrefix(raw, []byte("{")) {
			err = fmt.Errorf("%w (objects are the new format: read it with ReadConfigJSON)", err)
		}
		return Server{}, err
	}
	return Server{Suffrage: Voter, ID: ServerID(addr), Address: ServerAddress(addr)}, nil
}

// peersServer is an element of the new format.
type peersServer struct {
	ID       ServerID      `json:"id"`
	Address  ServerAddress `json:"address"`
	NonVoter bool          `json:"non_voter"` // absent means a voter
}

// decodeServerEntry decodes an element of the new format.
func decodeServerEntry(raw []byte) (Server, error) {
	var e peersServer
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&e); err != nil {
		var te *json.UnmarshalTypeError
		if !errors.As(err, &te) {
			// raw is valid JSON and peersServer has no custom decoding, so
			// the only other error is the unknown field, which json names.
			return Server{}, fmt.Errorf("%w: %w", errPeersUnknownField, err)
		}
		err = typeError(err)
		if bytes.HasPrefix(raw, []byte(`"`)) {
			err = fmt.Errorf("%w (strings are the old format: read it with ReadPeersJSON)", err)
		}
		return Server{}, err
	}
	s := Server{Suffrage: Voter, ID: e.ID, Address: e.Address}
	if e.NonVoter {
		s.Suffrage = Nonvoter
	}
	return s, nil
}

// typeError rewords a JSON type error for an operator: which field, what it
// holds and what it should hold.
func typeError(err error) error {
	var te *json.UnmarshalTypeError
	if !errors.As(err, &te) {
		return fmt.Errorf("%w: %w", errPeersShape, err)
	}
	what := "the entry"
	if te.Field != "" {
		what = fmt.Sprintf("%q", te.Field)
	}
	return fmt.Errorf("%w: %s is a JSON %s, want %s", errPeersShape, what, te.Value, wantKind(te.Type))
}

// wantKind names the JSON value that decodes into t.
func wantKind(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "string"
	case reflect.Bool:
		return "true or false"
	case reflect.Struct:
		return "object"
	}
	return t.String()
}

// jsonKind names the kind of JSON value that starts with token tok.
func jsonKind(tok json.Token) string {
	switch tok.(type) {
	case json.Delim:
		return "an object, not an array" // '[' is handled by the caller
	case string:
		return "a string, not an array"
	case bool:
		return "true or false, not an array"
	}
	return "a number, not an array"
}

// peersChecker checks the servers of a file one by one, in file order.
type peersChecker struct {
	ids    map[ServerID]string      // label of the entry that has each ID
	addrs  map[ServerAddress]string // label of the entry that has each address
	voters int
	probs  problemList
}

func newPeersChecker(n int) *peersChecker {
	return &peersChecker{ids: make(map[ServerID]string, n), addrs: make(map[ServerAddress]string, n)}
}

// check records the first problem of server s, labelled label, among an
// empty ID, an empty address, a duplicate ID and a duplicate address.
func (c *peersChecker) check(label string, s Server) {
	if s.Suffrage == Voter {
		c.voters++
	}
	switch first, firstAddr := c.ids[s.ID], c.addrs[s.Address]; {
	case s.ID == "":
		c.probs.add(fmt.Errorf("%s: %w", label, errConfigEmptyID))
	case s.Address == "":
		c.probs.add(fmt.Errorf("%s: %w: server %q", label, errConfigEmptyAddress, s.ID))
	case first != "":
		c.probs.add(fmt.Errorf("%s: %w: %q, also in %s", label, errConfigDuplicateID, s.ID, first))
	case firstAddr != "":
		c.probs.add(fmt.Errorf("%s: %w: %q, also in %s", label, errConfigDuplicateAddr, s.Address, firstAddr))
	default:
		c.ids[s.ID], c.addrs[s.Address] = label, label
	}
}

// err returns the problems found, adding a missing voter when every entry
// was sound (with bad entries, their suffrage is unknown).
func (c *peersChecker) err() error {
	if c.probs.len() == 0 && c.voters == 0 {
		c.probs.add(fmt.Errorf("%w: all %d servers are non-voters", errConfigNoVoter, len(c.ids)))
	}
	return c.probs.err()
}

// problemList collects the problems of a file, keeping the first
// maxPeersProblems and counting the rest.
type problemList struct {
	errs    []error
	dropped int
}

func (p *problemList) add(err error) {
	if len(p.errs) < maxPeersProblems {
		p.errs = append(p.errs, err)
		return
	}
	p.dropped++
}

func (p *problemList) len() int { return len(p.errs) + p.dropped }

// err joins the problems (one per line), or returns nil if there are none.
func (p *problemList) err() error {
	if p.dropped > 0 {
		return errors.Join(append(p.errs, fmt.Errorf("and %d more problems", p.dropped))...)
	}
	return errors.Join(p.errs...)
}
