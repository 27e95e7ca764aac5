package wal_test

import (
	"fmt"
	"log"
	"os"

	"github.com/raftkit/raft"
	"github.com/raftkit/raft/wal"
)

// One WAL serves raft as both its LogStore and its StableStore.
func ExampleOpen() {
	dir, err := os.MkdirTemp("", "wal-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	store, err := wal.Open(dir) // raft.NewRaft(conf, fsm, store, store, snaps, trans)
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()

	logs := []*raft.Log{
		{Index: 1, Term: 1, Type: raft.LogCommand, Data: []byte("x=1")},
		{Index: 2, Term: 1, Type: raft.LogCommand, Data: []byte("x=2")},
	}
	if err := store.StoreLogs(logs); err != nil { // durable when it returns
		log.Fatal(err)
	}
	if err := store.SetUint64([]byte("CurrentTerm"), 1); err != nil {
		log.Fatal(err)
	}

	var l raft.Log
	if err := store.GetLog(2, &l); err != nil {
		log.Fatal(err)
	}
	term, _ := store.GetUint64([]byte("CurrentTerm"))
	_, err = store.Get([]byte("LastVoteCand"))
	fmt.Printf("entry 2: %s, term %d, vote: %v\n", l.Data, term, err)
	// Output: entry 2: x=2, term 1, vote: not found
}
