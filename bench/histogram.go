package bench

import (
	"fmt"
	"math/bits"
	"time"
)

// histogram counts latencies in log-linear buckets: exact below 64 ns, then
// 64 buckets per power of two, so that a quantile is within 1/64 (1.6%) of
// the true value. Recording is an index and an increment: cheap enough to
// sit inside a timed loop. The zero value is ready to use.
type histogram struct {
	counts [bucketCount]uint64
	total  uint64
}

const (
	subBits     = 6
	subBuckets  = 1 << subBits
	bucketCount = (64 - subBits + 1) * subBuckets
)

// bucketOf returns the bucket holding v nanoseconds.
func bucketOf(v uint64) int {
	if v < subBuckets {
		return int(v)
	}
	exp := bits.Len64(v) - 1 // ≥ subBits
	sub := int(v>>(exp-subBits)) & (subBuckets - 1)
	return (exp-subBits+1)*subBuckets + sub
}

// lowerBound returns the smallest value of bucket i.
func lowerBound(i int) uint64 {
	if i < subBuckets {
		return uint64(i)
	}
	exp := i/subBuckets + subBits - 1
	sub := uint64(i % subBuckets)
	return (subBuckets + sub) << (exp - subBits)
}

// record counts one latency; negative durations count as zero.
func (h *histogram) record(d time.Duration) {
	h.counts[bucketOf(uint64(max(d, 0)))]++
	h.total++
}

// merge adds the counts of o to h.
func (h *histogram) merge(o *histogram) {
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.total += o.total
}

// quantile returns the latency below which a fraction q of the recorded
// ones lie (the lower bound of the bucket holding that rank), or 0 when
// nothing was recorded.
func (h *histogram) quantile(q float64) time.Duration {
	if h.total == 0 {
		return 0
	}
	rank := uint64(q * float64(h.total))
	rank = min(max(rank, 1), h.total) // the rank-th smallest, 1-based
	var seen uint64
	for i, c := range h.counts {
		if seen += c; seen >= rank {
			return time.Duration(lowerBound(i))
		}
	}
	return time.Duration(lowerBound(bucketCount - 1))
}

// sparse returns the non-empty buckets as (bucket, count) pairs, the form in
// which a child process sends its histogram to the parent.
func (h *histogram) sparse() [][2]uint64 {
	var out [][2]uint64
	for i, c := range h.counts {
		if c > 0 {
			out = append(out, [2]uint64{uint64(i), c})
		}
	}
	return out
}

// addSparse adds pairs made by sparse to h. A bucket out of range is an
// error, and leaves h unchanged.
func (h *histogram) addSparse(pairs [][2]uint64) error {
	for _, p := range pairs {
		if p[0] >= bucketCount {
			return fmt.Errorf("latency bucket %d out of range [0, %d)", p[0], bucketCount)
		}
	}
	for _, p := range pairs {
		h.counts[p[0]] += p[1]
		h.total += p[1]
	}
	return nil
}
