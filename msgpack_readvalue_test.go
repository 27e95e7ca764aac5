package raft

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"testing"
)

// readValueReference is readValue's definition, token by token with no
// buffered fast path: the optimized readValue must agree with it.
func readValueReference(r *bufio.Reader, dst []byte, limit int) ([]byte, error) {
	start, owed := len(dst), 1
	for owed > 0 {
		owed--
		var err error
		if dst, owed, err = readToken(r, dst, start, owed, limit); err != nil {
			return dst, err
		}
	}
	return dst, nil
}

// readBoth runs both readers over data with a bufio buffer of size, value
// after value, and reports the first disagreement.
func readBoth(data []byte, size, limit int) error {
	fast := bufio.NewReaderSize(bytes.NewReader(data), size)
	slow := bufio.NewReaderSize(bytes.NewReader(data), size)
	for i := 0; ; i++ {
		got, gerr := readValue(fast, nil, limit)
		want, werr := readValueReference(slow, nil, limit)
		if (gerr == nil) != (werr == nil) || (gerr != nil && !errors.Is(gerr, io.EOF) != !errors.Is(werr, io.EOF)) {
			return fmt.Errorf("value %d: error %v, reference %v", i, gerr, werr)
		}
		if gerr != nil {
			if errors.Is(werr, errFrameTooLarge) != errors.Is(gerr, errFrameTooLarge) {
				return fmt.Errorf("value %d: error %v, reference %v", i, gerr, werr)
			}
			return nil
		}
		if !bytes.Equal(got, want) {
			return fmt.Errorf("value %d: %x, reference %x", i, got, want)
		}
	}
}

func TestReadValueAgreesWithReference(t *testing.T) {
	frames := [][]byte{
		libEncode(t, benchRequest(), false),
		libEncode(t, benchRequest(), true),
		libEncode(t, &AppendEntriesResponse{Term: 3, LastLog: 9, Success: true}, false),
	}
	all := bytes.Join(frames, nil)
	for _, size := range []int{16, 17, 64, 100, 4096} { // bufio's minimum is 16
		for _, limit := range []int{1 << 20, len(frames[0]) - 1, 64} {
			if err := readBoth(all, size, limit); err != nil {
				t.Fatalf("buffer %d, limit %d: %v", size, limit, err)
			}
		}
	}
}

func FuzzReadValue(f *testing.F) {
	f.Add(libEncode(f, benchRequest(), false), uint16(16), uint32(1<<20))
	f.Add([]byte{0xde, 0xff, 0xff}, uint16(32), uint32(100))
	f.Add([]byte{0xdb, 0x7f, 0xff, 0xff, 0xff}, uint16(16), uint32(1<<30))
	f.Fuzz(func(t *testing.T, data []byte, size uint16, limit uint32) {
		if len(data) > 1<<16 {
			return
		}
		if err := readBoth(data, max(16, int(size)%8192), int(limit%(1<<20))); err != nil {
			t.Fatal(err)
		}
	})
}
