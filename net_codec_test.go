package raft

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"maps"
	"reflect"
	"slices"
	"testing"
)

// chunkReader returns its data in reads of at most n bytes, as a network
// connection may.
type chunkReader struct {
	data []byte
	n    int
}

func (c *chunkReader) Read(p []byte) (int, error) {
	if len(c.data) == 0 {
		return 0, io.EOF
	}
	k := copy(p[:min(len(p), c.n)], c.data)
	c.data = c.data[k:]
	return k, nil
}

// readRequestReference reads one AppendEntries request the way readMessage
// reads every other message: readValue copies the frame out, then it is
// decoded.
func readRequestReference(r *bufio.Reader, limit int) (*AppendEntriesRequest, error) {
	frame, err := readValue(r, nil, limit)
	if err != nil {
		return nil, err
	}
	req := &AppendEntriesRequest{}
	return req, decodeAppendEntriesRequest(frame, req)
}

// typed puts the type byte of AppendEntries before each frame, as on the
// wire: the server reads it before the request, which fills the buffer.
func typed(frames ...[]byte) []byte {
	var b []byte
	for _, f := range frames {
		b = append(append(b, rpcAppendEntries), f...)
	}
	return b
}

// compareRequestReads reads type bytes and AppendEntries requests from
// stream, delivered in reads of chunk bytes into a buffer of size, with
// readMessage and with the reference, until either fails, and reports the
// first disagreement.
func compareRequestReads(stream []byte, chunk, size, limit int) error {
	c := &wireCodec{n: &NetworkTransport{maxRPCSize: limit}}
	got := bufio.NewReaderSize(&chunkReader{data: stream, n: chunk}, size)
	want := bufio.NewReaderSize(&chunkReader{data: stream, n: chunk}, size)
	for i := 0; ; i++ {
		if _, err := got.ReadByte(); err != nil {
			return nil
		}
		_, _ = want.ReadByte()
		req := &AppendEntriesRequest{}
		gerr := c.readMessage(got, new([]byte), req)
		wreq, werr := readRequestReference(want, limit)
		switch {
		case (gerr == nil) != (werr == nil):
			return fmt.Errorf("request %d: error %v, reference %v", i, gerr, werr)
		case gerr != nil:
			if errors.Is(gerr, errFrameTooLarge) != errors.Is(werr, errFrameTooLarge) ||
				errors.Is(gerr, io.ErrUnexpectedEOF) != errors.Is(werr, io.ErrUnexpectedEOF) {
				return fmt.Errorf("request %d: error %v, reference %v", i, gerr, werr)
			}
			return nil
		case !reflect.DeepEqual(req, wreq):
			return fmt.Errorf("request %d: decoded %#v, reference %#v", i, req, wreq)
		case got.Buffered() != want.Buffered():
			return fmt.Errorf("request %d: %d bytes left buffered, reference %d", i, got.Buffered(), want.Buffered())
		}
	}
}

// hostileVariants returns frame cut short, with a byte never used by
// msgpack put in at a few places, and with its first count raised.
func hostileVariants(frame []byte) [][]byte {
	var out [][]byte
	for _, at := range []int{1, len(frame) / 3, len(frame) / 2, len(frame) - 1} {
		if at <= 0 || at >= len(frame) {
			continue
		}
		out = append(out, frame[:at], slices.Insert(slices.Clone(frame), at, 0xc1))
	}
	if len(frame) > 0 && frame[0] >= 0x80 && frame[0] < 0x8f {
		b := slices.Clone(frame)
		b[0]++ // one more key than the map holds
		out = append(out, b)
	}
	return out
}

// TestReadMessageInPlaceAgreesWithReadValue checks that decoding a request
// where it lies in the buffer accepts and refuses what readValue followed
// by the decoder does, decodes it alike, and leaves the stream at the same
// place, whatever the delivery, buffer size and limit.
func TestReadMessageInPlaceAgreesWithReadValue(t *testing.T) {
	heartbeat := libEncode(t, appendEntriesEdgeCases()["heartbeat"], false)
	var frames [][]byte
	for _, req := range sortedEdgeCases() {
		for _, newTime := range []bool{false, true} {
			f := libEncode(t, req, newTime)
			frames = append(frames, f)
			if len(f) < 1024 {
				frames = append(frames, hostileVariants(f)...)
			}
		}
	}
	for _, frame := range frames {
		stream := typed(frame, heartbeat, frame)
		for _, chunk := range []int{3, 100, len(stream)} {
			for _, size := range []int{16, 64 << 10} {
				for _, limit := range []int{1 << 20, len(frame) - 1} {
					if err := compareRequestReads(stream, chunk, size, limit); err != nil {
						t.Fatalf("frame %q, reads of %d, buffer %d, limit %d: %v", frame, chunk, size, limit, err)
					}
				}
			}
		}
	}
}

// sortedEdgeCases returns appendEntriesEdgeCases in a fixed order.
func sortedEdgeCases() []*AppendEntriesRequest {
	cases := appendEntriesEdgeCases()
	var out []*AppendEntriesRequest
	for _, name := range slices.Sorted(maps.Keys(cases)) {
		out = append(out, cases[name])
	}
	return out
}

// TestReadMessageDecodesWholeRequestsInPlace checks that the in-place path
// is the one taken when requests arrive whole, and that a request decoded
// in place owns its bytes: refilling the buffer must not change it.
func TestReadMessageDecodesWholeRequestsInPlace(t *testing.T) {
	first, second := benchRequest(), benchRequest()
	for _, e := range second.Entries {
		e.Data = bytes.Repeat([]byte{0xee}, len(e.Data))
	}
	f1, f2 := libEncode(t, first, false), libEncode(t, second, false)
	// One read per frame; the buffer fits one frame, so reading the second
	// overwrites the bytes of the first.
	src := io.MultiReader(bytes.NewReader(typed(f1)), bytes.NewReader(typed(f2)))
	r := bufio.NewReaderSize(src, max(len(f1), len(f2))+1)
	c := &wireCodec{n: &NetworkTransport{maxRPCSize: 1 << 20}}
	var got [2]AppendEntriesRequest
	for i := range got {
		if _, err := r.ReadByte(); err != nil {
			t.Fatal(err)
		}
		var scratch []byte
		if err := c.readMessage(r, &scratch, &got[i]); err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		if scratch != nil {
			t.Fatalf("request %d was whole in the buffer but was copied out by readValue", i)
		}
	}
	var want AppendEntriesRequest
	if err := decodeAppendEntriesRequest(f1, &want); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got[0], want) {
		t.Fatalf("the first request changed when the buffer was refilled:\n got %#v\nwant %#v", got[0], want)
	}
}

// TestReadMessageSkipsInPlaceAfterPartialRequest checks the guess that keeps
// large requests from being decoded twice: after a request that was not
// whole in the buffer, a buffer holding fewer bytes goes to readValue, and
// a request that readValue finds whole there lifts the guess.
func TestReadMessageSkipsInPlaceAfterPartialRequest(t *testing.T) {
	big := libEncode(t, benchRequest(), false)
	small := libEncode(t, appendEntriesEdgeCases()["heartbeat"], false)
	// big arrives in two reads, then small twice and big again, each whole.
	tb := typed(big)
	src := io.MultiReader(bytes.NewReader(tb[:len(tb)/2]), bytes.NewReader(tb[len(tb)/2:]),
		bytes.NewReader(typed(small)), bytes.NewReader(typed(small)), bytes.NewReader(tb))
	r := bufio.NewReaderSize(src, 2*len(tb))
	c := &wireCodec{n: &NetworkTransport{maxRPCSize: 1 << 20}}
	for i, wantInPlace := range []bool{false, false, true, true} {
		if _, err := r.ReadByte(); err != nil {
			t.Fatal(err)
		}
		var scratch []byte
		var req AppendEntriesRequest
		if err := c.readMessage(r, &scratch, &req); err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		if inPlace := scratch == nil; inPlace != wantInPlace {
			t.Fatalf("request %d: decoded in place %v, want %v (partialAppend %d)", i, inPlace, wantInPlace, c.partialAppend)
		}
	}
}

// FuzzReadAppendEntries feeds arbitrary streams, delivered in arbitrary
// reads, to readMessage and to the reference: they must agree.
func FuzzReadAppendEntries(f *testing.F) {
	for _, req := range sortedEdgeCases() {
		if len(req.Entries) < 20 {
			f.Add(typed(libEncode(f, req, false)), uint16(7), uint16(64))
			f.Add(typed(libEncode(f, req, true), libEncode(f, req, false)), uint16(1000), uint16(4096))
		}
	}
	f.Fuzz(func(t *testing.T, stream []byte, chunk, size uint16) {
		limit := max(len(stream)/2, 1)
		if err := compareRequestReads(stream, max(int(chunk), 1), max(int(size), 16), limit); err != nil {
			t.Fatal(err)
		}
		if err := compareRequestReads(stream, len(stream)+1, 64<<10, 1<<20); err != nil {
			t.Fatal(err)
		}
	})
}
