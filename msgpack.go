package raft

// This file holds the msgpack primitives of the TCP transport's hand-written
// codec (msgpack_append.go): appending values exactly as go-msgpack's
// MsgpackHandle writes them, reading values back from bytes held in memory
// (mpDecoder, which checks every length against the bytes it holds), and
// copying one msgpack value off a connection with its size bounded
// (readValue). Together they keep a hostile peer from making us allocate
// memory it never sent.
//
// The values go-msgpack writes with the handle's defaults (WriteExt false: the
// old msgpack spec, no str8 and no bin types):
//
//	value               first byte            then
//	uint 0..127         0x00..0x7f            -
//	uint 128..2^64-1    0xcc/0xcd/0xce/0xcf   1/2/4/8 bytes, big-endian (smallest that fits)
//	int 0..127          0x00..0x7f            -
//	int -32..-1         0xe0..0xff            -
//	other ints          0xd0/0xd1/0xd2/0xd3   1/2/4/8 bytes (smallest signed width that fits)
//	nil, false, true    0xc0, 0xc2, 0xc3      -
//	raw (string/bytes)  0xa0|n (n < 32)       n bytes
//	                    0xda n:uint16         n bytes
//	                    0xdb n:uint32         n bytes
//	array of n values   0x90|n (n < 16), 0xdc n:uint16, 0xdd n:uint32
//	map of n pairs      0x80|n (n < 16), 0xde n:uint16, 0xdf n:uint32
//
// Readers accept the rest of msgpack too: str8 (0xd9), bin8/16/32
// (0xc4..0xc6), floats (0xca, 0xcb) and extensions (0xc7..0xc9, 0xd4..0xd8),
// so that a value some other writer produced can at least be skipped.

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"time"
)

// Errors of the msgpack layer. They are wrapped with the field concerned.
var (
	// errFrameTooLarge: a value declares more bytes or elements than the
	// frame's budget (NetworkTransportConfig.MaxRPCSize) allows.
	errFrameTooLarge = errors.New("raft: rpc frame exceeds the maximum size")

	// errMsgpackInvalid: the bytes are not msgpack, or not the type the field
	// needs.
	errMsgpackInvalid = errors.New("raft: invalid msgpack")
)

// The first bytes of the msgpack types this file writes or reads by name.
const (
	mpNil    byte = 0xc0
	mpFalse  byte = 0xc2
	mpTrue   byte = 0xc3
	mpUint8  byte = 0xcc
	mpUint16 byte = 0xcd
	mpUint32 byte = 0xce
	mpUint64 byte = 0xcf
	mpInt8   byte = 0xd0
	mpInt16  byte = 0xd1
	mpInt32  byte = 0xd2
	mpInt64  byte = 0xd3
	mpStr16  byte = 0xda
	mpStr32  byte = 0xdb
	mpArr16  byte = 0xdc
	mpArr32  byte = 0xdd
	mpMap16  byte = 0xde
	mpMap32  byte = 0xdf

	mpFixExt4   byte = 0xd6
	mpFixExt8   byte = 0xd7
	mpExt8      byte = 0xc7
	mpTimeExtID byte = 0xff // extension type -1: msgpack's timestamp
)

// mpKind classifies a value by its first byte.
type mpKind uint8

const (
	mpScalar  mpKind = iota // a payload of fixed size follows
	mpRaw                   // a length, then that many bytes
	mpExt                   // a length, a type byte, then that many bytes
	mpArray                 // a count, then that many values
	mpMap                   // a count, then twice that many values
	mpInvalid               // 0xc1, never used by msgpack
)

// mpHead describes a value from its first byte b: its kind, the width in
// bytes of the big-endian length or count that follows b (0 when b holds it),
// and n: the payload size of a scalar, or the length or count held in b.
func mpHead(b byte) (kind mpKind, width int, n int) {
	switch {
	case b <= 0x7f || b >= 0xe0:
		return mpScalar, 0, 0
	case b <= 0x8f:
		return mpMap, 0, int(b & 0x0f)
	case b <= 0x9f:
		return mpArray, 0, int(b & 0x0f)
	case b <= 0xbf:
		return mpRaw, 0, int(b & 0x1f)
	}
	switch b {
	case mpNil, mpFalse, mpTrue:
		return mpScalar, 0, 0
	case 0xc4, 0xd9:
		return mpRaw, 1, 0
	case 0xc5, mpStr16:
		return mpRaw, 2, 0
	case 0xc6, mpStr32:
		return mpRaw, 4, 0
	case 0xc7:
		return mpExt, 1, 0
	case 0xc8:
		return mpExt, 2, 0
	case 0xc9:
		return mpExt, 4, 0
	case 0xca, mpUint32, mpInt32:
		return mpScalar, 0, 4
	case 0xcb, mpUint64, mpInt64:
		return mpScalar, 0, 8
	case mpUint8, mpInt8:
		return mpScalar, 0, 1
	case mpUint16, mpInt16:
		return mpScalar, 0, 2
	case 0xd4, 0xd5, mpFixExt4, mpFixExt8, 0xd8: // type byte + 1, 2, 4, 8, 16 bytes
		return mpScalar, 0, 1 + 1<<(b-0xd4)
	case mpArr16:
		return mpArray, 2, 0
	case mpArr32:
		return mpArray, 4, 0
	case mpMap16:
		return mpMap, 2, 0
	case mpMap32:
		return mpMap, 4, 0
	}
	return mpInvalid, 0, 0
}

// bigEndian reads a 1, 2 or 4 byte unsigned big-endian number.
func bigEndian(b []byte) int {
	switch len(b) {
	case 1:
		return int(b[0])
	case 2:
		return int(binary.BigEndian.Uint16(b))
	default:
		v := binary.BigEndian.Uint32(b)
		if uint64(v) > math.MaxInt {
			return -1 // only on 32-bit platforms; readValue refuses it
		}
		return int(v)
	}
}

// readChunk bounds how much readValue grows its buffer ahead of the bytes it
// has actually received, so a declared length costs nothing until it arrives.
const readChunk = 64 << 10

// readValue appends to dst the bytes of exactly one msgpack value read from
// r, and returns the extended slice. The value (with everything nested in it)
// may take at most limit bytes: a length or count that cannot fit in what is
// left of limit fails with errFrameTooLarge before anything is allocated for
// it, and dst grows only as bytes arrive, so memory follows what the peer
// really sent. The walk keeps a count of values still owed instead of
// recursing, so nesting depth costs nothing. An EOF after the first byte is
// io.ErrUnexpectedEOF.
func readValue(r *bufio.Reader, dst []byte, limit int) ([]byte, error) {
	start := len(dst)
	owed := 1 // values still to read; each takes at least one byte
	for owed > 0 {
		// Scan the whole tokens already buffered in one go, then copy them
		// at once; a token cut by the end of the buffer takes the slow path.
		var err error
		if dst, owed, err = scanBuffered(r, dst, start, owed, limit); err != nil || owed == 0 {
			return dst, err
		}
		owed--
		if dst, owed, err = readToken(r, dst, start, owed, limit); err != nil {
			return dst, err
		}
	}
	return dst, nil
}

// scanBuffered consumes the whole tokens at the front of r's buffer, as
// long as values are owed, appending them to dst. It applies the same limit
// checks as readToken.
func scanBuffered(r *bufio.Reader, dst []byte, start, owed, limit int) ([]byte, int, error) {
	win, _ := r.Peek(r.Buffered())
	used := 0
	for owed > 0 && used < len(win) {
		b := win[used]
		kind, width, n := mpHead(b)
		if kind == mpInvalid {
			break // readToken reports it
		}
		head := 1 + width
		if used+head > len(win) {
			break
		}
		if width > 0 {
			n = bigEndian(win[used+1 : used+head])
		}
		need := n
		switch kind {
		case mpMap:
			need = 2 * n
		case mpExt:
			need = n + 1
		}
		total := len(dst) - start + used + head
		if n < 0 || need < 0 || need > limit-total-(owed-1) {
			break // readToken reports it
		}
		if kind == mpArray || kind == mpMap {
			used += head
			owed += need - 1
			continue
		}
		if used+head+need > len(win) {
			break
		}
		used += head + need
		owed--
	}
	dst = append(dst, win[:used]...)
	_, err := r.Discard(used)
	return dst, owed, err
}

// readToken reads one token (a header and, for scalars, raws and
// extensions, its payload) from r, appending it to dst, and returns the
// values still owed after it.
func readToken(r *bufio.Reader, dst []byte, start, owed, limit int) ([]byte, int, error) {
	b, err := r.ReadByte()
	if err != nil {
		if len(dst) > start && err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return dst, owed, err
	}
	dst = append(dst, b)
	kind, width, n := mpHead(b)
	if width > 0 {
		if dst, err = copyN(r, dst, width); err != nil {
			return dst, owed, err
		}
		n = bigEndian(dst[len(dst)-width:])
	}
	if kind == mpInvalid {
		return dst, owed, fmt.Errorf("%w: byte 0x%02x", errMsgpackInvalid, b)
	}
	// need is the bytes that must follow (scalars, raws, extensions) or
	// the values owed (containers), each at least one byte: both must
	// fit in what is left of limit.
	need := n
	switch kind {
	case mpMap:
		need = 2 * n
	case mpExt:
		need = n + 1 // the extension's type byte
	}
	if used := len(dst) - start; n < 0 || need < 0 || need > limit-used-owed {
		return dst, owed, fmt.Errorf("%w: %d more declared after %d bytes (limit %d)", errFrameTooLarge, need, used, limit)
	}
	if kind == mpArray || kind == mpMap {
		owed += need
	} else if dst, err = copyN(r, dst, need); err != nil {
		return dst, owed, err
	}
	return dst, owed, nil
}

// copyN appends n bytes read from r to dst, growing dst by at most readChunk
// beyond what was received.
func copyN(r *bufio.Reader, dst []byte, n int) ([]byte, error) {
	for n > 0 {
		chunk := min(n, readChunk)
		dst = slices.Grow(dst, chunk)
		got, err := io.ReadFull(r, dst[len(dst):len(dst)+chunk])
		dst = dst[:len(dst)+got]
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return dst, err
		}
		n -= chunk
	}
	return dst, nil
}

// ---- encoding: each function appends one value as go-msgpack writes it ----

func appendNil(b []byte) []byte { return append(b, mpNil) }

func appendBool(b []byte, v bool) []byte {
	if v {
		return append(b, mpTrue)
	}
	return append(b, mpFalse)
}

// appendUint writes an unsigned integer in the smallest form.
func appendUint(b []byte, v uint64) []byte {
	switch {
	case v <= math.MaxInt8:
		return append(b, byte(v))
	case v <= math.MaxUint8:
		return append(b, mpUint8, byte(v))
	case v <= math.MaxUint16:
		return binary.BigEndian.AppendUint16(append(b, mpUint16), uint16(v))
	case v <= math.MaxUint32:
		return binary.BigEndian.AppendUint32(append(b, mpUint32), uint32(v))
	}
	return binary.BigEndian.AppendUint64(append(b, mpUint64), v)
}

// appendInt writes a signed integer as go-msgpack does: fixints for
// -32..127, otherwise the smallest signed width (positive values never use
// int8, as go-msgpack does not).
func appendInt(b []byte, v int64) []byte {
	switch {
	case v >= -32 && v <= math.MaxInt8:
		return append(b, byte(v))
	case v >= math.MinInt8 && v < 0:
		return append(b, mpInt8, byte(v))
	case v >= math.MinInt16 && v <= math.MaxInt16:
		return binary.BigEndian.AppendUint16(append(b, mpInt16), uint16(v))
	case v >= math.MinInt32 && v <= math.MaxInt32:
		return binary.BigEndian.AppendUint32(append(b, mpInt32), uint32(v))
	}
	return binary.BigEndian.AppendUint64(append(b, mpInt64), uint64(v))
}

// appendRawHeader writes the header of a raw value of n bytes (old spec: no
// str8).
func appendRawHeader(b []byte, n int) []byte {
	return appendHeader(b, n, 32, 0xa0, mpStr16, mpStr32)
}

// appendHeader writes a length or count n: fixBase|n in one byte when n <
// fixLimit, else the 16 or 32-bit form.
func appendHeader(b []byte, n, fixLimit int, fixBase, b16, b32 byte) []byte {
	switch {
	case n < fixLimit:
		return append(b, fixBase|byte(n))
	case n <= math.MaxUint16:
		return binary.BigEndian.AppendUint16(append(b, b16), uint16(n))
	}
	return binary.BigEndian.AppendUint32(append(b, b32), uint32(n))
}

// appendBytes writes a []byte field: nil is msgpack nil, anything else a raw.
func appendBytes(b []byte, v []byte) []byte {
	if v == nil {
		return appendNil(b)
	}
	return append(appendRawHeader(b, len(v)), v...)
}

// appendString writes a string as a raw value.
func appendString(b []byte, s string) []byte {
	return append(appendRawHeader(b, len(s)), s...)
}

// appendArrayHeader writes the header of an array of n values.
func appendArrayHeader(b []byte, n int) []byte {
	return appendHeader(b, n, 16, 0x90, mpArr16, mpArr32)
}

// errTimeNotEncodable: time.Time.MarshalBinary refused the value (a zone
// offset that is not a whole number of minutes in range). go-msgpack then
// writes nothing at all, corrupting the frame; we refuse to send it.
var errTimeNotEncodable = errors.New("raft: time cannot be encoded")

// appendTime writes a time.Time field. In the old format (go-msgpack's
// TimeNotBuiltin, hashicorp's default) it is the MarshalBinary form as a raw;
// in the new format a zero time is nil and any other the 4, 8 or 12 byte
// msgpack timestamp, also as a raw since extensions are not written.
func appendTime(b []byte, t time.Time, newFormat bool) ([]byte, error) {
	if !newFormat {
		n := len(b)
		b = append(b, 0xa0) // patched below: MarshalBinary is 15 or 16 bytes
		out, err := t.AppendBinary(b)
		if err != nil {
			return b[:n], fmt.Errorf("%w: %v", errTimeNotEncodable, err)
		}
		out[n] = 0xa0 | byte(len(out)-n-1)
		return out, nil
	}
	if t.IsZero() {
		return appendNil(b), nil
	}
	sec, nsec := t.Unix(), uint64(t.Nanosecond())
	if sec >= 0 && sec>>34 == 0 {
		v := nsec<<34 | uint64(sec)
		if v>>32 == 0 {
			return binary.BigEndian.AppendUint32(append(b, 0xa4), uint32(v)), nil
		}
		return binary.BigEndian.AppendUint64(append(b, 0xa8), v), nil
	}
	b = binary.BigEndian.AppendUint32(append(b, 0xac), uint32(nsec))
	return binary.BigEndian.AppendUint64(b, uint64(sec)), nil
}

// ---- decoding from a frame held in memory ----

// mpDecoder reads values from bytes held in memory: a frame that readValue
// has bounded, or the buffered bytes of a connection (decodeBufferedRequest).
// Every method checks bounds, so a truncated or malformed frame is an error,
// never a panic. Raw values are returned as subslices of the frame, their
// capacity clipped: callers copy what they keep.
type mpDecoder struct {
	b    []byte
	off  int
	zone zoneSpan // of time.Local, for binaryTime
}

// errTruncated: a value ends past the end of the frame. A sentinel (not
// built per call) keeps next and take small enough to inline.
var errTruncated = fmt.Errorf("%w: truncated", errMsgpackInvalid)

func (d *mpDecoder) next() (byte, error) {
	if d.off >= len(d.b) {
		return 0, errTruncated
	}
	c := d.b[d.off]
	d.off++
	return c, nil
}

func (d *mpDecoder) take(n int) ([]byte, error) {
	if n < 0 || n > len(d.b)-d.off {
		return nil, errTruncated
	}
	s := d.b[d.off : d.off+n : d.off+n]
	d.off += n
	return s, nil
}

// length reads the big-endian length or count of width bytes that follows
// a first byte; with width 0 the first byte held it, as n.
func (d *mpDecoder) length(width, n int) (int, error) {
	if width == 0 {
		return n, nil
	}
	p, err := d.take(width)
	if err != nil {
		return 0, err
	}
	return bigEndian(p), nil
}

// literal consumes s if the frame continues with it, and reports whether it
// did.
func (d *mpDecoder) literal(s string) bool {
	if len(d.b)-d.off >= len(s) && string(d.b[d.off:d.off+len(s)]) == s {
		d.off += len(s)
		return true
	}
	return false
}

// maybeNil consumes a nil and reports whether there was one.
func (d *mpDecoder) maybeNil() bool {
	if d.off < len(d.b) && d.b[d.off] == mpNil {
		d.off++
		return true
	}
	return false
}

// number reads any msgpack integer (nil reads as 0). signed reports whether
// it was written as a negative number, in which case v holds its two's
// complement.
func (d *mpDecoder) number() (v uint64, negative bool, err error) {
	c, err := d.next()
	if err != nil {
		return 0, false, err
	}
	switch {
	case c <= 0x7f:
		return uint64(c), false, nil
	case c >= 0xe0:
		return uint64(int64(int8(c))), true, nil
	case c == mpNil:
		return 0, false, nil
	}
	var size int
	switch c {
	case mpUint8, mpInt8:
		size = 1
	case mpUint16, mpInt16:
		size = 2
	case mpUint32, mpInt32:
		size = 4
	case mpUint64, mpInt64:
		size = 8
	default:
		return 0, false, fmt.Errorf("%w: byte 0x%02x where an integer belongs", errMsgpackInvalid, c)
	}
	p, err := d.take(size)
	if err != nil {
		return 0, false, err
	}
	var u uint64
	for _, x := range p {
		u = u<<8 | uint64(x)
	}
	if c >= mpInt8 { // signed: sign-extend
		shift := 64 - 8*size
		s := int64(u<<shift) >> shift
		return uint64(s), s < 0, nil
	}
	return u, false, nil
}

// uint reads a non-negative integer of at most bits bits.
func (d *mpDecoder) uint(bits int) (uint64, error) {
	v, negative, err := d.number()
	if err != nil {
		return 0, err
	}
	if negative || (bits < 64 && v>>bits != 0) {
		return 0, fmt.Errorf("%w: integer out of range for uint%d", errMsgpackInvalid, bits)
	}
	return v, nil
}

// int reads an integer that fits an int64.
func (d *mpDecoder) int() (int64, error) {
	v, negative, err := d.number()
	if err != nil {
		return 0, err
	}
	if !negative && v > math.MaxInt64 {
		return 0, fmt.Errorf("%w: integer out of range for int64", errMsgpackInvalid)
	}
	return int64(v), nil
}

// bool reads true, false or nil (false).
func (d *mpDecoder) bool() (bool, error) {
	c, err := d.next()
	switch {
	case err != nil:
		return false, err
	case c == mpTrue:
		return true, nil
	case c == mpFalse || c == mpNil:
		return false, nil
	}
	return false, fmt.Errorf("%w: byte 0x%02x where a bool belongs", errMsgpackInvalid, c)
}

// raw reads a string or binary value; nil reads as a nil slice. first is the
// value's first byte, which tells a fixed-size string apart (see time).
func (d *mpDecoder) raw() (v []byte, first byte, err error) {
	c, err := d.next()
	if err != nil {
		return nil, 0, err
	}
	if c == mpNil {
		return nil, c, nil
	}
	if c>>5 == 0xa0>>5 { // fixed-size string, the common case
		v, err = d.take(int(c & 0x1f))
		return v, c, err
	}
	kind, width, n := mpHead(c)
	if kind != mpRaw {
		return nil, c, fmt.Errorf("%w: byte 0x%02x where a string belongs", errMsgpackInvalid, c)
	}
	if n, err = d.length(width, n); err != nil {
		return nil, c, err
	}
	v, err = d.take(n)
	return v, c, err
}

// container reads the header of an array or map (per want) and returns its
// count; nil reads as -1.
func (d *mpDecoder) container(want mpKind) (int, error) {
	c, err := d.next()
	if err != nil {
		return 0, err
	}
	if c == mpNil {
		return -1, nil
	}
	kind, width, n := mpHead(c)
	if kind != want {
		return 0, fmt.Errorf("%w: byte 0x%02x where a container belongs", errMsgpackInvalid, c)
	}
	if n, err = d.length(width, n); err != nil {
		return 0, err
	}
	// Every element takes at least one byte: a count beyond the bytes left
	// is a lie, refused before anyone sizes an allocation by it.
	if n < 0 || n > len(d.b)-d.off {
		return 0, fmt.Errorf("%w: count %d beyond the frame", errMsgpackInvalid, n)
	}
	return n, nil
}

// skip passes over one value of any type, nested ones included, without
// recursion.
func (d *mpDecoder) skip() error {
	for owed := 1; owed > 0; owed-- {
		c, err := d.next()
		if err != nil {
			return err
		}
		kind, width, n := mpHead(c)
		if n, err = d.length(width, n); err != nil {
			return err
		}
		switch kind {
		case mpInvalid:
			return fmt.Errorf("%w: byte 0x%02x", errMsgpackInvalid, c)
		case mpArray, mpMap:
			if kind == mpMap {
				n *= 2
			}
			if n < 0 || n > len(d.b)-d.off {
				return fmt.Errorf("%w: count beyond the frame", errMsgpackInvalid)
			}
			owed += n
		case mpExt:
			n++
			fallthrough
		default:
			if _, err := d.take(n); err != nil {
				return err
			}
		}
	}
	return nil
}

// time reads a time.Time in any of the forms go-msgpack writes or reads: nil
// (zero time), the MarshalBinary form in a fixed-size string, a 4, 8 or 12
// byte msgpack timestamp in a string, or the timestamp extension (type -1).
// It decodes them exactly as go-msgpack v2.1.5 does.
func (d *mpDecoder) time() (time.Time, error) {
	if d.off < len(d.b) {
		switch c := d.b[d.off]; c {
		case mpFixExt4, mpFixExt8:
			if d.off+1 < len(d.b) && d.b[d.off+1] == mpTimeExtID {
				d.off += 2
				return d.timestamp(4 << (c - mpFixExt4))
			}
		case mpExt8:
			if d.off+2 < len(d.b) && d.b[d.off+1] == 12 && d.b[d.off+2] == mpTimeExtID {
				d.off += 3
				return d.timestamp(12)
			}
		}
	}
	v, first, err := d.raw()
	if err != nil || first == mpNil {
		return time.Time{}, err
	}
	if first>>5 == 0xa0>>5 { // fixed-size string: the MarshalBinary form
		if t, ok := d.binaryTime(v); ok {
			return t, nil
		}
		var t time.Time
		if t.UnmarshalBinary(v) == nil {
			return t, nil
		}
	}
	d.off -= len(v)
	return d.timestamp(len(v))
}

// binaryTime decodes the common forms of time.MarshalBinary's output, version
// 1 in UTC or in time.Local, to exactly what UnmarshalBinary returns, without
// looking up time.Local's zone for every entry: the zone found for one entry
// holds for the frame's later entries that fall inside its bounds. It reports
// false for every other form, which UnmarshalBinary then decodes.
func (d *mpDecoder) binaryTime(v []byte) (time.Time, bool) {
	if len(v) != 15 || v[0] != 1 {
		return time.Time{}, false
	}
	sec := int64(binary.BigEndian.Uint64(v[1:])) - unixToInternal
	nsec := int32(binary.BigEndian.Uint32(v[9:]))
	offset := int(int16(binary.BigEndian.Uint16(v[13:]))) * 60
	if nsec < 0 || nsec >= 1e9 || sec < -1<<60 || sec > 1<<60 {
		return time.Time{}, false // a Time that time.Unix would build differently
	}
	t := time.Unix(sec, int64(nsec))
	if offset == -60 {
		return t.UTC(), true
	}
	if z := &d.zone; offset != z.offset || sec < z.start || sec >= z.end {
		if _, off := t.Zone(); off != offset {
			return time.Time{}, false // a fixed zone of its own
		}
		start, end := t.ZoneBounds()
		*z = zoneSpan{offset: offset, start: math.MinInt64, end: math.MaxInt64}
		if !start.IsZero() {
			z.start = start.Unix()
		}
		if !end.IsZero() {
			z.end = end.Unix()
		}
	}
	// In normalizes the location as UnmarshalBinary does (a program may
	// have set time.Local to time.UTC); time.Unix does not.
	return t.In(time.Local), true
}

// unixToInternal is the number of seconds from the year 1, where
// MarshalBinary counts from, to the Unix epoch.
const unixToInternal = (1969*365 + 1969/4 - 1969/100 + 1969/400) * 24 * 60 * 60

// zoneSpan remembers a span of Unix seconds, [start, end), in which
// time.Local has one offset (seconds east of UTC). The zero value is an
// empty span, which holds no time.
type zoneSpan struct {
	offset     int
	start, end int64
}

// timestamp reads the payload of a msgpack timestamp of size bytes.
func (d *mpDecoder) timestamp(size int) (time.Time, error) {
	if size != 4 && size != 8 && size != 12 {
		return time.Time{}, fmt.Errorf("%w: time of %d bytes", errMsgpackInvalid, size)
	}
	p, err := d.take(size)
	if err != nil {
		return time.Time{}, err
	}
	switch size {
	case 4:
		return time.Unix(int64(binary.BigEndian.Uint32(p)), 0).UTC(), nil
	case 8:
		v := binary.BigEndian.Uint64(p)
		return time.Unix(int64(v&(1<<34-1)), int64(v>>34)).UTC(), nil
	}
	nsec := binary.BigEndian.Uint32(p)
	return time.Unix(int64(binary.BigEndian.Uint64(p[4:])), int64(nsec)).UTC(), nil
}
