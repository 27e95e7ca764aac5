package wal

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/raftkit/raft"
)

// The kill -9 test re-executes the test binary as a child that writes to a
// WAL and reports each acknowledged operation on stdout. The parent kills
// it at a random point, opens the WAL and checks that everything
// acknowledged is there, intact, and that nothing else is damaged.

const (
	crashDirEnv  = "WAL_CRASH_CHILD_DIR"
	crashSeedEnv = "WAL_CRASH_CHILD_SEED" // the child's choices, from the parent's seed
)

var crashOpts = []Option{WithSegmentSize(32 << 10), WithCacheEntries(64)}

// crashSize derives an entry's size from its index and term, so that the
// parent can check any entry from those two alone.
func crashSize(index, term uint64) int { return int((index*13 + term*7) % 400) }

func crashEntry(index, term uint64) *raft.Log { return entry(index, term, crashSize(index, term)) }

// TestCrashChild is the child; it does nothing unless run by TestKill9.
func TestCrashChild(t *testing.T) {
	dir := os.Getenv(crashDirEnv)
	if dir == "" {
		t.Skip("only run as the child of TestKill9")
	}
	seed, err := strconv.ParseUint(os.Getenv(crashSeedEnv), 10, 64)
	if err != nil {
		t.Fatalf("%s: %v", crashSeedEnv, err)
	}
	if err := crashChild(dir, seed); err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		os.Exit(3)
	}
	os.Exit(0)
}

// crashChild writes until killed (or for at most 20 s, or until stdout is
// gone). Lines: "s FROM TO TERM" / "a FROM TO" store begun / acknowledged;
// "C MIN" / "c MIN" tail cut begun / done; "H FIRST" / "h FIRST" head
// deletion begun / done; "t TERM" term set. A "begun" line is flushed
// before the operation starts, so the parent hears of every write that may
// have reached the disk.
func crashChild(dir string, seed uint64) error {
	w, err := Open(dir, crashOpts...)
	if err != nil {
		return err
	}
	out := bufio.NewWriter(os.Stdout)
	say := func(format string, args ...any) error {
		fmt.Fprintf(out, format+"\n", args...)
		return out.Flush()
	}
	term, _ := w.GetUint64([]byte("term"))
	commit, _ := w.GetCommitIndex()
	rng := rand.New(rand.NewPCG(seed, 0))
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); {
		first, _ := w.FirstIndex()
		last, _ := w.LastIndex()
		var err error
		switch op := rng.IntN(30); {
		case op == 0 || term == 0:
			term++
			if err = w.SetUint64([]byte("term"), term); err == nil {
				err = say("t %d", term)
			}
		case op == 1 && last > first+10 && last-10 > commit: // like raft: never cut a committed entry
			min := last - uint64(rng.IntN(10))
			if err = say("C %d", min); err == nil {
				if err = w.DeleteRange(min, last); err == nil {
					err = say("c %d", min)
				}
			}
		case op == 2 && last > first+300:
			newFirst := last - 100
			if err = say("H %d", newFirst); err == nil {
				if err = w.DeleteRange(first, newFirst-1); err == nil {
					err = say("h %d", newFirst)
				}
			}
		default:
			if last > 20 && last-20 > commit {
				commit = last - 20
			}
			err = crashStore(w, rng, last, term, commit, say)
		}
		if err != nil {
			return err
		}
	}
	return w.Close()
}

func crashStore(w *WAL, rng *rand.Rand, last, term, commit uint64, say func(string, ...any) error) error {
	from := last + 1
	to := from + uint64(rng.IntN(30))
	var logs []*raft.Log
	for i := from; i <= to; i++ {
		logs = append(logs, crashEntry(i, term))
	}
	if err := say("s %d %d %d", from, to, term); err != nil {
		return err
	}
	w.StageCommitIndex(commit)
	if err := w.StoreLogs(logs); err != nil {
		return err
	}
	return say("a %d %d", from, to)
}

// crashModel is what the parent learned from the child's reports.
//
// Raft's log is contiguous, so what must survive is a range: every index
// from head (or a pending head deletion's target) to ackedLast. Any index
// the WAL holds must hold what the child last began to store there: an
// entry whose cut was acknowledged never comes back, and an entry the WAL
// holds is never one that nobody stored.
type crashModel struct {
	stored      map[uint64]uint64 // index -> term of the last store begun there
	ackedLast   uint64            // last index acknowledged and not cut since
	head        uint64            // first index after the last acknowledged head deletion
	pendingHead uint64            // target of a head deletion begun, not acknowledged
	term        uint64            // last acknowledged term
	counts      map[string]int    // reports seen, by kind, for the test log
}

func newCrashModel() *crashModel {
	return &crashModel{stored: map[uint64]uint64{}, head: 1, counts: map[string]int{}}
}

func (m *crashModel) apply(line string) error {
	var op string
	var a, b, c uint64
	if _, err := fmt.Sscan(line, &op, &a); err != nil {
		return fmt.Errorf("bad line %q", line)
	}
	m.counts[op]++
	switch op {
	case "s":
		if _, err := fmt.Sscan(line, &op, &a, &b, &c); err != nil {
			return fmt.Errorf("bad line %q", line)
		}
		for i := a; i <= b; i++ {
			m.stored[i] = c
		}
	case "a":
		if _, err := fmt.Sscan(line, &op, &a, &b); err != nil {
			return fmt.Errorf("bad line %q", line)
		}
		m.ackedLast = b
	case "C":
		m.ackedLast = min(m.ackedLast, a-1)
	case "H":
		m.pendingHead = a
	case "h":
		for i := range m.stored {
			if i < a {
				delete(m.stored, i)
			}
		}
		m.head, m.pendingHead = a, 0
	case "t":
		m.term = a
	}
	return nil
}

// TestCrashModel replays the reports of children killed at awkward
// moments: between StoreLogs and its report (entries 11 to 15 and 21 to 22
// stored, never acknowledged), and inside a tail cut.
func TestCrashModel(t *testing.T) {
	m := newCrashModel()
	for _, line := range []string{
		"t 3", "s 1 10 3", "a 1 10", "s 11 15 3", // killed in StoreLogs
		"s 16 20 3", "a 16 20", "C 12", // killed in the cut
		"t 4", "s 21 22 4", // killed in StoreLogs: the cut had not happened
		"C 14", "c 14", "t 5", "s 14 14 5", "a 14 14",
	} {
		if err := m.apply(line); err != nil {
			t.Fatal(err)
		}
	}
	want := map[uint64]uint64{1: 3, 10: 3, 11: 3, 13: 3, 14: 5, 15: 3, 20: 3, 21: 4, 22: 4}
	for i, term := range want {
		if m.stored[i] != term {
			t.Errorf("entry %d: term %d, want %d", i, m.stored[i], term)
		}
	}
	if m.ackedLast != 14 || m.term != 5 {
		t.Errorf("ackedLast %d, term %d; want 14, 5", m.ackedLast, m.term)
	}
}

// check verifies the WAL in dir against the model after a kill.
func (m *crashModel) check(t *testing.T, dir string) {
	t.Helper()
	w, err := Open(dir, crashOpts...)
	if err != nil {
		t.Fatalf("Open after kill -9: %v", err)
	}
	defer w.Close()
	if term, _ := w.GetUint64([]byte("term")); term < m.term {
		t.Fatalf("term %d after kill, %d was acknowledged", term, m.term)
	}
	first, _ := w.FirstIndex()
	last, _ := w.LastIndex()
	if m.ackedLast >= m.head && (first < m.head || first > max(m.head, m.pendingHead)) {
		t.Fatalf("first index %d, want %d (or up to %d)", first, m.head, m.pendingHead)
	}
	if last < m.ackedLast {
		t.Fatalf("last index %d, but %d was acknowledged", last, m.ackedLast)
	}
	for i := first; i <= last && i != 0; i++ {
		var got raft.Log
		if err := w.GetLog(i, &got); err != nil {
			t.Fatalf("GetLog(%d) in [%d, %d]: %v", i, first, last, err)
		}
		term, ok := m.stored[i]
		if !ok {
			t.Fatalf("after kill: entry %d (term %d) was never stored", i, got.Term)
		}
		if d := sameLog(&got, crashEntry(i, term)); d != "" {
			t.Fatalf("after kill: %s", d)
		}
	}
	if c, _ := w.GetCommitIndex(); c > last && last != 0 {
		t.Fatalf("commit index %d beyond the last index %d", c, last)
	}
}

// TestKill9 kills a writing child process hundreds of times at random
// points and checks after each kill that no acknowledged write was lost.
func TestKill9(t *testing.T) {
	rounds := 300
	if testing.Short() {
		rounds = 20
	}
	rng := killRand(t, 1)
	dir := t.TempDir()
	m := newCrashModel()
	for round := 0; round < rounds; round++ {
		killAfter := 1 + rng.IntN(25)
		env := []string{crashDirEnv + "=" + dir, fmt.Sprintf("%s=%d", crashSeedEnv, rng.Uint64())}
		killedChild(t, "TestCrashChild", env, killAfter, func(line string) {
			if err := m.apply(line); err != nil {
				t.Fatal(err)
			}
		})
		m.check(t, dir)
	}
	t.Logf("%d rounds; reports: %v; log ends at %d with %d segments",
		rounds, m.counts, m.ackedLast, len(segFiles(t, dir)))
	if m.counts["a"] < rounds || m.counts["c"] == 0 || m.counts["h"] == 0 {
		t.Fatalf("the children did too little to test anything: %v", m.counts)
	}
}

// killedChild runs the test named child in a new process of this test
// binary, with env added to its environment, and kills it once it has
// printed killAfter lines. It hands every line to line, those printed
// before the kill took effect included: what a child reported before it
// died happened.
func killedChild(t *testing.T, child string, env []string, killAfter int, line func(string)) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^"+child+"$", "-test.count=1")
	cmd.Env = append(os.Environ(), env...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(stdout)
	n := 0
	for ; n < killAfter && sc.Scan(); n++ {
		line(sc.Text())
	}
	cmd.Process.Kill()
	for ; sc.Scan(); n++ {
		line(sc.Text())
	}
	cmd.Wait()
	if n < killAfter {
		t.Fatalf("%s stopped after %d lines: %s", child, n, stderr.String())
	}
}

// killRand returns the random source of a kill -9 test, seeded with
// -wal.seed or else from the clock; the seed is logged. It fixes after how
// many lines each child is killed and each child's random stream. Where
// inside an operation a kill lands still varies, and what it leaves behind
// steers later children, so a replay repeats a failing run closely, not
// always exactly.
func killRand(t *testing.T, stream uint64) *rand.Rand {
	t.Helper()
	seed := *propSeed
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	t.Logf("seed %d (replay with -wal.seed=%d)", seed, seed)
	return rand.New(rand.NewPCG(seed, stream))
}
