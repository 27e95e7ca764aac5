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
// is for.
func (p *replicator) pipelineSend(pipe AppendPipeline, failed <-chan struct{}) {
	r := p.r
	commitTimeout := time.NewTimer(r.config().CommitTimeout)
	defer commitTimeout.Stop()
	for {
		for p.hasWork() && (p.inflight.Load() == 0 || p.fullBatchReady()) {
			req, err := p.buildAppend(p.next.Load())
			if err != nil {
				return // the sync path sends a snapshot or logs the error
			}
			if _, err := pipe.AppendEntries(req, new(AppendEntriesResponse)); err != nil {
				r.logger.Error("failed to pipeline appendEntries", "peer", p.peer.Load().ID, "error", err)
				return
			}
			p.inflight.Add(1)
			p.next.Store(req.PrevLogEntry + uint64(len(req.Entries)) + 1)
			p.sentCommit = req.LeaderCommitIndex
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

// fullBatchReady reports whether a full request's worth of entries waits.
func (p *replicator) fullBatchReady() bool {
	next, last := p.next.Load(), p.r.pubLastIndex.Load()
	return last >= next && last-next+1 >= uint64(p.r.config().MaxAppendEntries)
}

// pipelineReceive processes responses in order until one fails or is
// refused (closing failed), or the sender is done.
func (p *replicator) pipelineReceive(pipe AppendPipeline, failed chan<- struct{}, sending <-chan struct{}) {
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
			p.inflight.Add(-1)
			p.notify() // the sender may be waiting for this response
		case <-sending:
			return
		case <-p.stopCh:
			return
		}
	}
}
