package raft

import "io"

// CountingReader is an io.Reader that reports how many bytes it has read so
// far. Snapshot transports may use it to report progress.
type CountingReader interface {
	io.Reader
	Count() int64
}

// ReadCloserWrapper allows access to an underlying ReadCloser from a wrapper.
type ReadCloserWrapper interface {
	io.ReadCloser
	WrappedReadCloser() io.ReadCloser
}
