package raft

// Tests of InmemTransport's pipelines, of concurrent use, randomized checks
// that answers never reach the wrong call (the transport recycles response
// channels), and benchmarks.

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

func inmemPipe(t testing.TB, from, to *InmemTransport) AppendPipeline {
	t.Helper()
	p, err := from.AppendEntriesPipeline("id", to.LocalAddr())
	if err != nil {
		t.Fatalf("AppendEntriesPipeline: %v", err)
	}
	return p
}

// inmemHold serves trans by keeping every RPC unanswered on the returned
// channel, for the test to answer when it wants.
func inmemHold(t testing.TB, trans *InmemTransport) <-chan RPC {
	held := make(chan RPC, 4*inmemPipelineDepth)
	inmemServe(t, trans, func(rpc RPC) { held <- rpc })
	return held
}

// inmemCheckNoPipelines checks that trans forgot its closed pipelines.
func inmemCheckNoPipelines(t *testing.T, trans *InmemTransport) {
	t.Helper()
	trans.RLock()
	defer trans.RUnlock()
	if len(trans.pipelines) != 0 {
		t.Errorf("transport still tracks %d pipelines", len(trans.pipelines))
	}
}

func TestInmemPipelineOrder(t *testing.T) {
	const batch = 8
	synctest.Test(t, func(t *testing.T) {
		from, to := inmemPeers(t, time.Second)
		var held []RPC // the peer answers each batch last request first
		inmemServe(t, to, func(rpc RPC) {
			held = append(held, rpc)
			if len(held) == batch {
				for i := batch - 1; i >= 0; i-- {
					inmemEcho(held[i])
				}
				held = held[:0]
			}
		})
		pipe := inmemPipe(t, from, to)
		defer pipe.Close()
		reqs := make([]*AppendEntriesRequest, 3*batch)
		start := time.Now()
		for i := range reqs {
			reqs[i] = &AppendEntriesRequest{Term: 1, PrevLogEntry: uint64(i)}
			f, err := pipe.AppendEntries(reqs[i], new(AppendEntriesResponse))
			if err != nil || f.Request() != reqs[i] || !f.Start().Equal(start) {
				t.Fatalf("request %d: AppendEntries = %v, future of %p started %v", i, err, f.Request(), f.Start())
			}
		}
		for i, req := range reqs {
			f := <-pipe.Consumer()
			if f.Request() != req {
				t.Fatalf("future %d is of request %d", i, f.Request().PrevLogEntry)
			}
			if err := f.Error(); err != nil || f.Response().LastLog != uint64(i) {
				t.Errorf("future %d: error %v, answer %+v", i, err, f.Response())
			}
		}
	})
}

func TestInmemPipelineBackPressure(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		from, to := inmemPeers(t, 0)
		held := inmemHold(t, to)
		pipe := inmemPipe(t, from, to)
		defer pipe.Close()
		for i := range inmemPipelineDepth {
			if _, err := pipe.AppendEntries(&AppendEntriesRequest{PrevLogEntry: uint64(i)}, new(AppendEntriesResponse)); err != nil {
				t.Fatalf("request %d: %v", i, err)
			}
		}
		var sent atomic.Bool
		var wg sync.WaitGroup
		wg.Go(func() {
			if _, err := pipe.AppendEntries(&AppendEntriesRequest{}, new(AppendEntriesResponse)); err != nil {
				t.Errorf("request beyond the depth: %v", err)
			}
			sent.Store(true)
		})
		synctest.Wait()
		if sent.Load() || len(held) != inmemPipelineDepth {
			t.Fatalf("sent beyond the depth (returned %v, peer got %d)", sent.Load(), len(held))
		}
		inmemEcho(<-held)
		synctest.Wait()
		if !sent.Load() {
			t.Fatal("sender still blocked after an answer")
		}
		if f := <-pipe.Consumer(); f.Error() != nil || f.Request().PrevLogEntry != 0 {
			t.Errorf("first future: error %v, request %d", f.Error(), f.Request().PrevLogEntry)
		}
		wg.Wait()
	})
}

func TestInmemPipelineClose(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		from, to := inmemPeers(t, 0)
		held := inmemHold(t, to)
		pipe := inmemPipe(t, from, to)
		var futures []AppendFuture
		for range inmemPipelineDepth {
			f, err := pipe.AppendEntries(&AppendEntriesRequest{}, new(AppendEntriesResponse))
			if err != nil {
				t.Fatal(err)
			}
			futures = append(futures, f)
		}
		var blockedErr error
		var wg sync.WaitGroup
		wg.Go(func() { _, blockedErr = pipe.AppendEntries(&AppendEntriesRequest{}, new(AppendEntriesResponse)) })
		synctest.Wait()

		if err := pipe.Close(); err != nil {
			t.Fatal(err)
		}
		wg.Wait()
		if blockedErr != ErrPipelineShutdown {
			t.Errorf("blocked sender: error %v, want ErrPipelineShutdown", blockedErr)
		}
		for i, f := range futures {
			if err := f.Error(); err != ErrPipelineShutdown {
				t.Errorf("future %d: error %v, want ErrPipelineShutdown", i, err)
			}
		}
		for len(held) > 0 { // late answers go nowhere and block no one
			inmemEcho(<-held)
		}
		select {
		case f := <-pipe.Consumer():
			t.Errorf("closed pipeline delivered the future of %+v", f.Request())
		default:
		}
		if _, err := pipe.AppendEntries(&AppendEntriesRequest{}, new(AppendEntriesResponse)); err != ErrPipelineShutdown {
			t.Errorf("AppendEntries after Close: error %v, want ErrPipelineShutdown", err)
		}
		if err := pipe.Close(); err != nil {
			t.Errorf("second Close: %v", err)
		}
		inmemCheckNoPipelines(t, from)
	})
}

func TestInmemPipelineFailures(t *testing.T) {
	const timeout = 100 * time.Millisecond
	refused := errors.New("refused")
	synctest.Test(t, func(t *testing.T) {
		from, to := inmemPeers(t, timeout)
		inmemServe(t, to, func(rpc RPC) {
			switch rpc.Command.(*AppendEntriesRequest).PrevLogEntry {
			case 1:
				rpc.Respond(nil, refused)
			case 2: // never answered
			case 3:
				rpc.Respond(&RequestVoteResponse{}, nil)
			default:
				inmemEcho(rpc)
			}
		})
		pipe := inmemPipe(t, from, to)
		defer pipe.Close()
		want := []error{nil, refused, errInmemTimeout, errInmemBadResponse, nil}
		start := time.Now()
		for i := range want {
			if _, err := pipe.AppendEntries(&AppendEntriesRequest{PrevLogEntry: uint64(i)}, new(AppendEntriesResponse)); err != nil {
				t.Fatal(err)
			}
		}
		for i, w := range want {
			f := <-pipe.Consumer()
			if err := f.Error(); !errors.Is(err, w) {
				t.Errorf("future %d: error %v, want %v", i, err, w)
			}
			if i == 2 && time.Since(start) != timeout {
				t.Errorf("timed out after %v, want %v", time.Since(start), timeout)
			}
		}

		// A request to a peer that closes fails at once.
		to.Close()
		start = time.Now()
		f, err := pipe.AppendEntries(&AppendEntriesRequest{PrevLogEntry: 2}, new(AppendEntriesResponse))
		if err == nil {
			err = (<-pipe.Consumer()).Error()
		}
		if !errors.Is(err, errInmemPeerClosed) || time.Since(start) != 0 {
			t.Errorf("to a closed peer: future %v, error %v after %v, want errInmemPeerClosed at once", f, err, time.Since(start))
		}
	})
}

func TestInmemPipelineDisconnect(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		from, b := inmemPeers(t, time.Second)
		_, c := NewInmemTransportWithTimeout("", time.Second)
		defer c.Close()
		from.Connect(c.LocalAddr(), c)
		inmemServe(t, b, inmemEcho)
		inmemServe(t, c, inmemEcho)
		toB1, toB2, toC := inmemPipe(t, from, b), inmemPipe(t, from, b), inmemPipe(t, from, c)

		send := func(p AppendPipeline) error {
			if _, err := p.AppendEntries(&AppendEntriesRequest{}, new(AppendEntriesResponse)); err != nil {
				return err
			}
			return (<-p.Consumer()).Error()
		}
		from.Disconnect(b.LocalAddr())
		for _, p := range []AppendPipeline{toB1, toB2} {
			if err := send(p); err != ErrPipelineShutdown {
				t.Errorf("pipeline to the disconnected peer: error %v, want ErrPipelineShutdown", err)
			}
		}
		if err := send(toC); err != nil {
			t.Errorf("pipeline to another peer: %v", err)
		}
		from.DisconnectAll()
		if err := send(toC); err != ErrPipelineShutdown {
			t.Errorf("after DisconnectAll: error %v, want ErrPipelineShutdown", err)
		}
		inmemCheckNoPipelines(t, from)
	})
}

// TestInmemTransportConcurrentUse runs calls and pipelines between three
// transports from many goroutines while the routes are cut and restored, for
// the race detector; the bubble's end proves that Close stopped everything.
func TestInmemTransportConcurrentUse(t *testing.T) {
	const nodes, callers, calls = 3, 6, 150
	synctest.Test(t, func(t *testing.T) {
		ts := make([]*InmemTransport, nodes)
		for n := range ts {
			_, ts[n] = NewInmemTransportWithTimeout("", time.Second)
			inmemServe(t, ts[n], inmemEcho)
			ts[n].SetHeartbeatHandler(inmemEcho)
		}
		for n, tr := range ts {
			defer tr.Close()
			for m, peer := range ts {
				if m != n {
					tr.Connect(peer.LocalAddr(), peer)
				}
			}
		}
		var answered atomic.Int64
		check := func(err error) {
			switch {
			case err == nil:
				answered.Add(1)
			case !errors.Is(err, errInmemUnreachable) && err != ErrPipelineShutdown:
				t.Errorf("unexpected error: %v", err)
			}
		}
		var wg sync.WaitGroup
		for c := range callers {
			from, to := ts[c%nodes], ts[(c+1)%nodes]
			wg.Go(func() {
				for i := range calls {
					check(inmemCallKinds[i%len(inmemCallKinds)].call(from, to.LocalAddr()))
					var resp AppendEntriesResponse
					check(from.AppendEntries("id", to.LocalAddr(), inmemHeartbeat(), &resp))
				}
			})
			wg.Go(func() { inmemPipelineLoad(from, to, calls, check) })
		}
		wg.Go(func() {
			for r := range 4 * calls {
				from, to := ts[r%nodes], ts[(r+1)%nodes]
				from.Disconnect(to.LocalAddr())
				runtime.Gosched()
				from.Connect(to.LocalAddr(), to)
				runtime.Gosched()
			}
		})
		wg.Wait()
		if answered.Load() == 0 {
			t.Error("no call was answered")
		}
	})
}

// inmemPipelineLoad sends n requests through pipelines from from to to,
// opening a new pipeline whenever a Disconnect closed the last one.
func inmemPipelineLoad(from, to *InmemTransport, n int, check func(error)) {
	for sent := 0; sent < n; {
		pipe, err := from.AppendEntriesPipeline("id", to.LocalAddr())
		if err != nil {
			check(err)
			runtime.Gosched()
			sent++
			continue
		}
		var futures []AppendFuture
		for ; sent < n; sent++ {
			f, err := pipe.AppendEntries(&AppendEntriesRequest{Term: 1, Entries: []*Log{{}}}, new(AppendEntriesResponse))
			if err != nil {
				check(err)
				break
			}
			futures = append(futures, f)
			if len(futures) == 4 {
				break
			}
		}
		for _, f := range futures {
			check(f.Error())
		}
		pipe.Close()
	}
}

// Behaviours of the peer in the randomized tests, chosen per request.
const (
	inmemAnswer     = iota // at once
	inmemAnswerSoon        // within the timeout
	inmemAnswerLate        // after the timeout
	inmemRefuse            // with an error
	inmemMistype           // with a response of the wrong type
	inmemNever             // not at all
	inmemBehaviours
)

// inmemRefusal is the error of an inmemRefuse answer; it names the request.
type inmemRefusal struct{ id uint64 }

func (r *inmemRefusal) Error() string { return fmt.Sprintf("request %d refused", r.id) }

// inmemBehave serves trans, answering each request with id and behaviour
// taken from the request by read.
func inmemBehave(t testing.TB, trans *InmemTransport, timeout time.Duration, read func(any) (id, behaviour uint64)) {
	var late sync.WaitGroup
	t.Cleanup(late.Wait) // runs after inmemServe's cleanup stopped calling late.Go
	inmemServe(t, trans, func(rpc RPC) {
		id, behaviour := read(rpc.Command)
		answer := func() { rpc.Respond(&AppendEntriesResponse{LastLog: id}, nil) }
		switch behaviour {
		case inmemAnswer:
			answer()
		case inmemAnswerSoon:
			late.Go(func() { time.Sleep(timeout / 2); answer() })
		case inmemAnswerLate:
			late.Go(func() { time.Sleep(timeout + time.Millisecond); answer() })
		case inmemRefuse:
			rpc.Respond(nil, &inmemRefusal{id})
		case inmemMistype:
			rpc.Respond(&RequestVoteResponse{}, nil)
		}
	})
}

// inmemCheckOutcome compares a request's outcome with the reference: what its
// own behaviour calls for, whatever happened to the other requests.
func inmemCheckOutcome(id, behaviour uint64, err error, resp *AppendEntriesResponse) error {
	var refusal *inmemRefusal
	switch behaviour {
	case inmemAnswer, inmemAnswerSoon:
		if err != nil || resp.LastLog != id {
			return fmt.Errorf("request %d: error %v, answer for %d", id, err, resp.LastLog)
		}
	case inmemAnswerLate, inmemNever:
		if !errors.Is(err, errInmemTimeout) {
			return fmt.Errorf("request %d: error %v, want a timeout", id, err)
		}
	case inmemRefuse:
		if !errors.As(err, &refusal) || refusal.id != id {
			return fmt.Errorf("request %d: error %v, want its refusal", id, err)
		}
	case inmemMistype:
		if !errors.Is(err, errInmemBadResponse) {
			return fmt.Errorf("request %d: error %v, want errInmemBadResponse", id, err)
		}
	}
	return nil
}

// inmemSeed returns the seed of a randomized test, logged: $RAFT_TEST_SEED
// when set, to replay a failure, else a random one. The seed fixes what the
// test sends and how the peer behaves; the goroutines' interleaving may vary.
func inmemSeed(t *testing.T) uint64 {
	seed := rand.Uint64()
	if s := os.Getenv("RAFT_TEST_SEED"); s != "" {
		var err error
		if seed, err = strconv.ParseUint(s, 10, 64); err != nil {
			t.Fatalf("RAFT_TEST_SEED: %v", err)
		}
	}
	t.Logf("seed %d (replay with RAFT_TEST_SEED=%d)", seed, seed)
	return seed
}

func TestInmemTransportAnswersNeverCross(t *testing.T) {
	const timeout, callers, calls = 10 * time.Millisecond, 4, 150
	seed := inmemSeed(t)
	rng := rand.New(rand.NewPCG(seed, 0))
	plans := make([][]uint64, callers)
	for c := range plans {
		for range calls {
			plans[c] = append(plans[c], rng.Uint64N(inmemBehaviours))
		}
	}
	synctest.Test(t, func(t *testing.T) {
		from, to := inmemPeers(t, timeout)
		inmemBehave(t, to, timeout, func(cmd any) (uint64, uint64) {
			req := cmd.(*AppendEntriesRequest)
			return req.Term, req.PrevLogTerm
		})
		var wg sync.WaitGroup
		for c, plan := range plans {
			wg.Go(func() {
				for i, behaviour := range plan {
					id := uint64(c*calls + i + 1)
					req := &AppendEntriesRequest{Term: id, PrevLogEntry: 1, PrevLogTerm: behaviour}
					var resp AppendEntriesResponse
					err := from.AppendEntries("id", to.LocalAddr(), req, &resp)
					if err := inmemCheckOutcome(id, behaviour, err, &resp); err != nil {
						t.Errorf("seed %d: %v", seed, err)
					}
				}
			})
		}
		wg.Wait()
	})
}

func TestInmemPipelineAnswersNeverCross(t *testing.T) {
	const timeout, requests = 10 * time.Millisecond, 400
	seed := inmemSeed(t)
	rng := rand.New(rand.NewPCG(seed, 0))
	synctest.Test(t, func(t *testing.T) {
		from, to := inmemPeers(t, timeout)
		inmemBehave(t, to, timeout, func(cmd any) (uint64, uint64) {
			req := cmd.(*AppendEntriesRequest)
			return req.PrevLogEntry, req.PrevLogTerm
		})
		pipe := inmemPipe(t, from, to)
		defer pipe.Close()
		var wg sync.WaitGroup
		wg.Go(func() {
			for id := range uint64(requests) {
				f := <-pipe.Consumer()
				req := f.Request()
				if req.PrevLogEntry != id {
					t.Errorf("seed %d: future %d is of request %d", seed, id, req.PrevLogEntry)
				}
				if err := inmemCheckOutcome(id, req.PrevLogTerm, f.Error(), f.Response()); err != nil {
					t.Errorf("seed %d: %v", seed, err)
				}
			}
		})
		for id := range uint64(requests) {
			req := &AppendEntriesRequest{PrevLogEntry: id, PrevLogTerm: rng.Uint64N(inmemBehaviours)}
			if _, err := pipe.AppendEntries(req, new(AppendEntriesResponse)); err != nil {
				t.Fatalf("seed %d: request %d: %v", seed, id, err)
			}
			time.Sleep(time.Duration(rng.Uint64N(3)) * time.Millisecond) // the leader's pace
		}
		wg.Wait()
	})
}

// inmemBenchPeers returns connected transports, the second answering every
// RPC with the same response, and an AppendEntries request of one entry.
func inmemBenchPeers(b *testing.B) (from, to *InmemTransport, req *AppendEntriesRequest) {
	from, to = inmemPeers(b, time.Second)
	answer := &AppendEntriesResponse{Success: true, LastLog: 2}
	inmemServe(b, to, func(rpc RPC) { rpc.Respond(answer, nil) })
	return from, to, &AppendEntriesRequest{Term: 1, PrevLogEntry: 1, PrevLogTerm: 1, Entries: []*Log{{Index: 2}}}
}

// inmemBenchRoundTrips sends req from from to to, one call at a time.
func inmemBenchRoundTrips(b *testing.B, from, to *InmemTransport, req *AppendEntriesRequest) {
	var resp AppendEntriesResponse
	b.ReportAllocs()
	for b.Loop() {
		if err := from.AppendEntries("id", to.LocalAddr(), req, &resp); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkInmemAppendEntries(b *testing.B) {
	from, to, req := inmemBenchPeers(b)
	inmemBenchRoundTrips(b, from, to, req)
}

func BenchmarkInmemAppendEntriesParallel(b *testing.B) {
	from, to, req := inmemBenchPeers(b)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		var resp AppendEntriesResponse
		for pb.Next() {
			if err := from.AppendEntries("id", to.LocalAddr(), req, &resp); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func BenchmarkInmemHeartbeat(b *testing.B) {
	from, to := inmemPeers(b, time.Second)
	answer := &AppendEntriesResponse{Success: true}
	to.SetHeartbeatHandler(func(rpc RPC) { rpc.Respond(answer, nil) })
	inmemBenchRoundTrips(b, from, to, inmemHeartbeat())
}

// BenchmarkInmemPipeline sends appends through a pipeline from one goroutine
// that also collects the futures, as a replication loop does.
func BenchmarkInmemPipeline(b *testing.B) {
	from, to, req := inmemBenchPeers(b)
	pipe := inmemPipe(b, from, to)
	defer pipe.Close()
	var resp AppendEntriesResponse // written by the pipeline's goroutine only
	sent, done := 0, 0
	collect := func(f AppendFuture) {
		if err := f.Error(); err != nil {
			b.Fatal(err)
		}
		done++
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := pipe.AppendEntries(req, &resp); err != nil {
			b.Fatal(err)
		}
		sent++
		for drained := false; !drained; {
			select {
			case f := <-pipe.Consumer():
				collect(f)
			default:
				drained = true
			}
		}
	}
	for done < sent {
		collect(<-pipe.Consumer())
	}
}
