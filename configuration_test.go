package raft

import (
	"reflect"
	"testing"
)

// FuzzDecodeConfiguration feeds arbitrary bytes to the decoder of
// configuration entries, which arrive from the network (in AppendEntries
// and InstallSnapshot) and from the disk: nothing may panic, the memory
// allocated must follow the input's size whatever lengths it declares, and
// whatever decodes re-encodes to bytes that decode to the same
// configuration.
func FuzzDecodeConfiguration(f *testing.F) {
	for _, c := range []Configuration{
		{},
		{Servers: []Server{{ID: "a", Address: "a:1"}}},
		{Servers: []Server{{Suffrage: Voter, ID: "a", Address: "10.0.0.1:8300"}, {Suffrage: Nonvoter, ID: "b", Address: "b"},
			{Suffrage: Staging, ID: "c", Address: ""}}},
	} {
		f.Add(EncodeConfiguration(c))
	}
	for _, bad := range []string{"\x81\xa7Servers\xdd\xff\xff\xff\xff", "\x81\xa7Servers\x91\x83\xa2ID\xdb\x7f\xff\xff\xff",
		"\xdf\xff\xff\xff\xff", "\x81\xa7Servers\x91\x81\xa8Suffrage\xd3\x80\x00\x00\x00\x00\x00\x00\x00", "\xc1"} {
		f.Add([]byte(bad))
	}
	f.Fuzz(func(t *testing.T, buf []byte) {
		before := allocatedBytes()
		c, err := decodeConfiguration(buf)
		if grew := allocatedBytes() - before; grew > 1<<20+200*uint64(len(buf)) {
			t.Fatalf("%d input bytes cost %d bytes", len(buf), grew)
		}
		if err != nil {
			return
		}
		again, err := decodeConfiguration(EncodeConfiguration(c))
		if err != nil {
			t.Fatalf("%#v re-encoded does not decode: %v", c, err)
		}
		if !reflect.DeepEqual(again, c) {
			t.Fatalf("%q decodes to\n %#v\nre-encoded to\n %#v", buf, c, again)
		}
	})
}
