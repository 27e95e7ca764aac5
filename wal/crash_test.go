package wal

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/raftkit/raft"
)

// The kill -9 test re-executes the test binary as a child that writes to a
// WAL and reports each acknowledged operation on stdout. The parent kills
// it at a random point, opens the WAL and checks that everything
// acknowledged is there, intact, and that nothing else is damaged.

const crashDirEnv = "WAL_CRASH_CHILD_DIR"

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
	if err := crashChild(dir); err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		os.Exit(3)
	}
	os.Exit(0)
}

// crashChild writes until killed (or for at most 20 s, or until stdout is
// gone). Lines: "a FROM TO TERM" stored; "C MIN" / "c MIN" tail cut begun /
// done; "H FIRST" / "h FIRST" head deletion begun / done; "t TERM" term set.
func crashChild(dir string) error {
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
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 0))
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
	w.StageCommitIndex(commit)
	if err := w.StoreLogs(logs); err != nil {
		return err
	}
	return say("a %d %d %d", from, to, term)
}

// crashModel is what the parent learned from the child's reports.
type crashModel struct {
	acked       map[uint64]uint64 // index -> term of acknowledged entries
	maybe       map[uint64]uint64 // entries of a tail cut begun, not acknowledged
	head        uint64            // first index after the last acknowledged head deletion
	pendingHead uint64            // target of a head deletion begun, not acknowledged
	term        uint64            // last acknowledged term
	ackedLast   uint64
	counts      map[string]int // reports seen, by kind, for the test log
}

func newCrashModel() *crashModel {
	return &crashModel{acked: map[uint64]uint64{}, maybe: map[uint64]uint64{}, head: 1, counts: map[string]int{}}
}

func (m *crashModel) apply(line string) error {
	var op string
	var a, b, c uint64
	if _, err := fmt.Sscan(line, &op, &a); err != nil {
		return fmt.Errorf("bad line %q", line)
	}
	m.counts[op]++
	switch op {
	case "a":
		if _, err := fmt.Sscan(line, &op, &a, &b, &c); err != nil {
			return fmt.Errorf("bad line %q", line)
		}
		for i := a; i <= b; i++ {
			m.acked[i] = c
		}
		m.ackedLast = b
		clear(m.maybe)
	case "C":
		// Only acknowledged entries move to maybe. An entry in the range
		// that was never acknowledged (stored by a child killed before it
		// reported) has no known term: check only finds it intact.
		for i := a; i <= m.ackedLast; i++ {
			if term, ok := m.acked[i]; ok {
				m.maybe[i] = term
				delete(m.acked, i)
			}
		}
		m.ackedLast = min(m.ackedLast, a-1)
	case "c":
		clear(m.maybe)
	case "H":
		m.pendingHead = a
	case "h":
		for i := range m.acked {
			if i < a {
				delete(m.acked, i)
			}
		}
		m.head, m.pendingHead = a, 0
	case "t":
		m.term = a
	}
	return nil
}

// TestCrashModelCutsOnlyKnownEntries replays what a child killed between
// StoreLogs and its report leaves behind: entries 11 to 15 are in the WAL
// but were never acknowledged. A later tail cut over them must not give
// them a term (the model once recorded term 0, failing an intact entry).
func TestCrashModelCutsOnlyKnownEntries(t *testing.T) {
	m := newCrashModel()
	for _, line := range []string{"t 3", "a 1 10 3", "a 16 20 3", "C 12"} {
		if err := m.apply(line); err != nil {
			t.Fatal(err)
		}
	}
	for i := uint64(12); i <= 20; i++ {
		term, maybe := m.maybe[i]
		if _, acked := m.acked[i]; acked {
			t.Errorf("entry %d still acknowledged after a cut at 12 began", i)
		}
		if known := i >= 16; maybe != known || (maybe && term != 3) {
			t.Errorf("entry %d: maybe %v with term %d, want maybe %v with term 3", i, maybe, term, known)
		}
	}
	if m.ackedLast != 11 || m.acked[11] != 0 || m.acked[10] != 3 {
		t.Errorf("ackedLast %d, acked[10] %d, acked[11] %d; want 11, 3, 0", m.ackedLast, m.acked[10], m.acked[11])
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
	if len(m.acked) > 0 && (first < m.head || first > max(m.head, m.pendingHead)) {
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
		want, ok := m.acked[i]
		if !ok {
			want, ok = m.maybe[i]
		}
		if !ok { // written but never acknowledged: must still be intact
			want = got.Term
		}
		if d := sameLog(&got, crashEntry(i, want)); d != "" {
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
	if os.Getenv(crashDirEnv) != "" {
		t.Skip("child")
	}
	rounds := 300
	if testing.Short() {
		rounds = 20
	}
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 1))
	dir := t.TempDir()
	m := newCrashModel()
	for round := 0; round < rounds; round++ {
		killAfter := 1 + rng.IntN(25)
		crashRound(t, dir, m, killAfter)
		m.check(t, dir)
	}
	t.Logf("%d rounds; reports: %v; log ends at %d with %d segments",
		rounds, m.counts, m.ackedLast, len(segFiles(t, dir)))
	if m.counts["a"] < rounds || m.counts["c"] == 0 || m.counts["h"] == 0 {
		t.Fatalf("the children did too little to test anything: %v", m.counts)
	}
}

// crashRound starts a child and kills it after it acknowledged killAfter
// operations.
func crashRound(t *testing.T, dir string, m *crashModel, killAfter int) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashDirEnv+"="+dir)
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
	for n < killAfter && sc.Scan() {
		if err := m.apply(sc.Text()); err != nil {
			t.Fatal(err)
		}
		n++
	}
	cmd.Process.Kill()
	for sc.Scan() { // lines written before the kill were acknowledged too
		if err := m.apply(sc.Text()); err != nil {
			t.Fatal(err)
		}
		n++
	}
	cmd.Wait()
	if n < killAfter {
		t.Fatalf("child stopped after %d lines: %s", n, stderr.String())
	}
}
