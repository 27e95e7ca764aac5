package raft

// This file is the hand-written codec of the transport's hot messages,
// AppendEntriesRequest (heartbeats included) and AppendEntriesResponse. Its
// output is byte for byte what go-msgpack's MsgpackHandle writes for the same
// struct (msgpack_append_test.go proves it), and its decoder accepts what
// go-msgpack writes and yields the same values, so hashicorp/raft peers see
// no difference. The point is speed: no reflection, no allocation per entry
// when encoding, and a fixed number of allocations per frame when decoding.
//
// Layout (msgpack maps keyed by the Go field name, keys sorted, RPCHeader
// flattened; see msgpack.go for the encoding of each value):
//
//	AppendEntriesRequest = map of 9:
//	  "Addr"              raw or nil      RPCHeader.Addr
//	  "Entries"           array or nil    of Log (nil elements written as nil)
//	  "ID"                raw or nil      RPCHeader.ID
//	  "Leader"            raw or nil
//	  "LeaderCommitIndex" uint
//	  "PrevLogEntry"      uint
//	  "PrevLogTerm"       uint
//	  "ProtocolVersion"   int
//	  "Term"              uint
//	Log = map of 6:
//	  "AppendedAt"        time (see appendTime)
//	  "Data"              raw or nil
//	  "Extensions"        raw or nil
//	  "Index"             uint
//	  "Term"              uint
//	  "Type"              uint (LogType)
//	AppendEntriesResponse = map of 7:
//	  "Addr", "ID" raw or nil; "LastLog" uint; "NoRetryBackoff" bool;
//	  "ProtocolVersion" int; "Success" bool; "Term" uint
//
// Decoding accepts keys in any order, skips unknown keys, and reads nil as
// the zero value, as go-msgpack does. It refuses what would hurt the core: a
// nil entry, more than maxAppendEntriesCap entries. An entry laid out as
// above, which is how both go-msgpack and raftkit write it, takes a fast path
// that matches its keys' bytes (decodeLogInOrder); anything else takes the
// general path, so both accept and refuse the same frames.
//
// Ownership of decoded bytes: every []byte of a decoded message (header
// fields, entries' Data and Extensions) points into one allocation per frame,
// the message's own, never into a buffer the transport reuses; each slice's
// capacity is clipped to its length so an append never spills into a
// neighbour. The entries themselves share one []Log allocation. The core may
// therefore keep entries and their Data for ever (LogStore does).

import (
	"fmt"
)

// The field names, and the keys as written: each name behind its msgpack
// raw header (all are shorter than 32 bytes: one header byte, 0xa0|len).
const (
	nameAddr              = "Addr"
	nameEntries           = "Entries"
	nameID                = "ID"
	nameLeader            = "Leader"
	nameLeaderCommitIndex = "LeaderCommitIndex"
	namePrevLogEntry      = "PrevLogEntry"
	namePrevLogTerm       = "PrevLogTerm"
	nameProtocolVersion   = "ProtocolVersion"
	nameTerm              = "Term"
	nameAppendedAt        = "AppendedAt"
	nameData              = "Data"
	nameExtensions        = "Extensions"
	nameIndex             = "Index"
	nameType              = "Type"
	nameLastLog           = "LastLog"
	nameNoRetryBackoff    = "NoRetryBackoff"
	nameSuccess           = "Success"

	keyAddr              = "\xa4" + nameAddr
	keyEntries           = "\xa7" + nameEntries
	keyID                = "\xa2" + nameID
	keyLeader            = "\xa6" + nameLeader
	keyLeaderCommitIndex = "\xb1" + nameLeaderCommitIndex
	keyPrevLogEntry      = "\xac" + namePrevLogEntry
	keyPrevLogTerm       = "\xab" + namePrevLogTerm
	keyProtocolVersion   = "\xaf" + nameProtocolVersion
	keyTerm              = "\xa4" + nameTerm
	keyAppendedAt        = "\xaa" + nameAppendedAt
	keyData              = "\xa4" + nameData
	keyExtensions        = "\xaa" + nameExtensions
	keyIndex             = "\xa5" + nameIndex
	keyType              = "\xa4" + nameType
	keyLastLog           = "\xa7" + nameLastLog
	keyNoRetryBackoff    = "\xae" + nameNoRetryBackoff
	keySuccess           = "\xa7" + nameSuccess
)

// appendAppendEntriesRequest appends req as go-msgpack encodes it, times in
// the new format when newTime is set (NetworkTransportConfig.MsgpackUseNewTimeFormat).
func appendAppendEntriesRequest(b []byte, req *AppendEntriesRequest, newTime bool) ([]byte, error) {
	b = append(b, 0x80|9)
	b = appendBytes(append(b, keyAddr...), req.Addr)
	b = append(b, keyEntries...)
	if req.Entries == nil {
		b = appendNil(b)
	} else {
		b = appendArrayHeader(b, len(req.Entries))
		for _, l := range req.Entries {
			var err error
			if b, err = appendLog(b, l, newTime); err != nil {
				return b, fmt.Errorf("entry %d: %w", l.Index, err)
			}
		}
	}
	b = appendBytes(append(b, keyID...), req.ID)
	b = appendBytes(append(b, keyLeader...), req.Leader)
	b = appendUint(append(b, keyLeaderCommitIndex...), req.LeaderCommitIndex)
	b = appendUint(append(b, keyPrevLogEntry...), req.PrevLogEntry)
	b = appendUint(append(b, keyPrevLogTerm...), req.PrevLogTerm)
	b = appendInt(append(b, keyProtocolVersion...), int64(req.ProtocolVersion))
	return appendUint(append(b, keyTerm...), req.Term), nil
}

// appendLog appends one entry; a nil entry is msgpack nil, as go-msgpack
// writes it.
func appendLog(b []byte, l *Log, newTime bool) ([]byte, error) {
	if l == nil {
		return appendNil(b), nil
	}
	b = append(b, 0x80|6)
	b, err := appendTime(append(b, keyAppendedAt...), l.AppendedAt, newTime)
	if err != nil {
		return b, err
	}
	b = appendBytes(append(b, keyData...), l.Data)
	b = appendBytes(append(b, keyExtensions...), l.Extensions)
	b = appendUint(append(b, keyIndex...), l.Index)
	b = appendUint(append(b, keyTerm...), l.Term)
	return appendUint(append(b, keyType...), uint64(l.Type)), nil
}

// appendAppendEntriesResponse appends resp as go-msgpack encodes it.
func appendAppendEntriesResponse(b []byte, resp *AppendEntriesResponse) []byte {
	b = append(b, 0x80|7)
	b = appendBytes(append(b, keyAddr...), resp.Addr)
	b = appendBytes(append(b, keyID...), resp.ID)
	b = appendUint(append(b, keyLastLog...), resp.LastLog)
	b = appendBool(append(b, keyNoRetryBackoff...), resp.NoRetryBackoff)
	b = appendInt(append(b, keyProtocolVersion...), int64(resp.ProtocolVersion))
	b = appendBool(append(b, keySuccess...), resp.Success)
	return appendUint(append(b, keyTerm...), resp.Term)
}

// decodeAppendEntriesRequest decodes frame, one msgpack value, into req,
// which it resets first. See the file comment for who owns the bytes.
func decodeAppendEntriesRequest(frame []byte, req *AppendEntriesRequest) error {
	n, err := decodeRequestPrefix(frame, req)
	if err == nil {
		err = noTrailingBytes(frame, n)
	}
	if err != nil {
		return fmt.Errorf("decode AppendEntriesRequest: %w", err)
	}
	ownRequestBytes(req)
	return nil
}

// decodeRequestPrefix decodes into req, which it resets first, the request
// that starts b, and returns its length. The raw fields point into b.
func decodeRequestPrefix(b []byte, req *AppendEntriesRequest) (int, error) {
	*req = AppendEntriesRequest{}
	return decodeMapPrefix(b, func(d *mpDecoder, key []byte) error { return decodeRequestField(d, key, req) })
}

// decodeMap decodes frame, exactly one msgpack map (or nil), handing each
// key to field, which decodes the value that follows.
func decodeMap(frame []byte, field func(d *mpDecoder, key []byte) error) error {
	n, err := decodeMapPrefix(frame, field)
	if err == nil {
		err = noTrailingBytes(frame, n)
	}
	return err
}

// noTrailingBytes checks that the value decoded from frame took all of it.
func noTrailingBytes(frame []byte, n int) error {
	if n != len(frame) {
		return fmt.Errorf("%w: %d trailing bytes", errMsgpackInvalid, len(frame)-n)
	}
	return nil
}

// decodeMapPrefix decodes the msgpack map (or nil) that starts b, handing
// each key to field, and returns the map's length in bytes.
func decodeMapPrefix(b []byte, field func(d *mpDecoder, key []byte) error) (int, error) {
	d := mpDecoder{b: b}
	n, err := d.container(mpMap)
	for i := 0; i < n && err == nil; i++ {
		var key []byte
		if key, _, err = d.raw(); err == nil {
			err = field(&d, key)
		}
	}
	return d.off, err
}

// decodeRequestField decodes the value of key into req. The raw fields
// still point into the frame.
func decodeRequestField(d *mpDecoder, key []byte, req *AppendEntriesRequest) (err error) {
	switch string(key) {
	case nameAddr:
		req.Addr, _, err = d.raw()
	case nameEntries:
		req.Entries, err = decodeEntries(d)
	case nameID:
		req.ID, _, err = d.raw()
	case nameLeader:
		req.Leader, _, err = d.raw()
	case nameLeaderCommitIndex:
		req.LeaderCommitIndex, err = d.uint(64)
	case namePrevLogEntry:
		req.PrevLogEntry, err = d.uint(64)
	case namePrevLogTerm:
		req.PrevLogTerm, err = d.uint(64)
	case nameProtocolVersion:
		var v int64
		v, err = d.int()
		req.ProtocolVersion = ProtocolVersion(v)
	case nameTerm:
		req.Term, err = d.uint(64)
	default:
		err = d.skip()
	}
	if err != nil {
		return fmt.Errorf("%s: %w", key, err)
	}
	return nil
}

// decodeEntries decodes the Entries array into one []Log allocation.
func decodeEntries(d *mpDecoder) ([]*Log, error) {
	n, err := d.container(mpArray)
	if err != nil || n < 0 {
		return nil, err
	}
	if n > maxAppendEntriesCap {
		return nil, fmt.Errorf("%w: %d entries, at most %d", errMsgpackInvalid, n, maxAppendEntriesCap)
	}
	logs := make([]Log, n)
	ptrs := make([]*Log, n)
	for i := range logs {
		if d.maybeNil() {
			return nil, fmt.Errorf("%w: entry %d is nil", errMsgpackInvalid, i)
		}
		if err := decodeLog(d, &logs[i]); err != nil {
			return nil, fmt.Errorf("entry %d: %w", i, err)
		}
		ptrs[i] = &logs[i]
	}
	return ptrs, nil
}

// decodeLog decodes one entry into l, which is zero.
func decodeLog(d *mpDecoder, l *Log) error {
	start := d.off
	if decodeLogInOrder(d, l) {
		return nil
	}
	d.off, *l = start, Log{}
	n, err := d.container(mpMap)
	for i := 0; i < n && err == nil; i++ {
		var key []byte
		if key, _, err = d.raw(); err != nil {
			break
		}
		switch string(key) {
		case nameAppendedAt:
			l.AppendedAt, err = d.time()
		case nameData:
			l.Data, _, err = d.raw()
		case nameExtensions:
			l.Extensions, _, err = d.raw()
		case nameIndex:
			l.Index, err = d.uint(64)
		case nameTerm:
			l.Term, err = d.uint(64)
		case nameType:
			var v uint64
			v, err = d.uint(8)
			l.Type = LogType(v)
		default:
			err = d.skip()
		}
		if err != nil {
			err = fmt.Errorf("%s: %w", key, err)
		}
	}
	return err
}

// decodeLogInOrder decodes an entry laid out as go-msgpack and raftkit write
// it: a map of its six fields, keys in order, each value of its usual type.
// It is decodeLog's fast path, which matches the keys' bytes instead of
// decoding them. It gives up at the first difference and reports false,
// leaving d and l for decodeLog to reset and decode in full (or to say what
// is wrong).
func decodeLogInOrder(d *mpDecoder, l *Log) bool {
	var err error
	if !d.literal(logHeadAndFirstKey) {
		return false
	}
	if l.AppendedAt, err = d.time(); err != nil || !d.literal(keyData) {
		return false
	}
	if l.Data, _, err = d.raw(); err != nil || !d.literal(keyExtensions) {
		return false
	}
	if l.Extensions, _, err = d.raw(); err != nil || !d.literal(keyIndex) {
		return false
	}
	if l.Index, err = d.uint(64); err != nil || !d.literal(keyTerm) {
		return false
	}
	if l.Term, err = d.uint(64); err != nil || !d.literal(keyType) {
		return false
	}
	typ, err := d.uint(8)
	l.Type = LogType(typ)
	return err == nil
}

// logHeadAndFirstKey is how an entry starts: a map of six, then its first key.
const logHeadAndFirstKey = "\x86" + keyAppendedAt

// ownRequestBytes moves every byte slice of req out of the frame into one
// allocation of exactly their total size.
func ownRequestBytes(req *AppendEntriesRequest) {
	total := len(req.ID) + len(req.Addr) + len(req.Leader)
	for _, l := range req.Entries {
		total += len(l.Data) + len(l.Extensions)
	}
	a := arena(make([]byte, 0, total))
	req.ID, req.Addr, req.Leader = a.own(req.ID), a.own(req.Addr), a.own(req.Leader)
	for _, l := range req.Entries {
		l.Data, l.Extensions = a.own(l.Data), a.own(l.Extensions)
	}
}

// arena hands out clipped subslices of one allocation.
type arena []byte

// own copies b into the arena, keeping nil as nil and empty as empty.
func (a *arena) own(b []byte) []byte {
	if b == nil {
		return nil
	}
	start := len(*a)
	*a = append(*a, b...)
	return (*a)[start:len(*a):len(*a)]
}

// decodeAppendEntriesResponse decodes frame, one msgpack value, into resp,
// which it resets first. The header's bytes get their own allocation.
func decodeAppendEntriesResponse(frame []byte, resp *AppendEntriesResponse) error {
	*resp = AppendEntriesResponse{}
	err := decodeMap(frame, func(d *mpDecoder, key []byte) error { return decodeResponseField(d, key, resp) })
	if err != nil {
		return fmt.Errorf("decode AppendEntriesResponse: %w", err)
	}
	a := arena(make([]byte, 0, len(resp.ID)+len(resp.Addr)))
	resp.ID, resp.Addr = a.own(resp.ID), a.own(resp.Addr)
	return nil
}

// decodeResponseField decodes the value of key into resp.
func decodeResponseField(d *mpDecoder, key []byte, resp *AppendEntriesResponse) (err error) {
	switch string(key) {
	case nameAddr:
		resp.Addr, _, err = d.raw()
	case nameID:
		resp.ID, _, err = d.raw()
	case nameLastLog:
		resp.LastLog, err = d.uint(64)
	case nameNoRetryBackoff:
		resp.NoRetryBackoff, err = d.bool()
	case nameProtocolVersion:
		var v int64
		v, err = d.int()
		resp.ProtocolVersion = ProtocolVersion(v)
	case nameSuccess:
		resp.Success, err = d.bool()
	case nameTerm:
		resp.Term, err = d.uint(64)
	default:
		err = d.skip()
	}
	if err != nil {
		return fmt.Errorf("%s: %w", key, err)
	}
	return nil
}
