package loadgen

import (
	"math/bits"
	"time"
)

// Histogram records latencies in log-linear buckets, the HdrHistogram
// layout: values below 2^subBits nanoseconds each get a bucket, and every
// power of two above is split into 2^subBits equal buckets, so a recorded
// value is known to within 1/128 (0.8%) whatever its size. Recording is a
// few shifts and an increment with no allocation, so each worker keeps
// its own and they are merged once at the end.
type Histogram struct {
	counts [nBuckets]uint64
	n      uint64
	sum    time.Duration
	max    time.Duration
}

const (
	subBits  = 7
	subCount = 1 << subBits
	// maxExp covers up to 2^(maxExp+subBits) ns (about 2.6 hours); a
	// longer value is clamped into the last bucket (max stays exact).
	maxExp   = 36
	nBuckets = (maxExp + 2) * subCount
)

func bucketOf(v time.Duration) int {
	if v < subCount {
		if v < 0 {
			return 0
		}
		return int(v)
	}
	u := uint64(v)
	exp := bits.Len64(u) - subBits - 1 // u>>exp is in [subCount, 2*subCount)
	if exp > maxExp {
		return nBuckets - 1
	}
	return (exp+1)*subCount + int(u>>exp) - subCount
}

// bucketMid is the middle of bucket i's value range.
func bucketMid(i int) time.Duration {
	if i < subCount {
		return time.Duration(i)
	}
	exp := i/subCount - 1
	lo := uint64(i%subCount+subCount) << exp
	return time.Duration(lo + (uint64(1)<<exp)/2)
}

// Record adds one latency.
func (h *Histogram) Record(d time.Duration) {
	h.counts[bucketOf(d)]++
	h.n++
	h.sum += d
	if d > h.max {
		h.max = d
	}
}

// Merge adds o's values to h.
func (h *Histogram) Merge(o *Histogram) {
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.n += o.n
	h.sum += o.sum
	h.max = max(h.max, o.max)
}

// Count is the number of recorded values.
func (h *Histogram) Count() uint64 { return h.n }

// Max is the largest recorded value, exactly.
func (h *Histogram) Max() time.Duration { return h.max }

// Mean is the average recorded value, exactly.
func (h *Histogram) Mean() time.Duration {
	if h.n == 0 {
		return 0
	}
	return h.sum / time.Duration(h.n)
}

// Quantile returns the value at or below which a fraction q (0..1] of the
// recorded values lie, to the histogram's precision, and never more than
// Max.
func (h *Histogram) Quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := uint64(q*float64(h.n) + 0.5)
	rank = min(max(rank, 1), h.n)
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			return min(bucketMid(i), h.max)
		}
	}
	return h.max
}
