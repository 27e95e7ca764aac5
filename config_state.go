package raft

// This file owns the main loop's view of the configuration: the committed
// configuration and the configuration entries above the commit index. A
// configuration takes effect as soon as its entry is in the log (thesis
// section 4.1), so the latest one rules decisions; when a follower discards a
// suffix of its log, the configurations in that suffix are discarded with it.

// appendConfig records the configuration entry at index, now the latest.
func (r *Raft) appendConfig(index uint64, c Configuration) {
	r.pendingConfigs = append(r.pendingConfigs, configEntry{index: index, config: c})
	next := r.configs
	next.latest, next.latestIndex = c, index
	r.setConfigs(next)
	if index <= r.commit {
		r.commitConfigs(r.commit)
	}
}

// commitConfigs marks the configuration entries up to index committed.
func (r *Raft) commitConfigs(index uint64) {
	n := 0
	for n < len(r.pendingConfigs) && r.pendingConfigs[n].index <= index {
		n++
	}
	if n == 0 {
		return
	}
	next := r.configs
	next.committed, next.committedIndex = r.pendingConfigs[n-1].config, r.pendingConfigs[n-1].index
	r.pendingConfigs = append(r.pendingConfigs[:0], r.pendingConfigs[n:]...)
	r.setConfigs(next)
}

// truncateConfigs forgets the configuration entries at index and above.
func (r *Raft) truncateConfigs(index uint64) {
	n := len(r.pendingConfigs)
	for n > 0 && r.pendingConfigs[n-1].index >= index {
		n--
	}
	if n == len(r.pendingConfigs) {
		return
	}
	r.pendingConfigs = r.pendingConfigs[:n]
	next := r.configs
	next.latest, next.latestIndex = next.committed, next.committedIndex
	if n > 0 {
		next.latest, next.latestIndex = r.pendingConfigs[n-1].config, r.pendingConfigs[n-1].index
	}
	r.setConfigs(next)
}

// resetConfigs replaces everything with one committed configuration (from a
// snapshot).
func (r *Raft) resetConfigs(c Configuration, index uint64) {
	r.pendingConfigs = r.pendingConfigs[:0]
	r.setConfigs(configurations{committed: c, committedIndex: index, latest: c, latestIndex: index})
}
