package wal

// This file owns the byte layout of segments: the segment header and the log
// record. Both are drawn field by field in doc.go. Everything here is a pure
// function of its arguments; decoders never panic on any input and report
// what is wrong with an error.

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"time"

	"github.com/raftkit/raft"
)

const (
	segMagic      = "RKWALSG1"
	segVersion    = 1
	segHeaderSize = 40

	recPrefixSize = 8  // bodyLen + crc
	recFixedBody  = 40 // index .. extLen
	recAlign      = 8

	// flagFirstOfWrite marks the first record of one write(2): the unit that
	// a crash can tear. Recovery uses it to tell a torn last write from
	// damage to data that was already synced.
	flagFirstOfWrite = 1 << 0

	// maxSegmentBytes keeps every offset within a segment in a uint32.
	maxSegmentBytes = 1<<32 - 1
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// errBadRecord is the cause of every record decoding failure.
var errBadRecord = errors.New("raft: wal record invalid")

// segHeader is the decoded header of a segment file.
type segHeader struct {
	salt  uint32 // seeds every record CRC, so bytes of another segment never validate here
	seq   uint64 // position of the segment among all segments ever created
	first uint64 // index of the segment's first record
}

// encodeSegHeader writes h into b[:segHeaderSize].
func encodeSegHeader(b []byte, h segHeader) {
	_ = b[segHeaderSize-1]
	copy(b[0:8], segMagic)
	binary.LittleEndian.PutUint32(b[8:], segVersion)
	binary.LittleEndian.PutUint32(b[12:], h.salt)
	binary.LittleEndian.PutUint64(b[16:], h.seq)
	binary.LittleEndian.PutUint64(b[24:], h.first)
	binary.LittleEndian.PutUint32(b[32:], 0)
	binary.LittleEndian.PutUint32(b[36:], crc32.Checksum(b[:36], castagnoli))
}

// decodeSegHeader parses the header at the start of b.
func decodeSegHeader(b []byte) (segHeader, error) {
	if len(b) < segHeaderSize {
		return segHeader{}, fmt.Errorf("segment header: %d bytes, need %d", len(b), segHeaderSize)
	}
	if string(b[0:8]) != segMagic {
		return segHeader{}, errors.New("segment header: bad magic")
	}
	if v := binary.LittleEndian.Uint32(b[8:]); v != segVersion {
		return segHeader{}, fmt.Errorf("segment header: unknown version %d", v)
	}
	if got, want := binary.LittleEndian.Uint32(b[36:]), crc32.Checksum(b[:36], castagnoli); got != want {
		return segHeader{}, fmt.Errorf("segment header: crc %08x, want %08x", got, want)
	}
	h := segHeader{
		salt:  binary.LittleEndian.Uint32(b[12:]),
		seq:   binary.LittleEndian.Uint64(b[16:]),
		first: binary.LittleEndian.Uint64(b[24:]),
	}
	if h.first == 0 {
		return segHeader{}, errors.New("segment header: first index 0")
	}
	return h, nil
}

// saltSeed is the CRC state after the salt, the starting point of every
// record CRC in a segment.
func saltSeed(salt uint32) uint32 {
	var b [4]byte
	binary.LittleEndian.PutUint32(b[:], salt)
	return crc32.Update(0, castagnoli, b[:])
}

// recordSize is the number of bytes l occupies in a segment, padding included.
func recordSize(l *raft.Log) int {
	return alignUp(recPrefixSize + recFixedBody + len(l.Data) + len(l.Extensions))
}

func alignUp(n int) int { return (n + recAlign - 1) &^ (recAlign - 1) }

// encodeRecord writes l into b, which holds exactly recordSize(l) bytes, and
// returns nothing: the caller sized b. Padding bytes are zeroed.
func encodeRecord(b []byte, seed uint32, l *raft.Log, commit uint64, flags uint8) {
	bodyLen := recFixedBody + len(l.Data) + len(l.Extensions)
	body := b[recPrefixSize : recPrefixSize+bodyLen]
	binary.LittleEndian.PutUint32(b[0:], uint32(bodyLen))
	binary.LittleEndian.PutUint64(body[0:], l.Index)
	binary.LittleEndian.PutUint64(body[8:], l.Term)
	binary.LittleEndian.PutUint64(body[16:], commit)
	binary.LittleEndian.PutUint64(body[24:], uint64(unixNano(l.AppendedAt)))
	body[32] = byte(l.Type)
	body[33] = flags
	body[34], body[35] = 0, 0
	binary.LittleEndian.PutUint32(body[36:], uint32(len(l.Extensions)))
	n := copy(body[recFixedBody:], l.Data)
	copy(body[recFixedBody+n:], l.Extensions)
	clear(b[recPrefixSize+bodyLen:])
	binary.LittleEndian.PutUint32(b[4:], recordCRC(seed, b[0:4], body))
}

func recordCRC(seed uint32, lenField, body []byte) uint32 {
	return crc32.Update(crc32.Update(seed, castagnoli, lenField), castagnoli, body)
}

// recordMeta is what recovery needs from a record, without its payload.
type recordMeta struct {
	size   int // bytes occupied, padding included
	index  uint64
	commit uint64
	flags  uint8
}

// peekLen returns the body length of the record at the start of b, 0 when
// the length field is zero (no record: preallocated space) or truncated.
func peekLen(b []byte) uint32 {
	if len(b) < 4 {
		return 0
	}
	return binary.LittleEndian.Uint32(b)
}

// checkRecord validates the record at the start of b (b may extend past
// it) and returns its metadata.
func checkRecord(b []byte, seed uint32) (recordMeta, error) {
	if len(b) < recPrefixSize+recFixedBody {
		return recordMeta{}, fmt.Errorf("%w: %d bytes left, too short", errBadRecord, len(b))
	}
	bodyLen := uint64(binary.LittleEndian.Uint32(b))
	if bodyLen < recFixedBody {
		return recordMeta{}, fmt.Errorf("%w: body length %d", errBadRecord, bodyLen)
	}
	size := uint64(alignUp(int(recPrefixSize + bodyLen)))
	if size > uint64(len(b)) {
		return recordMeta{}, fmt.Errorf("%w: length %d past the end of the segment", errBadRecord, bodyLen)
	}
	body := b[recPrefixSize : recPrefixSize+bodyLen]
	if got, want := binary.LittleEndian.Uint32(b[4:]), recordCRC(seed, b[0:4], body); got != want {
		return recordMeta{}, fmt.Errorf("%w: crc %08x, want %08x", errBadRecord, got, want)
	}
	if ext := uint64(binary.LittleEndian.Uint32(body[36:])); ext > bodyLen-recFixedBody {
		return recordMeta{}, fmt.Errorf("%w: extensions length %d exceeds body", errBadRecord, ext)
	}
	return recordMeta{
		size:   int(size),
		index:  binary.LittleEndian.Uint64(body[0:]),
		commit: binary.LittleEndian.Uint64(body[16:]),
		flags:  body[33],
	}, nil
}

// decodeRecord validates the record at the start of b and fills l. Data and
// Extensions alias b, so the caller hands over a buffer it will not reuse.
func decodeRecord(b []byte, seed uint32, l *raft.Log) error {
	if _, err := checkRecord(b, seed); err != nil {
		return err
	}
	bodyLen := int(binary.LittleEndian.Uint32(b))
	body := b[recPrefixSize : recPrefixSize+bodyLen]
	ext := int(binary.LittleEndian.Uint32(body[36:]))
	dataEnd := bodyLen - ext
	l.Index = binary.LittleEndian.Uint64(body[0:])
	l.Term = binary.LittleEndian.Uint64(body[8:])
	l.AppendedAt = fromUnixNano(int64(binary.LittleEndian.Uint64(body[24:])))
	l.Type = raft.LogType(body[32])
	l.Data = nilIfEmpty(body[recFixedBody:dataEnd:dataEnd])
	l.Extensions = nilIfEmpty(body[dataEnd:bodyLen:bodyLen])
	return nil
}

func nilIfEmpty(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return b
}

// unixNano encodes t; the zero time is 0. Times outside the years 1678-2262
// do not fit and are stored clamped by the time package's own arithmetic.
func unixNano(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func fromUnixNano(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n)
}
