package raft

// This file owns LogCache, a ring of the most recently stored entries in
// front of a slower LogStore, so that replication to followers that keep up
// reads from memory.
//
// Invariant: a cached entry is exactly what the wrapped store holds at that
// index. An entry enters the cache only after the store accepted it, and the
// cache forgets an index before (DeleteRange) or as soon as (failed
// StoreLogs) the store may stop holding it there.

import (
	"errors"
	"fmt"
	"sync"
)

// errCacheCapacity is returned by NewLogCache for a capacity below 1.
var errCacheCapacity = errors.New("raft: log cache capacity must be positive")

// LogCache wraps a LogStore and keeps its latest entries in memory. It is
// safe for concurrent use.
type LogCache struct {
	store LogStore

	// writeMu serializes StoreLogs and DeleteRange, so that the store and
	// the cache change together as seen by other writers.
	writeMu sync.Mutex

	// mu guards cache. Entry i holds the entry whose index is i modulo
	// len(cache), or nil.
	mu    sync.RWMutex
	cache []*Log
}

// NewLogCache returns a cache of capacity entries in front of store.
func NewLogCache(capacity int, store LogStore) (*LogCache, error) {
	if capacity <= 0 {
		return nil, fmt.Errorf("%w: got %d", errCacheCapacity, capacity)
	}
	return &LogCache{store: store, cache: make([]*Log, capacity)}, nil
}

// IsMonotonic reports whether the wrapped store is a MonotonicLogStore that
// says it is monotonic.
func (c *LogCache) IsMonotonic() bool {
	m, ok := c.store.(MonotonicLogStore)
	return ok && m.IsMonotonic()
}

// GetLog copies the entry at idx into log, from the cache when it holds it.
func (c *LogCache) GetLog(idx uint64, log *Log) error {
	c.mu.RLock()
	cached := c.cache[idx%uint64(len(c.cache))]
	c.mu.RUnlock()
	if cached != nil && cached.Index == idx {
		*log = *cached
		return nil
	}
	return c.store.GetLog(idx, log)
}

// StoreLog stores one entry.
func (c *LogCache) StoreLog(log *Log) error {
	return c.StoreLogs([]*Log{log})
}

// StoreLogs stores the entries in the wrapped store, then caches them. When
// the store fails, some of the entries may or may not be stored: the cache
// forgets their indexes so that reads go to the store.
func (c *LogCache) StoreLogs(logs []*Log) error {
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	if err := c.store.StoreLogs(logs); err != nil {
		c.forget(logs)
		return fmt.Errorf("log cache: storing %d entries: %w", len(logs), err)
	}
	c.mu.Lock()
	for _, l := range logs {
		if l != nil { // a store that accepts nil entries has nothing to cache
			c.cache[l.Index%uint64(len(c.cache))] = l
		}
	}
	c.mu.Unlock()
	return nil
}

// forget drops from the cache whatever it holds at the indexes of logs.
func (c *LogCache) forget(logs []*Log) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, l := range logs {
		if l == nil {
			continue
		}
		slot := &c.cache[l.Index%uint64(len(c.cache))]
		if *slot != nil && (*slot).Index == l.Index {
			*slot = nil
		}
	}
}

// FirstIndex returns the wrapped store's first index.
func (c *LogCache) FirstIndex() (uint64, error) {
	return c.store.FirstIndex()
}

// LastIndex returns the wrapped store's last index.
func (c *LogCache) LastIndex() (uint64, error) {
	return c.store.LastIndex()
}

// DeleteRange removes the entries from min to max, both included, from the
// cache and then from the wrapped store. Meanwhile reads of those indexes go
// to the store, which still holds them until its DeleteRange returns.
func (c *LogCache) DeleteRange(min, max uint64) error {
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	c.invalidate(min, max)
	if err := c.store.DeleteRange(min, max); err != nil {
		return fmt.Errorf("log cache: deleting entries %d to %d: %w", min, max, err)
	}
	return nil
}

// invalidate drops the cached entries whose index lies in [min, max].
func (c *LogCache) invalidate(min, max uint64) {
	if min > max {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if max-min >= uint64(len(c.cache)-1) {
		clear(c.cache) // the range covers every slot
		return
	}
	for idx := min; ; idx++ {
		slot := &c.cache[idx%uint64(len(c.cache))]
		if *slot != nil && (*slot).Index == idx {
			*slot = nil
		}
		if idx == max {
			return
		}
	}
}
