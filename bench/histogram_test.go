package bench

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// Every value falls in the bucket whose bounds enclose it, and bucket lower
// bounds increase.
func TestHistogramBuckets(t *testing.T) {
	values := []uint64{0, 1, 63, 64, 65, 127, 128, 1000, 123456789, 1 << 40, math.MaxUint64}
	for _, v := range values {
		i := bucketOf(v)
		if i < 0 || i >= bucketCount {
			t.Fatalf("bucketOf(%d) = %d, out of [0, %d)", v, i, bucketCount)
		}
		if lo := lowerBound(i); lo > v {
			t.Errorf("bucket %d of %d starts at %d, above it", i, v, lo)
		}
		if i+1 < bucketCount && lowerBound(i+1) <= v {
			t.Errorf("bucket %d of %d ends at %d, not above it", i, v, lowerBound(i+1))
		}
	}
	for i := 1; i < bucketCount; i++ {
		if lowerBound(i) <= lowerBound(i-1) {
			t.Fatalf("lowerBound(%d) = %d, not above lowerBound(%d) = %d", i, lowerBound(i), i-1, lowerBound(i-1))
		}
	}
}

// Quantiles are within the bucket precision (1/64) of the exact ones.
func TestHistogramQuantiles(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var h histogram
	var exact []time.Duration
	for range 100000 {
		d := time.Duration(r.ExpFloat64() * float64(200*time.Microsecond))
		h.record(d)
		exact = append(exact, d)
	}
	slices.Sort(exact)
	for _, q := range []float64{0.01, 0.5, 0.9, 0.99, 0.999} {
		want := exact[int(q*float64(len(exact)))-1]
		got := h.quantile(q)
		if diff := math.Abs(float64(got-want)) / float64(want); diff > 1.0/64 {
			t.Errorf("quantile(%v) = %v, want %v within 1/64", q, got, want)
		}
	}
}

func TestHistogramEdges(t *testing.T) {
	var h histogram
	if got := h.quantile(0.5); got != 0 {
		t.Errorf("empty quantile = %v, want 0", got)
	}
	h.record(-time.Second)
	h.record(7)
	if got := h.quantile(0); got != 0 {
		t.Errorf("quantile(0) = %v, want 0 (the negative latency)", got)
	}
	if got := h.quantile(1); got != 7 {
		t.Errorf("quantile(1) = %v, want 7ns", got)
	}
}

// A histogram sent as sparse pairs and added back equals the original, and
// merge adds counts.
func TestHistogramSparseAndMerge(t *testing.T) {
	var a histogram
	for _, d := range []time.Duration{5, 5, 300, 70 * time.Millisecond} {
		a.record(d)
	}
	var b histogram
	if err := b.addSparse(a.sparse()); err != nil {
		t.Fatal(err)
	}
	if b != a {
		t.Fatalf("histogram after sparse round trip differs")
	}
	b.merge(&a)
	if b.total != 8 || b.counts[5] != 4 {
		t.Fatalf("merged total %d, bucket 5 = %d; want 8 and 4", b.total, b.counts[5])
	}
	if err := b.addSparse([][2]uint64{{1, 1}, {bucketCount, 1}}); err == nil {
		t.Fatal("addSparse accepted a bucket out of range")
	}
	if b.total != 8 {
		t.Fatalf("a refused addSparse changed the total to %d", b.total)
	}
}
