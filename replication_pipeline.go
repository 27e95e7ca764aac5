package raft

// This file owns pipelined replication: once a peer's log matches, the
// replicator sends AppendEntries without waiting for each response (up to the
// transport's limit in flight) while a receiver goroutine processes the
// responses in order. Any failure or refusal ends the pipeline and the
// replicator goes back to one request at a time from what the peer is known
// to hold.

import (
	"errors"
	"time"
)

// runPipeline replicates through a pipeline until it fails or the
// replicator stops.
func (p *replicator) runPipeline() {
	r := p.r
	peer := p.peer.Load()
	pipe, err := r.trans.AppendEntriesPipeline(peer.ID, peer.Address)
	if err != nil {
		if errors.Is(err, ErrPipelineReplicationNotSupported) {
			p.noPipeline = true
		} else {
			r.logger.Error("failed to start pipeline replication to", "peer", peer, "error", err)
		}
		return
	}
	r.logger.Info("pipelining replication", "peer", peer)
	failed := make(chan struct{})  // closed by the receiver when it gives up
	sending := make(chan struct{}) // closed when the sender is done
	received := make(chan struct{})
	r.goFunc(func() {
		defer close(received)
		p.pipelineReceive(pipe, failed, sending)
	})
	p.pipelineSend(pipe, failed)
	close(sending)
	pipe.Close()
	<-received
	p.inflight.Store(0)
	// Resume from what the peer is known to hold.
	p.next.Store(p.match.Load() + 1)
	p.sentCommit = p.peerCommit.Load()
	r.logger.Info("aborting pipeline replication", "peer", peer)
}

// pipelineSend sends requests while there is work and the pipeline is sound.
//
// A request that is not full waits while another is in flight: the follower
// handles one request at a time, each with a disk write, so many small
// requests queued behind a slow follower would each cost it a sync, while
// one request sent when the previous one returns carries everything that
// accumulated meanwhile. Full requests go at once: that is what pipelining
// is for. A request of a few entries with nothing in flight makes a plain
// round trip, which skips the pipeline's goroutines: under a light load that
// is most requests, and their latency is what a caller waits for. (Larger
// ones stay on the pipeline, so that a full batch can follow at once.)
func (p *replicator) pipelineSend(pipe AppendPipeline, failed <-chan struct{}) {
	r := p.r
	commitTimeout := time.NewTimer(r.config().CommitTimeout)
	defer commitTimeout.Stop()
	for {
		for p.hasWork() {
			pending := p.pending()
			full := pending >= uint64(r.config().MaxAppendEntries)
			if !full && p.inflight.Load() > 0 {
				break // wait for the request in flight
			}
			if !full && p.gather() {
				pending = p.pending()
			}
			if pending <= directMaxEntries {
				if ok, matched := p.replicateOnce(); !ok || !matched {
					return // failed or refused: the one-at-a-time path takes over
				}
				continue
			}
			if !p.pipelineOnce(pipe) {
				return
			}
			select {
			case <-failed:
				return
			default:
			}
		}
		select {
		case <-p.stopCh:
			return
		case <-failed:
			return
		case <-p.trigger:
		case <-commitTimeout.C:
			commitTimeout.Reset(r.config().CommitTimeout)
		}
		if p.retired() {
			return
		}
	}
}

// pipelineOnce sends one full request through the pipeline.
func (p *replicator) pipelineOnce(pipe AppendPipeline) bool {
	req, err := p.buildAppend(p.next.Load())
	if err != nil {
		return false // the one-at-a-time path sends a snapshot or logs the error
	}
	if _, err := pipe.AppendEntries(req, new(AppendEntriesResponse)); err != nil {
		p.r.logger.Error("failed to pipeline appendEntries", "peer", p.peer.Load().ID, "error", err)
		return false
	}
	p.inflight.Add(1)
	p.next.Store(req.PrevLogEntry + uint64(len(req.Entries)) + 1)
	p.sentCommit = req.LeaderCommitIndex
	return true
}

// directMaxEntries is the largest request a pipelining replicator sends as
// a plain round trip when nothing is in flight.
const directMaxEntries = 4

// pending is the number of entries the peer has yet to be sent.
func (p *replicator) pending() uint64 {
	next, last := p.next.Load(), p.r.pubLastIndex.Load()
	if last < next {
		return 0
	}
	return last - next + 1
}

// pipelineReceive processes responses in order until one fails or is
// refused (closing failed), the replicator stops, or the sender is done.
//
// It closes the pipeline when it returns: once nobody drains the pipeline's
// Consumer, the transport cannot deliver more answers, so a sender blocked
// in AppendEntries waiting for room in flight would wait for ever; closing
// the pipeline releases it.
func (p *replicator) pipelineReceive(pipe AppendPipeline, failed chan<- struct{}, sending <-chan struct{}) {
	defer pipe.Close()
	for {
		select {
		case f := <-pipe.Consumer():
			if f.Error() != nil || p.sawTerm(f.Response().Term) || !f.Response().Success {
				close(failed)
				return
			}
			p.touch()
			p.acknowledged(f.Request())
			p.emitAppend(f.Start(), len(f.Request().Entries))
			if p.inflight.Add(-1) == 0 && p.hasWorkRacy() {
				p.notify() // the sender waits for this response to send more
			}
		case <-sending:
			return
		case <-p.stopCh:
			return
		}
	}
}
