package raft

// This file chooses the codec of each message on a connection: the
// hand-written one (msgpack_append.go) for AppendEntries and its response,
// go-msgpack for the rest. Every decoder works on bytes already received and
// at most MaxRPCSize long: a frame that readValue has copied off the
// connection, or an AppendEntries request that lies whole in the
// connection's buffer, which the hand-written decoder reads where it lies.
// Nothing is sized by a length from the network beyond the bytes that came.

import (
	"bufio"
	"fmt"

	"github.com/hashicorp/go-msgpack/v2/codec"
)

// wireCodec encodes and decodes the messages of one connection. Its
// go-msgpack encoder and decoder are made on first use and then reused. Not
// safe for concurrent use: each connection has its own.
type wireCodec struct {
	n      *NetworkTransport
	enc    *codec.Encoder
	encBuf []byte
	dec    *codec.Decoder

	// partialAppend is the length of the last AppendEntries request that
	// was not whole in the buffer when its reading began (0 if the last
	// request read by readValue was). Requests on a connection tend to be
	// alike, so readMessage does not try to decode in place from a buffer
	// holding fewer bytes: decoding what turns out to be part of a frame,
	// then reading the whole frame anyway, would double the work.
	partialAppend int
}

// appendMessage appends msg, a request or response (or nil), to b.
func (c *wireCodec) appendMessage(b []byte, msg any) ([]byte, error) {
	switch m := msg.(type) {
	case *AppendEntriesRequest:
		if m != nil {
			return appendAppendEntriesRequest(b, m, c.n.newTime)
		}
	case *AppendEntriesResponse:
		if m != nil {
			return appendAppendEntriesResponse(b, m), nil
		}
	}
	if c.enc == nil {
		c.enc = codec.NewEncoderBytes(&c.encBuf, c.n.encHandle)
	} else {
		c.encBuf = c.encBuf[:0]
		c.enc.ResetBytes(&c.encBuf)
	}
	if err := c.enc.Encode(msg); err != nil {
		return b, fmt.Errorf("encode %T: %w", msg, err)
	}
	return append(b, c.encBuf...), nil
}

// decodeMessage decodes frame, exactly one msgpack value, into msg. The
// decoded message owns its bytes: it never points into frame.
func (c *wireCodec) decodeMessage(frame []byte, msg any) error {
	switch m := msg.(type) {
	case *AppendEntriesRequest:
		return decodeAppendEntriesRequest(frame, m)
	case *AppendEntriesResponse:
		return decodeAppendEntriesResponse(frame, m)
	}
	if c.dec == nil {
		c.dec = codec.NewDecoderBytes(frame, c.n.decHandle)
	} else {
		c.dec.ResetBytes(frame)
	}
	if err := c.dec.Decode(msg); err != nil {
		return fmt.Errorf("decode %T: %w", msg, err)
	}
	return nil
}

// readMessage reads one value of at most MaxRPCSize bytes from r and decodes
// it into msg. An AppendEntries request that lies whole in r's buffer is
// decoded where it lies (see decodeBufferedRequest); anything else is first
// copied into *scratch (reused) by readValue.
func (c *wireCodec) readMessage(r *bufio.Reader, scratch *[]byte, msg any) error {
	req, isAppend := msg.(*AppendEntriesRequest)
	buffered := r.Buffered()
	if isAppend && buffered >= c.partialAppend {
		if decodeBufferedRequest(r, req, c.n.maxRPCSize) {
			return nil
		}
	}
	frame, err := readValue(r, (*scratch)[:0], c.n.maxRPCSize)
	*scratch = frame
	if err != nil {
		return err
	}
	if isAppend {
		c.partialAppend = 0
		if buffered < len(frame) {
			c.partialAppend = len(frame)
		}
	}
	return c.decodeMessage(frame, msg)
}

// readErrorText reads the error string that opens a response frame.
func (c *wireCodec) readErrorText(r *bufio.Reader, scratch *[]byte) (string, error) {
	frame, err := readValue(r, (*scratch)[:0], c.n.maxRPCSize)
	*scratch = frame
	if err != nil {
		return "", err
	}
	d := mpDecoder{b: frame}
	text, _, err := d.raw()
	if err != nil {
		return "", fmt.Errorf("error text: %w", err)
	}
	return string(text), nil
}

// decodeBufferedRequest decodes an AppendEntries request that lies whole in
// r's buffer where it lies, sparing readValue's walk over the frame and its
// copy, and consumes it. When the buffer holds less than one whole valid
// request of at most limit bytes, it consumes nothing and reports false:
// readValue and decodeAppendEntriesRequest then read the frame and decide.
// The two paths accept the same frames, decoded alike, because a whole valid
// value of at most limit bytes passes every check of readValue.
func decodeBufferedRequest(r *bufio.Reader, req *AppendEntriesRequest, limit int) bool {
	win, _ := r.Peek(min(r.Buffered(), limit)) // cannot fail: the bytes are buffered
	n, err := decodeRequestPrefix(win, req)
	if err != nil {
		*req = AppendEntriesRequest{}
		return false
	}
	ownRequestBytes(req) // before Discard lets the buffer be refilled
	_, _ = r.Discard(n)  // cannot fail: n <= Buffered
	return true
}
