package raft

// This file chooses the codec of each message on a connection: the
// hand-written one (msgpack_append.go) for AppendEntries and its response,
// go-msgpack for the rest, always on a frame that readValue has already
// bounded, so the library never reads a length from the network itself.

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

// readMessage reads one value of at most MaxRPCSize bytes from r into
// *scratch (reused) and decodes it into msg.
func (c *wireCodec) readMessage(r *bufio.Reader, scratch *[]byte, msg any) error {
	frame, err := readValue(r, (*scratch)[:0], c.n.maxRPCSize)
	*scratch = frame
	if err != nil {
		return err
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
