package raft

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"reflect"
	"strings"
	"testing"
	"time"
	_ "time/tzdata" // the zones of TestBinaryTimeInZonesWithTransitions, wherever it runs
)

// binaryTimeCases returns MarshalBinary forms of many times: random instants
// from the year 1 to 9999 and around today, in UTC, in time.Local and in
// fixed zones (some with the offset time.Local has at another instant), and
// crafted forms that UnmarshalBinary decodes oddly (nanoseconds out of range,
// seconds near the ends of int64, version 2 with a seconds offset).
func binaryTimeCases(r *rand.Rand) [][]byte {
	var out [][]byte
	add := func(t time.Time) {
		b, err := t.MarshalBinary()
		if err == nil {
			out = append(out, b)
		}
	}
	now := time.Now()
	_, localOff := now.Zone()
	zones := []*time.Location{time.UTC, time.Local, time.FixedZone("", localOff), time.FixedZone("", localOff+3600), time.FixedZone("e", -5*3600)}
	for range 2000 {
		var t time.Time
		if r.IntN(2) == 0 {
			t = now.Add(time.Duration(r.Int64N(int64(20 * 365 * 24 * time.Hour))))
		} else {
			// Any second of the years 1 to 9999.
			t = time.Unix(r.Int64N(253402300799+unixToInternal)-unixToInternal, r.Int64N(1e9))
		}
		add(t.In(zones[r.IntN(len(zones))]))
	}
	add(time.Time{})
	add(now) // with a monotonic reading, which MarshalBinary drops
	raw := func(version byte, sec int64, nsec int32, offMin int16, offSec byte) {
		b := []byte{version}
		b = binary.BigEndian.AppendUint64(b, uint64(sec))
		b = binary.BigEndian.AppendUint32(b, uint32(nsec))
		b = binary.BigEndian.AppendUint16(b, uint16(offMin))
		if version == 2 {
			b = append(b, offSec)
		}
		out = append(out, b)
	}
	for _, off := range []int16{-1, 0, int16(localOff / 60), 330} {
		raw(1, 63900000000, -1, off, 0)
		raw(1, 63900000000, 1e9, off, 0)
		raw(1, math.MaxInt64, 5, off, 0)
		raw(1, math.MinInt64, 5, off, 0)
		raw(1, 1<<60+unixToInternal+1, 5, off, 0)
		raw(2, 63900000000, 7, off, 30)
		raw(3, 63900000000, 7, off, 0)
	}
	return out
}

// TestBinaryTimeMatchesUnmarshalBinary checks the fast path of the time
// decoder against the time package: the same value, down to its location,
// or a refusal that leaves the time to UnmarshalBinary. One decoder reads
// every case, in random order, so its remembered zone is both reused and
// replaced.
func TestBinaryTimeMatchesUnmarshalBinary(t *testing.T) {
	r := rand.New(rand.NewPCG(storeTestSeed(t), 1))
	cases := binaryTimeCases(r)
	r.Shuffle(len(cases), func(i, j int) { cases[i], cases[j] = cases[j], cases[i] })
	t.Logf("time.Local is %s", time.Local)
	var d mpDecoder
	for _, b := range cases {
		got, ok := d.binaryTime(b)
		var want time.Time
		err := want.UnmarshalBinary(b)
		if ok && err != nil {
			t.Fatalf("binaryTime accepted %x, which UnmarshalBinary refuses: %v", b, err)
		}
		if ok && !reflect.DeepEqual(got, want) {
			t.Fatalf("binaryTime(%x) = %#v (%v), UnmarshalBinary gives %#v (%v)", b, got, got, want, want)
		}
		// What raft writes, a time in UTC or in time.Local, must take the
		// fast path.
		nsec := int32(binary.BigEndian.Uint32(b[9:]))
		common := err == nil && b[0] == 1 && nsec >= 0 && nsec < 1e9 &&
			(want.Location() == time.UTC || want.Location() == time.Local) && want.Year() >= 1 && want.Year() <= 9999
		if common && !ok {
			t.Fatalf("binaryTime refused %x (%v), a time in %s", b, want, want.Location())
		}
	}
}

// TestBinaryTimeInZonesWithTransitions runs the test above with time.Local
// set, through TZ, to zones whose offset changes: daylight saving time in New
// York, half an hour in Lord Howe, and a zone that changed its standard
// offset. time.Local is set once per process, so each zone gets a process.
func TestBinaryTimeInZonesWithTransitions(t *testing.T) {
	for _, tz := range []string{"America/New_York", "Australia/Lord_Howe", "Pacific/Apia"} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestBinaryTimeMatchesUnmarshalBinary$", "-test.count=1", "-test.v")
		cmd.Env = append(os.Environ(), "TZ="+tz)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("TZ=%s: %v\n%s", tz, err, out)
		}
		if !strings.Contains(string(out), "time.Local is "+tz) {
			t.Fatalf("TZ=%s did not set time.Local in the child:\n%s", tz, out)
		}
	}
}
