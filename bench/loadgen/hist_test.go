package loadgen

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

func TestBucketPrecision(t *testing.T) {
	for _, v := range []time.Duration{0, 1, 127, 128, 129, 255, 256, 1000, 12345, time.Microsecond * 77, time.Millisecond, 3*time.Millisecond + 7, time.Second, time.Minute, 2 * time.Hour} {
		mid := bucketMid(bucketOf(v))
		if err := math.Abs(float64(mid-v)) / math.Max(float64(v), 1); err > 1.0/subCount {
			t.Errorf("value %d: bucket middle %d is %.4f off", v, mid, err)
		}
	}
	// Buckets are ordered: a larger value never lands in an earlier bucket.
	prev := 0
	for v := time.Duration(0); v < 10*time.Second; v = v*9/8 + 1 {
		b := bucketOf(v)
		if b < prev {
			t.Fatalf("value %d in bucket %d, before %d", v, b, prev)
		}
		prev = b
	}
	if b := bucketOf(100 * time.Hour); b != nBuckets-1 {
		t.Errorf("a huge value lands in bucket %d, want the last (%d)", b, nBuckets-1)
	}
	if b := bucketOf(-5); b != 0 {
		t.Errorf("a negative value lands in bucket %d", b)
	}
}

func TestHistogramQuantilesMatchSortedSamples(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var h1, h2 Histogram
	var all []time.Duration
	for i := range 100_000 {
		// A long-tailed latency distribution, 50µs to ~1s.
		v := time.Duration(50_000 * math.Exp(rng.Float64()*10))
		all = append(all, v)
		if i%2 == 0 {
			h1.Record(v)
		} else {
			h2.Record(v)
		}
	}
	h1.Merge(&h2)
	slices.Sort(all)
	if h1.Count() != uint64(len(all)) {
		t.Fatalf("count %d, want %d", h1.Count(), len(all))
	}
	if h1.Max() != all[len(all)-1] {
		t.Errorf("max %v, want %v", h1.Max(), all[len(all)-1])
	}
	for _, q := range []float64{0.01, 0.5, 0.9, 0.99, 0.999, 1} {
		want := all[int(math.Ceil(q*float64(len(all))))-1]
		got := h1.Quantile(q)
		if err := math.Abs(float64(got-want)) / float64(want); err > 0.01 {
			t.Errorf("q%.3f = %v, sorted samples say %v (%.2f%% off)", q, got, want, 100*err)
		}
	}
	var sum time.Duration
	for _, v := range all {
		sum += v
	}
	if h1.Mean() != sum/time.Duration(len(all)) {
		t.Errorf("mean %v, want %v", h1.Mean(), sum/time.Duration(len(all)))
	}
}

func TestEmptyHistogram(t *testing.T) {
	var h Histogram
	if h.Quantile(0.99) != 0 || h.Mean() != 0 || h.Max() != 0 {
		t.Error("an empty histogram reports non-zero figures")
	}
}
