package raft

import (
	"bufio"
	"bytes"
	"math"
	"runtime"
	"testing"
	"time"

	"github.com/hashicorp/go-msgpack/v2/codec"
)

const benchEntries = 64

// benchRequest is a replication batch of benchEntries 128-byte commands.
func benchRequest() *AppendEntriesRequest {
	req := &AppendEntriesRequest{RPCHeader: header("leader"), Term: 12, Leader: []byte("addr-leader"),
		PrevLogEntry: 100000, PrevLogTerm: 12, LeaderCommitIndex: 99990}
	now := time.Now()
	for i := range benchEntries {
		req.Entries = append(req.Entries, &Log{Index: uint64(100001 + i), Term: 12, Type: LogCommand,
			Data: bytes.Repeat([]byte{byte(i)}, 128), AppendedAt: now})
	}
	return req
}

// mallocs is the process's count of heap allocations so far.
func mallocs() uint64 {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.Mallocs
}

// perEntry reports the benchmark's time and allocations per entry, given
// mallocs() from before the loop.
func perEntry(b *testing.B, mallocsBefore uint64) {
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*benchEntries), "ns/entry")
	b.ReportMetric(float64(mallocs()-mallocsBefore)/float64(b.N*benchEntries), "allocs/entry")
}

func BenchmarkAppendEntriesEncode(b *testing.B) {
	req := benchRequest()
	b.Run("hand", func(b *testing.B) {
		b.ReportAllocs()
		start := mallocs()
		var buf []byte
		for b.Loop() {
			buf, _ = appendAppendEntriesRequest(buf[:0], req, false)
		}
		perEntry(b, start)
	})
	b.Run("go-msgpack", func(b *testing.B) {
		b.ReportAllocs()
		start := mallocs()
		h := &codec.MsgpackHandle{}
		h.TimeNotBuiltin = true
		var buf []byte
		enc := codec.NewEncoderBytes(&buf, h)
		for b.Loop() {
			buf = buf[:0]
			enc.ResetBytes(&buf)
			_ = enc.Encode(req)
		}
		perEntry(b, start)
	})
}

func BenchmarkAppendEntriesDecode(b *testing.B) {
	frame := libEncode(b, benchRequest(), false)
	b.Run("hand", func(b *testing.B) {
		b.ReportAllocs()
		start := mallocs()
		for b.Loop() {
			var req AppendEntriesRequest
			if err := decodeAppendEntriesRequest(frame, &req); err != nil {
				b.Fatal(err)
			}
		}
		perEntry(b, start)
	})
	b.Run("go-msgpack", func(b *testing.B) {
		b.ReportAllocs()
		start := mallocs()
		dec := codec.NewDecoderBytes(frame, &codec.MsgpackHandle{})
		for b.Loop() {
			var req AppendEntriesRequest
			dec.ResetBytes(frame)
			if err := dec.Decode(&req); err != nil {
				b.Fatal(err)
			}
		}
		perEntry(b, start)
	})
}

// BenchmarkReadAppendEntries reads requests as a server does, from a
// buffered connection: "in place" decodes each where it lies in the buffer,
// "readValue" first copies it out (the path for requests that do not lie
// whole in the buffer).
func BenchmarkReadAppendEntries(b *testing.B) {
	msg := append([]byte{rpcAppendEntries}, libEncode(b, benchRequest(), false)...)
	for _, mode := range []string{"in place", "readValue"} {
		b.Run(mode, func(b *testing.B) {
			b.ReportAllocs()
			src := &repeatReader{msg: msg}
			r := bufio.NewReaderSize(src, connBufferSize)
			c := &wireCodec{n: &NetworkTransport{maxRPCSize: DefaultMaxRPCSize}}
			var scratch []byte
			start := mallocs()
			for b.Loop() {
				if mode == "readValue" {
					c.partialAppend = math.MaxInt
				}
				if _, err := r.ReadByte(); err != nil {
					b.Fatal(err)
				}
				var req AppendEntriesRequest
				if err := c.readMessage(r, &scratch, &req); err != nil {
					b.Fatal(err)
				}
			}
			perEntry(b, start)
		})
	}
}

// repeatReader returns msg over and over, one copy per Read, as a
// connection delivers one frame per write.
type repeatReader struct{ msg []byte }

func (r *repeatReader) Read(p []byte) (int, error) { return copy(p, r.msg), nil }

// BenchmarkNetworkTransportAppendEntries is one AppendEntries of
// benchEntries entries, end to end over loopback TCP: encode, send, read,
// decode, hand to Consumer, answer.
func BenchmarkNetworkTransportAppendEntries(b *testing.B) {
	for _, mode := range []string{"sync", "pipeline"} {
		b.Run(mode, func(b *testing.B) {
			client, err := NewTCPTransportWithConfig("127.0.0.1:0", nil, &NetworkTransportConfig{MaxPool: 2, Timeout: 5 * time.Second, MaxRPCsInFlight: 4})
			if err != nil {
				b.Fatal(err)
			}
			defer client.Close()
			server, err := NewTCPTransportWithConfig("127.0.0.1:0", nil, &NetworkTransportConfig{MaxPool: 2, Timeout: 5 * time.Second})
			if err != nil {
				b.Fatal(err)
			}
			defer server.Close()
			done := make(chan struct{})
			defer close(done)
			go answerAll(server, done)
			req := benchRequest()
			b.ReportAllocs()
			start := mallocs()
			if mode == "sync" {
				for b.Loop() {
					var resp AppendEntriesResponse
					if err := client.AppendEntries("s", server.LocalAddr(), req, &resp); err != nil {
						b.Fatal(err)
					}
				}
			} else {
				benchPipeline(b, client, server.LocalAddr(), req)
			}
			perEntry(b, start)
		})
	}
}

func benchPipeline(b *testing.B, client *NetworkTransport, target ServerAddress, req *AppendEntriesRequest) {
	pipe, err := client.AppendEntriesPipeline("s", target)
	if err != nil {
		b.Fatal(err)
	}
	defer pipe.Close()
	errs := make(chan error, 1)
	go func() {
		for range b.N {
			if _, err := pipe.AppendEntries(req, &AppendEntriesResponse{}); err != nil {
				errs <- err
				return
			}
		}
		errs <- nil
	}()
	for range b.N {
		if err := (<-pipe.Consumer()).Error(); err != nil {
			b.Fatal(err)
		}
	}
	if err := <-errs; err != nil {
		b.Fatal(err)
	}
}
