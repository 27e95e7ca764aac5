package raft

// This file defines the futures raft hands to callers. A future is completed
// exactly once, by the goroutine that holds it (the main loop, the FSM
// goroutine or the snapshot goroutine), and read by any number of callers.

import (
	"io"
	"sync"
	"sync/atomic"
)

// Future is the pending result of an asynchronous operation.
type Future interface {
	// Error blocks until the operation ends and returns its error, nil on
	// success. It may be called any number of times from any goroutine.
	Error() error
}

// IndexFuture is a Future whose operation produced a log entry.
type IndexFuture interface {
	Future

	// Index is the log index of the entry. Valid after Error returns nil.
	Index() uint64
}

// ApplyFuture is the pending result of Apply, ApplyLog or Barrier.
type ApplyFuture interface {
	IndexFuture

	// Response is what the FSM's Apply returned for the entry. Valid after
	// Error returns nil, and only on the server that accepted the entry.
	Response() interface{}
}

// ConfigurationFuture is the pending result of GetConfiguration.
type ConfigurationFuture interface {
	IndexFuture

	// Configuration is the latest configuration. Valid after Error returns
	// nil.
	Configuration() Configuration
}

// SnapshotFuture is the pending result of Snapshot.
type SnapshotFuture interface {
	Future

	// Open opens the snapshot that was taken. The caller closes the reader.
	Open() (*SnapshotMeta, io.ReadCloser, error)
}

// LeadershipTransferFuture is the pending result of a leadership transfer.
type LeadershipTransferFuture interface {
	Future
}

// errorFuture is a future that failed before it started.
type errorFuture struct{ err error }

func (e errorFuture) Error() error          { return e.err }
func (e errorFuture) Index() uint64         { return 0 }
func (e errorFuture) Response() interface{} { return nil }

// future is the completion shared by every future type.
type future struct {
	// done is closed by respond, after err is set.
	done chan struct{}
	// shutdownCh is raft's shutdown signal: a future whose holder is gone
	// reports ErrRaftShutdown instead of blocking for ever. Nil for futures
	// that complete regardless of shutdown.
	shutdownCh <-chan struct{}
	once       sync.Once
	err        error // written once, before done is closed
}

// init prepares f. Futures are embedded by value, hence init not a constructor.
func (f *future) init(shutdownCh <-chan struct{}) {
	f.done = make(chan struct{})
	f.shutdownCh = shutdownCh
}

// respond completes f with err. Only the first call has an effect, so
// competing paths (an ordinary completion and shutdown) need no coordination.
func (f *future) respond(err error) {
	f.once.Do(func() {
		f.err = err
		close(f.done)
	})
}

// Error waits for completion. A completion that raced with shutdown wins.
func (f *future) Error() error {
	select {
	case <-f.done:
		return f.err
	case <-f.shutdownCh:
		select {
		case <-f.done:
			return f.err
		default:
			return ErrRaftShutdown
		}
	}
}

// logFuture carries one entry from a caller through the leader's log to the
// FSM, and back with the FSM's response.
//
// It is the future of every Apply, so it is built to be cheap: no channel
// (a WaitGroup needs no allocation of its own, and its waiters queue on the
// runtime's semaphore table instead of all contending for the lock of
// raft's shutdown channel, as a select on it would). In exchange, raft
// guarantees that every logFuture it accepted is answered, shutdown
// included: at each moment exactly one place holds it (the Apply channel,
// the leader's inflight list, or a commit task of the FSM queue) and each
// of them answers what it holds when it is torn down.
type logFuture struct {
	wg       sync.WaitGroup // one Add at creation, Done by the first respond
	answered atomic.Bool
	err      error // written once, before wg.Done
	log      Log
	response interface{} // set by the FSM goroutine before respond
}

// newLogFuture returns a pending future for entry e.
func newLogFuture(e Log) *logFuture {
	f := &logFuture{log: e}
	f.wg.Add(1)
	return f
}

// respond completes f with err. Only the first call has an effect.
func (l *logFuture) respond(err error) {
	if l.answered.CompareAndSwap(false, true) {
		l.err = err
		l.wg.Done()
	}
}

// answer completes f with the FSM's response to its entry.
func (l *logFuture) answer(response interface{}) {
	l.response = response
	l.respond(nil)
}

// Error waits for the answer, which raft always gives (see logFuture).
func (l *logFuture) Error() error {
	l.wg.Wait()
	return l.err
}

func (l *logFuture) Index() uint64         { return l.log.Index }
func (l *logFuture) Response() interface{} { return l.response }

// configurationFuture answers GetConfiguration.
type configurationFuture struct {
	future
	configurations configurations
}

func (c *configurationFuture) Index() uint64 { return c.configurations.latestIndex }
func (c *configurationFuture) Configuration() Configuration {
	return c.configurations.latest
}

// shutdownFuture waits until every goroutine of raft has ended, closing the
// transport if it can be closed.
type shutdownFuture struct {
	r *Raft // nil when Shutdown was already called
}

// Error closes the transport and waits for raft's goroutines. The transport
// is closed first: an RPC in flight (a snapshot streaming to a
// peer that went silent, say) then fails at once instead of holding the
// goroutine that made it until the transport's timeout.
func (s *shutdownFuture) Error() error {
	if s.r == nil {
		return nil
	}
	var err error
	if closer, ok := s.r.trans.(WithClose); ok {
		err = closer.Close()
	}
	s.r.group.Wait()
	return err
}
