package tag

import (
	"fmt"
	"math"
	"math/bits"
	"math/rand/v2"
	"testing"
	"time"
)

func TestRotatingIDStable(t *testing.T) {
	var s Secret
	for i := range s {
		s[i] = byte(i)
	}
	a, b := RotatingID(s, 100), RotatingID(s, 100)
	if a != b {
		t.Fatalf("RotatingID differs for the same secret and window: %s and %s", a, b)
	}
	if RotatingID(s, 101) == a {
		t.Errorf("RotatingID is the same in windows 100 and 101")
	}
	s2 := s
	s2[0] ^= 1
	if RotatingID(s2, 100) == a {
		t.Errorf("RotatingID is the same for secrets that differ in one bit")
	}
}

func TestWindowBounds(t *testing.T) {
	start := WindowStart(2_000_000)
	if Window(start) != 2_000_000 {
		t.Errorf("Window(WindowStart(w)) = %d, want %d", Window(start), 2_000_000)
	}
	if Window(start.Add(WindowLength-time.Nanosecond)) != 2_000_000 {
		t.Errorf("the last instant of a window belongs to the next one")
	}
	if Window(start.Add(WindowLength)) != 2_000_001 {
		t.Errorf("a window's end does not start the next window")
	}
}

func TestParseSecretAndID(t *testing.T) {
	s := NewSecret()
	got, err := ParseSecret(s.String())
	if err != nil || got != s {
		t.Fatalf("ParseSecret(%s) = %v, %v", s, got, err)
	}
	if _, err := ParseSecret("abc"); err == nil {
		t.Errorf("ParseSecret accepted a short secret")
	}
	id := RotatingID(s, 7)
	back, err := ParseID(id.String())
	if err != nil || back != id {
		t.Fatalf("ParseID(%s) = %v, %v", id, back, err)
	}
	if _, err := ParseID("zz" + id.String()[2:]); err == nil {
		t.Errorf("ParseID accepted non-hex")
	}
}

// linkingTrial holds the identifiers of tags over windows: ids[w][i] is
// what tag i broadcast in window w.
func linkingTrial(tags, windows int, seed uint64) ([]Secret, [][]ID) {
	rng := rand.New(rand.NewPCG(seed, 1))
	secrets := make([]Secret, tags)
	for i := range secrets {
		for j := range secrets[i] {
			secrets[i][j] = byte(rng.Uint32())
		}
	}
	ids := make([][]ID, windows)
	for w := range ids {
		ids[w] = make([]ID, tags)
		for i, s := range secrets {
			ids[w][i] = RotatingID(s, int64(29_000_000+w))
		}
	}
	return secrets, ids
}

func hamming(a, b ID) int {
	n := 0
	for i := range a {
		n += bits.OnesCount8(a[i] ^ b[i])
	}
	return n
}

// An observer without the secrets links each identifier of a window to
// the identifier of the previous window that is nearest in Hamming
// distance, the best guess if identifiers leaked their tag through their
// bits. Each guess is right with probability 1/tags by chance; the count
// of right guesses must stay within four standard deviations of that
// binomial's mean, a bound that chance alone exceeds with probability
// below 1e-4.
func TestUnlinkableNearestID(t *testing.T) {
	const tags, windows = 64, 50
	_, ids := linkingTrial(tags, windows, 1)

	right, trials := 0, 0
	for w := 1; w < windows; w++ {
		for i, id := range ids[w] {
			best, bestDist := 0, math.MaxInt
			for j, prev := range ids[w-1] {
				if d := hamming(id, prev); d < bestDist {
					best, bestDist = j, d
				}
			}
			if best == i {
				right++
			}
			trials++
		}
	}
	p := 1.0 / tags
	mean := float64(trials) * p
	bound := mean + 4*math.Sqrt(float64(trials)*p*(1-p))
	t.Logf("nearest-identifier linking: %d of %d right; chance gives %.1f, bound %.1f", right, trials, mean, bound)
	if float64(right) > bound {
		t.Errorf("linking attack got %d of %d right, above the chance bound %.1f", right, trials, bound)
	}
}

// If any bit of a tag's identifier carried over to its next identifier,
// that bit would agree between consecutive windows more often than half
// the time. The chi-square statistic over all 64 bit positions, with 64
// degrees of freedom, exceeds 120 by chance with probability below 1e-5.
func TestUnlinkableBitAgreement(t *testing.T) {
	const tags, windows = 64, 50
	_, ids := linkingTrial(tags, windows, 2)

	var agree [IDSize * 8]int
	pairs := 0
	for w := 1; w < windows; w++ {
		for i := range tags {
			for b := range IDSize * 8 {
				x := ids[w][i][b/8] >> (b % 8) & 1
				y := ids[w-1][i][b/8] >> (b % 8) & 1
				if x == y {
					agree[b]++
				}
			}
			pairs++
		}
	}
	var chi2 float64
	for _, a := range agree {
		d := float64(2*a - pairs)
		chi2 += d * d / float64(pairs)
	}
	t.Logf("bit agreement between consecutive windows: chi-square %.1f over 64 bits, %d pairs", chi2, pairs)
	if chi2 > 120 {
		t.Errorf("identifier bits carry over between windows: chi-square %.1f > 120", chi2)
	}
}

// The guardian, holding the secrets, resolves every identifier of every
// window to its own tag.
func TestGuardianResolvesAll(t *testing.T) {
	const tags, windows = 64, 50
	secrets, ids := linkingTrial(tags, windows, 3)
	named := map[string]Secret{}
	for i, s := range secrets {
		named[fmt.Sprintf("tag-%d", i)] = s
	}
	from := WindowStart(29_000_000)
	to := WindowStart(29_000_000 + windows - 1)
	r := NewResolver(named, from, to)
	for w := range ids {
		for i, id := range ids[w] {
			name, ok := r.Name(id)
			want := fmt.Sprintf("tag-%d", i)
			if !ok || name != want {
				t.Fatalf("window %d: identifier of tag %s resolved to %q, %v", w, want, name, ok)
			}
		}
	}
}

// A tag whose clock runs one window ahead of or behind the relay's is
// still resolved; two windows off is not.
func TestResolverClockSkew(t *testing.T) {
	s := NewSecret()
	now := WindowStart(30_000_000).Add(time.Minute)
	r := NewResolver(map[string]Secret{"amy": s}, now, now)
	for _, off := range []int64{-1, 0, 1} {
		if _, ok := r.Name(RotatingID(s, Window(now)+off)); !ok {
			t.Errorf("identifier of window offset %d not resolved", off)
		}
	}
	if _, ok := r.Name(RotatingID(s, Window(now)+2)); ok {
		t.Errorf("identifier two windows ahead resolved; the resolver should hold only ±%d", ClockSkew)
	}

	other := RotatingID(NewSecret(), Window(now))
	sightings := []Sighting{
		{ID: RotatingID(s, Window(now)), Relay: "a", RSSI: -70, Time: now.Add(time.Second)},
		{ID: other, Relay: "a", RSSI: -60, Time: now},
		{ID: RotatingID(s, Window(now)-1), Relay: "b", RSSI: -80, Time: now},
	}
	got := r.Resolve(sightings)
	if len(got) != 1 || len(got["amy"]) != 2 {
		t.Fatalf("Resolve = %v, want two sightings of amy", got)
	}
	if !got["amy"][0].Time.Before(got["amy"][1].Time) {
		t.Errorf("Resolve did not sort sightings by time")
	}
}
