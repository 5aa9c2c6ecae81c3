"""Latency percentiles and ratios in integers: microseconds and basis points, never a float ratio.

Invariants:
- a percentile is the nearest-rank value: the smallest sample with at least ``p`` of the samples
  at or below it (so p100 is the maximum, and every reported value was actually observed);
- a histogram percentile returns the upper edge of the bucket holding the nearest-rank sample,
  so it never under-reports a latency by more than one bucket;
- a ratio is ``round(measured × 10 000 / baseline)`` basis points; a zero baseline has no ratio.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

BASIS_POINTS = 10_000
PERCENT_BP = 100  # one percent, in basis points


def nearest_rank(count: int, percentile_bp: int) -> int:
    """The 1-based rank of the ``percentile_bp`` percentile among ``count`` sorted samples."""
    if count <= 0:
        raise ValueError("no samples")
    if not 0 < percentile_bp <= BASIS_POINTS:
        raise ValueError(f"percentile {percentile_bp} bp is outside (0, 10000]")
    return max(1, -((-count * percentile_bp) // BASIS_POINTS))


def percentile(samples: Sequence[int], percentile_bp: int) -> int:
    """Nearest-rank percentile of integer samples (``percentile_bp`` 5000 = p50, 9900 = p99)."""
    ordered = sorted(samples)
    return ordered[nearest_rank(len(ordered), percentile_bp) - 1]


@dataclass(frozen=True)
class Spread:
    count: int
    p50: int
    p99: int
    max: int


def spread(samples: Sequence[int]) -> Spread | None:
    if not samples:
        return None
    ordered = sorted(samples)
    rank50 = nearest_rank(len(ordered), 50 * PERCENT_BP)
    rank99 = nearest_rank(len(ordered), 99 * PERCENT_BP)
    return Spread(len(ordered), ordered[rank50 - 1], ordered[rank99 - 1], ordered[-1])


class Histogram:
    """Counts of integer samples in fixed-width buckets; the last bucket takes everything above."""

    def __init__(self, bucket_width: int, buckets: int) -> None:
        if bucket_width <= 0 or buckets <= 0:
            raise ValueError("bucket width and count must be positive")
        self.bucket_width = bucket_width
        self.counts = [0] * buckets
        self.total = 0
        self.largest = 0

    def add(self, value: int) -> None:
        index = min(max(value, 0) // self.bucket_width, len(self.counts) - 1)
        self.counts[index] += 1
        self.total += 1
        self.largest = max(self.largest, value)

    def add_differences(self, later: Sequence[int], earlier: Sequence[int]) -> None:
        """Add ``l − e`` for every ``l`` in ``later`` and ``e`` in ``earlier`` (what :meth:`add` of
        each would do, without a call per pair: one receipt time of a frame against the send times
        of all its bids)."""
        if not later or not earlier:
            return
        counts, width, last = self.counts, self.bucket_width, len(self.counts) - 1
        for value in later:
            for base in earlier:
                counts[min(max(value - base, 0) // width, last)] += 1
        self.total += len(later) * len(earlier)
        self.largest = max(self.largest, max(later) - min(earlier))

    def merge(self, other: Histogram) -> None:
        if other.bucket_width != self.bucket_width or len(other.counts) != len(self.counts):
            raise ValueError("histograms with different buckets do not merge")
        for index, count in enumerate(other.counts):
            self.counts[index] += count
        self.total += other.total
        self.largest = max(self.largest, other.largest)

    def percentile(self, percentile_bp: int) -> int:
        """Upper edge of the bucket holding the nearest-rank sample (capped at the largest sample)."""
        rank = nearest_rank(self.total, percentile_bp)
        seen = 0
        for index, count in enumerate(self.counts):
            seen += count
            if seen >= rank:
                return min((index + 1) * self.bucket_width, self.largest)
        return self.largest

    def spread(self) -> Spread | None:
        if self.total == 0:
            return None
        return Spread(
            self.total, self.percentile(50 * PERCENT_BP), self.percentile(99 * PERCENT_BP), self.largest
        )

    def to_sparse(self) -> dict[str, int]:
        return {str(index): count for index, count in enumerate(self.counts) if count}

    @classmethod
    def from_sparse(cls, bucket_width: int, buckets: int, sparse: dict[str, int], largest: int) -> Histogram:
        histogram = cls(bucket_width, buckets)
        for index, count in sparse.items():
            histogram.counts[int(index)] += count
            histogram.total += count
        histogram.largest = largest
        return histogram


def ratio_bp(measured: float, baseline: float) -> int | None:
    """``measured / baseline`` in basis points, rounded half up; ``None`` without a baseline."""
    if baseline <= 0:
        return None
    scaled = int(measured * 1_000_000) * BASIS_POINTS
    base = int(baseline * 1_000_000)
    return (2 * scaled + base) // (2 * base)


def format_bp_as_times(bp: int | None) -> str:
    """``12345`` → ``1.23×`` (truncated to hundredths); ``None`` → ``n/a``."""
    if bp is None:
        return "n/a"
    return f"{bp // BASIS_POINTS}.{bp % BASIS_POINTS // 100:02d}×"


def format_us_as_ms(microseconds: int | None) -> str:
    """``12345`` µs → ``12.3`` ms (truncated to tenths); ``None`` → ``–``."""
    if microseconds is None:
        return "–"
    return f"{microseconds // 1000}.{microseconds % 1000 // 100}"
