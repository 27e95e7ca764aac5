package raft

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// writePeersFile writes content to peers.json in a fresh directory.
func writePeersFile(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "peers.json")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// The files as hashicorp/raft documents them (and as its tests write them).
const (
	oldPeersFile = `
["127.0.0.1:123",
 "127.0.0.2:123",
 "127.0.0.3:123"]
`
	newPeersFile = `
[
  {
    "id": "adf4238a-882b-9ddc-4a9d-5b6758e4159e",
    "address": "127.0.0.1:123",
    "non_voter": false
  },
  {
    "id": "8b6dda82-3103-11e7-93ae-92361f002671",
    "address": "127.0.0.2:123"
  },
  {
    "id": "97e17742-3103-11e7-93ae-92361f002671",
    "address": "127.0.0.3:123",
    "non_voter": true
  }
]
`
)

func TestReadPeersJSONHashicorpFormats(t *testing.T) {
	got, err := ReadPeersJSON(writePeersFile(t, oldPeersFile))
	if err != nil {
		t.Fatalf("ReadPeersJSON: %v", err)
	}
	want := Configuration{Servers: []Server{
		{Suffrage: Voter, ID: "127.0.0.1:123", Address: "127.0.0.1:123"},
		{Suffrage: Voter, ID: "127.0.0.2:123", Address: "127.0.0.2:123"},
		{Suffrage: Voter, ID: "127.0.0.3:123", Address: "127.0.0.3:123"},
	}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ReadPeersJSON = %+v, want %+v", got, want)
	}

	got, err = ReadConfigJSON(writePeersFile(t, newPeersFile))
	if err != nil {
		t.Fatalf("ReadConfigJSON: %v", err)
	}
	want = Configuration{Servers: []Server{
		{Suffrage: Voter, ID: "adf4238a-882b-9ddc-4a9d-5b6758e4159e", Address: "127.0.0.1:123"},
		{Suffrage: Voter, ID: "8b6dda82-3103-11e7-93ae-92361f002671", Address: "127.0.0.2:123"},
		{Suffrage: Nonvoter, ID: "97e17742-3103-11e7-93ae-92361f002671", Address: "127.0.0.3:123"},
	}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ReadConfigJSON = %+v, want %+v", got, want)
	}
}

func TestReadPeersJSONFileErrors(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "nope.json")
	for name, read := range map[string]func(string) (Configuration, error){
		"ReadPeersJSON": ReadPeersJSON, "ReadConfigJSON": ReadConfigJSON,
	} {
		if _, err := read(missing); !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), missing) {
			t.Errorf("%s(missing file) = %v, want fs.ErrNotExist naming the path", name, err)
		}
		path := writePeersFile(t, "[]")
		if _, err := read(path); !errors.Is(err, errPeersEmpty) || !strings.Contains(err.Error(), path) {
			t.Errorf("%s(empty list) = %v, want errPeersEmpty naming the path", name, err)
		}
	}
}

// peersCase is a file and what reading it in one format must give.
type peersCase struct {
	name    string
	old     bool // the old format (ReadPeersJSON), else the new one
	in      string
	want    []Server // when the file is valid
	wantErr error    // else the sentinel the error wraps
	wantIn  []string // and what its message names
}

func (c peersCase) decoder() entryDecoder {
	if c.old {
		return decodeAddressEntry
	}
	return decodeServerEntry
}

var validPeersCases = []peersCase{
	{name: "old one server", old: true, in: `["a:1"]`,
		want: []Server{{Voter, "a:1", "a:1"}}},
	{name: "old with spaces", old: true, in: " \n[ \"a:1\" ,\t\"b:1\" ]\r\n",
		want: []Server{{Voter, "a:1", "a:1"}, {Voter, "b:1", "b:1"}}},
	{name: "new mixed", in: `[{"id":"a","address":"x"},{"id":"b","address":"y","non_voter":true}]`,
		want: []Server{{Voter, "a", "x"}, {Nonvoter, "b", "y"}}},
	{name: "new keys in any case, as encoding/json reads them",
		in:   `[{"ID":"a","Address":"x","NON_VOTER":false},{"Id":"b","ADDRESS":"y","Non_Voter":true}]`,
		want: []Server{{Voter, "a", "x"}, {Nonvoter, "b", "y"}}},
	{name: "new null non_voter is a voter", in: `[{"id":"a","address":"x","non_voter":null}]`,
		want: []Server{{Voter, "a", "x"}}},
	{name: "new escapes", in: `[{"id":"\u00e9t\u00e9","address":"h\/1"}]`,
		want: []Server{{Voter, "été", "h/1"}}},
}

var badPeersCases = []peersCase{
	// Syntax, located.
	{name: "trailing comma", in: "[\n  {\"id\":\"a\",\"address\":\"x\"},\n]",
		wantErr: errPeersSyntax, wantIn: []string{"line 3, column 1", "invalid character ']'"}},
	{name: "missing comma", old: true, in: "[\n \"a\",\n \"b\" \"c\"]",
		wantErr: errPeersSyntax, wantIn: []string{"line 3, column 6"}},
	{name: "truncated", in: "[{\"id\":\"a\",\n\"address\":\"x\"}",
		wantErr: errPeersSyntax, wantIn: []string{"line 2, column 14", "end of JSON input"}},
	{name: "second array", old: true, in: "[\"a\"]\n[\"b\"]",
		wantErr: errPeersSyntax, wantIn: []string{"line 2, column 1", "after top-level value"}},
	{name: "garbage after", in: `[{"id":"a","address":"x"}] x`,
		wantErr: errPeersSyntax, wantIn: []string{"line 1, column 28"}},
	{name: "byte order mark", old: true, in: "\ufeff[\"a\"]",
		wantErr: errPeersSyntax, wantIn: []string{"line 1, column 1"}},
	{name: "comment", old: true, in: "// peers\n[\"a\"]",
		wantErr: errPeersSyntax, wantIn: []string{"line 1, column 1"}},

	// No servers.
	{name: "empty file", in: "", wantErr: errPeersEmpty, wantIn: []string{"empty"}},
	{name: "blank file", old: true, in: " \n\t", wantErr: errPeersEmpty, wantIn: []string{"empty"}},
	{name: "null", old: true, in: "null", wantErr: errPeersEmpty, wantIn: []string{"null"}},
	{name: "empty array", in: " [ ] ", wantErr: errPeersEmpty, wantIn: []string{"empty"}},

	// Not an array of the right things.
	{name: "object", in: `{"id":"a","address":"x"}`, wantErr: errPeersShape, wantIn: []string{"an object"}},
	{name: "string", old: true, in: `"a"`, wantErr: errPeersShape, wantIn: []string{"a string"}},
	{name: "number", in: `12`, wantErr: errPeersShape, wantIn: []string{"a number"}},
	{name: "bool", in: `true`, wantErr: errPeersShape, wantIn: []string{"true or false"}},
	{name: "old read as new", in: "[\n  \"a\"]",
		wantErr: errPeersShape, wantIn: []string{"entry 1 (line 2, column 3)", "ReadPeersJSON"}},
	{name: "new read as old", old: true, in: `[{"id":"a","address":"x"}]`,
		wantErr: errPeersShape, wantIn: []string{"entry 1 (line 1, column 2)", "ReadConfigJSON"}},
	{name: "old number", old: true, in: `["a", 7]`,
		wantErr: errPeersShape, wantIn: []string{"entry 2 (line 1, column 7)", "number, want string"}},
	{name: "numeric id", in: `[{"id":1,"address":"x"}]`,
		wantErr: errPeersShape, wantIn: []string{"entry 1", `"id" is a JSON number, want string`}},
	{name: "string non_voter", in: `[{"id":"a","address":"x","non_voter":"yes"}]`,
		wantErr: errPeersShape, wantIn: []string{`"non_voter" is a JSON string, want true or false`}},
	{name: "nested array", in: `[[{"id":"a","address":"x"}]]`,
		wantErr: errPeersShape, wantIn: []string{"entry 1", "array, want object"}},

	// Unknown fields.
	{name: "misspelt non_voter", in: "[{\"id\":\"a\",\"address\":\"x\"},\n {\"id\":\"b\",\"address\":\"y\",\"nonvoter\":true}]",
		wantErr: errPeersUnknownField, wantIn: []string{"entry 2 (line 2, column 2)", `"nonvoter"`}},
	{name: "suffrage field", in: `[{"id":"a","address":"x","suffrage":"Voter"}]`,
		wantErr: errPeersUnknownField, wantIn: []string{`"suffrage"`}},

	// Empty IDs and addresses.
	{name: "old empty", old: true, in: `["a", ""]`, wantErr: errConfigEmptyID, wantIn: []string{"entry 2"}},
	{name: "old null entry", old: true, in: `[null]`, wantErr: errConfigEmptyID, wantIn: []string{"entry 1"}},
	{name: "new no id", in: `[{"address":"x"}]`, wantErr: errConfigEmptyID, wantIn: []string{"entry 1"}},
	{name: "new empty id", in: `[{"id":"a","address":"x"},{"id":"","address":"y"}]`,
		wantErr: errConfigEmptyID, wantIn: []string{"entry 2"}},
	{name: "new null entry", in: `[null]`, wantErr: errConfigEmptyID, wantIn: []string{"entry 1"}},
	{name: "new no address", in: `[{"id":"a"}]`, wantErr: errConfigEmptyAddress, wantIn: []string{"entry 1", `"a"`}},

	// Duplicates, named with both entries.
	{name: "old duplicate", old: true, in: "[\"a\",\n \"b\",\n \"a\"]", wantErr: errConfigDuplicateID,
		wantIn: []string{`"a"`, "entry 3 (line 3, column 2)", "also in entry 1 (line 1, column 2)"}},
	{name: "new duplicate id", in: `[{"id":"a","address":"x"},{"id":"a","address":"y"}]`,
		wantErr: errConfigDuplicateID, wantIn: []string{`"a"`, "entry 2", "also in entry 1"}},
	{name: "new duplicate address", in: `[{"id":"a","address":"x"},{"id":"b","address":"x"}]`,
		wantErr: errConfigDuplicateAddr, wantIn: []string{`"x"`, "entry 2", "also in entry 1"}},

	// No voter.
	{name: "all non-voters", in: `[{"id":"a","address":"x","non_voter":true},{"id":"b","address":"y","non_voter":true}]`,
		wantErr: errConfigNoVoter, wantIn: []string{"all 2 servers"}},
}

func TestParsePeersValid(t *testing.T) {
	for _, c := range validPeersCases {
		t.Run(c.name, func(t *testing.T) {
			got, err := parsePeers([]byte(c.in), c.decoder())
			if err != nil {
				t.Fatalf("parsePeers(%q) = %v", c.in, err)
			}
			if !reflect.DeepEqual(got.Servers, c.want) {
				t.Fatalf("parsePeers(%q) = %+v, want %+v", c.in, got.Servers, c.want)
			}
		})
	}
}

func TestParsePeersInvalid(t *testing.T) {
	for _, c := range badPeersCases {
		t.Run(c.name, func(t *testing.T) {
			got, err := parsePeers([]byte(c.in), c.decoder())
			if !errors.Is(err, c.wantErr) {
				t.Fatalf("parsePeers(%q) = %+v, %v; want %v", c.in, got, err, c.wantErr)
			}
			if got.Servers != nil {
				t.Errorf("parsePeers(%q) returned servers %+v with its error", c.in, got.Servers)
			}
			for _, s := range c.wantIn {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not contain %q", err, s)
				}
			}
		})
	}
}

// TestParsePeersAllProblems checks that one error lists every bad entry, in
// file order, each with its own sentinel.
func TestParsePeersAllProblems(t *testing.T) {
	in := `[
  {"id": "a", "address": "x"},
  {"id": "",  "address": "y"},
  {"id": "a", "address": "z", "port": 1},
  {"id": "a", "address": "w"},
  {"id": "b", "address": "x", "non_voter": 0}
]`
	_, err := parsePeers([]byte(in), decodeServerEntry)
	lines := strings.Split(err.Error(), "\n")
	want := []struct {
		prefix string
		err    error
	}{
		{"entry 2 (line 3, column 3): ", errConfigEmptyID},
		{"entry 3 (line 4, column 3): ", errPeersUnknownField},
		{"entry 4 (line 5, column 3): ", errConfigDuplicateID},
		{"entry 5 (line 6, column 3): ", errPeersShape},
	}
	if len(lines) != len(want) {
		t.Fatalf("error has %d lines, want %d:\n%v", len(lines), len(want), err)
	}
	for i, w := range want {
		if !strings.HasPrefix(lines[i], w.prefix) || !errors.Is(err, w.err) {
			t.Errorf("line %d = %q, want prefix %q and the error to wrap %v", i+1, lines[i], w.prefix, w.err)
		}
	}
}

func TestParsePeersProblemsBounded(t *testing.T) {
	in := "[" + strings.Repeat(`"",`, maxPeersProblems+4) + `""]`
	_, err := parsePeers([]byte(in), decodeAddressEntry)
	lines := strings.Split(err.Error(), "\n")
	if len(lines) != maxPeersProblems+1 || lines[len(lines)-1] != "and 5 more problems" {
		t.Fatalf("error = %v, want %d problems and a count of 5 more", err, maxPeersProblems)
	}
}

// peersSentinels are the errors every rejection wraps one of.
var peersSentinels = []error{
	errPeersSyntax, errPeersShape, errPeersUnknownField, errPeersEmpty,
	errConfigEmptyID, errConfigEmptyAddress, errConfigDuplicateID, errConfigDuplicateAddr, errConfigNoVoter,
}

// validServers is a reference check, written apart from the code under test:
// at least one server, unique non-empty IDs and addresses, at least one voter.
func validServers(servers []Server) bool {
	ids, addrs, voters := map[ServerID]bool{}, map[ServerAddress]bool{}, 0
	for _, s := range servers {
		if s.ID == "" || s.Address == "" || ids[s.ID] || addrs[s.Address] {
			return false
		}
		if s.Suffrage != Voter && s.Suffrage != Nonvoter {
			return false
		}
		ids[s.ID], addrs[s.Address] = true, true
		if s.Suffrage == Voter {
			voters++
		}
	}
	return voters > 0
}

// hashicorpRead reads data the way hashicorp/raft does (one JSON value,
// decoded as a whole), made strict about unknown fields and trailing data.
// ok is false if such a reader rejects the file.
func hashicorpRead(data []byte, old bool) (servers []Server, ok bool) {
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.DisallowUnknownFields()
	if old {
		var addrs []string
		if dec.Decode(&addrs) != nil {
			return nil, false
		}
		for _, a := range addrs {
			servers = append(servers, Server{Voter, ServerID(a), ServerAddress(a)})
		}
	} else {
		var entries []peersServer
		if dec.Decode(&entries) != nil {
			return nil, false
		}
		for _, e := range entries {
			s := Server{Voter, e.ID, e.Address}
			if e.NonVoter {
				s.Suffrage = Nonvoter
			}
			servers = append(servers, s)
		}
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, false
	}
	return servers, checkConfiguration(Configuration{Servers: servers}) == nil
}

func FuzzParsePeers(f *testing.F) {
	f.Add([]byte(oldPeersFile))
	f.Add([]byte(newPeersFile))
	for _, c := range append(validPeersCases, badPeersCases...) {
		f.Add([]byte(c.in))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, old := range []bool{true, false} {
			c := peersCase{old: old}
			got, err := parsePeers(data, c.decoder())
			ref, refOK := hashicorpRead(data, old)
			if err != nil {
				if refOK {
					t.Fatalf("old=%v: rejected %q, which a strict hashicorp reader accepts: %v", old, data, err)
				}
				if !wrapsOneOf(err, peersSentinels) {
					t.Fatalf("old=%v: error for %q wraps no sentinel: %v", old, data, err)
				}
				continue
			}
			if !validServers(got.Servers) {
				t.Fatalf("old=%v: accepted %q as invalid %+v", old, data, got.Servers)
			}
			if !refOK || !reflect.DeepEqual(got.Servers, ref) {
				t.Fatalf("old=%v: read %q as %+v; a strict hashicorp reader gives %+v (ok %v)", old, data, got.Servers, ref, refOK)
			}
		}
	})
}

func wrapsOneOf(err error, sentinels []error) bool {
	for _, s := range sentinels {
		if errors.Is(err, s) {
			return true
		}
	}
	return false
}

// BenchmarkParsePeers reads a large file in the new format; its cost per
// server must not grow with the size of the file.
func BenchmarkParsePeers(b *testing.B) {
	for _, n := range []int{10, 10000} {
		var sb strings.Builder
		sb.WriteString("[\n")
		for i := range n {
			if i > 0 {
				sb.WriteString(",\n")
			}
			fmt.Fprintf(&sb, `  {"id": "server-%d", "address": "10.0.%d.%d:8300", "non_voter": %v}`, i, i/256, i%256, i%2 == 1)
		}
		sb.WriteString("\n]\n")
		data := []byte(sb.String())
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				if _, err := parsePeers(data, decodeServerEntry); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
