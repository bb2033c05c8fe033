"""Rolling-window maths for the analytics nodes (no I/O, no runtime).

A :class:`RollingWindow` keeps the readings ``(t, v)`` of the last ``size`` messages or of
the last ``seconds`` of message time and answers, in O(1) amortised per reading:

* count, mean, sample standard deviation (running sums of shifted values),
* min and max (monotonic deques),
* the least-squares line of value over time (slope per second, intercept, r²).

Precision: time is kept relative to a base (the oldest reading at the last rebase) and
values relative to a base value, so epoch-sized timestamps (1.7e9 s) and large offsets
lose no digits to cancellation. The running sums are recomputed exactly from the window
(and the bases moved to its oldest reading) once per window length of removals, which
bounds the drift of add/remove updates at O(1) amortised cost.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from typing import Any

__all__ = ["Fit", "RollingWindow", "WindowError", "to_number"]


class WindowError(ValueError):
    """A reading the window cannot take (time going backwards)."""


def to_number(value: Any) -> float | None:
    """A finite float from a number or a numeric string (``" 12.5 "``, ``"1e3"``);
    None for anything else (booleans, empty text, ``"12abc"``, NaN, infinities)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):
        text = value.strip()
        if not text:
            return None
        try:
            number = float(text)
        except ValueError:
            return None
    else:
        return None
    return number if math.isfinite(number) else None


@dataclass(frozen=True)
class Fit:
    """A least-squares line ``v = value_at(t)`` over the window."""

    slope: float
    """Units per second."""
    mean_t: float
    mean_v: float
    r2: float | None
    """Coefficient of determination; None when the values do not vary (0/0)."""

    def value_at(self, t: float) -> float:
        return self.mean_v + self.slope * (t - self.mean_t)


class RollingWindow:
    """The readings of the last ``size`` messages, or of the last ``seconds`` seconds.

    Exactly one of ``size`` and ``seconds`` is given. In a time window a reading is kept
    while ``latest_t - t <= seconds``. Readings must come in time order (equal times are
    fine); an older one raises :class:`WindowError` and leaves the window unchanged.
    """

    def __init__(self, *, size: int | None = None, seconds: float | None = None) -> None:
        if (size is None) == (seconds is None):
            raise ValueError("give exactly one of size and seconds")
        if size is not None and size < 1:
            raise ValueError("size must be at least 1")
        if seconds is not None and not seconds > 0:
            raise ValueError("seconds must be greater than 0")
        self.size = size
        self.seconds = seconds
        self._items: deque[tuple[int, float, float]] = deque()  # (seq, t, v)
        self._max: deque[tuple[int, float]] = deque()  # (seq, v), v decreasing
        self._min: deque[tuple[int, float]] = deque()  # (seq, v), v increasing
        self._seq = 0
        self._removed = 0
        self._started: float | None = None  # time of the first reading since clear()
        self._tb = 0.0
        self._vb = 0.0
        self._st = self._sv = self._stt = self._svv = self._stv = 0.0

    # ----- updating -------------------------------------------------------------------

    def clear(self) -> None:
        self._items.clear()
        self._max.clear()
        self._min.clear()
        self._removed = 0
        self._started = None
        self._st = self._sv = self._stt = self._svv = self._stv = 0.0

    def add(self, t: float, v: float) -> None:
        """Add one reading and drop those that fall out of the window."""
        items = self._items
        if items and t < items[-1][1]:
            raise WindowError(
                f"time {t} is older than the previous reading ({items[-1][1]}): "
                "readings must come in time order"
            )
        if not items:
            self._tb, self._vb = t, v
            self._st = self._sv = self._stt = self._svv = self._stv = 0.0
        if self._started is None:
            self._started = t
        seq = self._seq
        self._seq += 1
        items.append((seq, t, v))
        self._accumulate(t, v, 1.0)
        while self._max and self._max[-1][1] <= v:
            self._max.pop()
        self._max.append((seq, v))
        while self._min and self._min[-1][1] >= v:
            self._min.pop()
        self._min.append((seq, v))
        if self.size is not None:
            while len(items) > self.size:
                self._evict()
        else:
            assert self.seconds is not None
            oldest = t - self.seconds
            while items[0][1] < oldest:
                self._evict()
        if self._removed >= max(len(items), 16):
            self.recompute()

    def _accumulate(self, t: float, v: float, sign: float) -> None:
        x = t - self._tb
        y = v - self._vb
        self._st += sign * x
        self._sv += sign * y
        self._stt += sign * x * x
        self._svv += sign * y * y
        self._stv += sign * x * y

    def _evict(self) -> None:
        seq, t, v = self._items.popleft()
        self._accumulate(t, v, -1.0)
        if self._max and self._max[0][0] == seq:
            self._max.popleft()
        if self._min and self._min[0][0] == seq:
            self._min.popleft()
        self._removed += 1

    def recompute(self) -> None:
        """Rebuild the running sums exactly from the readings in the window."""
        self._removed = 0
        self._st = self._sv = self._stt = self._svv = self._stv = 0.0
        if not self._items:
            return
        _, self._tb, self._vb = self._items[0]
        for _, t, v in self._items:
            self._accumulate(t, v, 1.0)

    # ----- reading --------------------------------------------------------------------

    @property
    def count(self) -> int:
        return len(self._items)

    @property
    def full(self) -> bool:
        """Count window: it holds ``size`` readings. Time window: readings have arrived
        for at least ``seconds`` (the first one since clear() is that old)."""
        if self.size is not None:
            return len(self._items) >= self.size
        if not self._items or self._started is None:
            return False
        assert self.seconds is not None
        return self._items[-1][1] - self._started >= self.seconds

    @property
    def first(self) -> float | None:
        return self._items[0][2] if self._items else None

    @property
    def last(self) -> float | None:
        return self._items[-1][2] if self._items else None

    @property
    def first_t(self) -> float | None:
        return self._items[0][1] if self._items else None

    @property
    def last_t(self) -> float | None:
        return self._items[-1][1] if self._items else None

    @property
    def span(self) -> float:
        """Seconds between the oldest and the newest reading."""
        return self._items[-1][1] - self._items[0][1] if self._items else 0.0

    @property
    def min(self) -> float | None:
        return self._min[0][1] if self._min else None

    @property
    def max(self) -> float | None:
        return self._max[0][1] if self._max else None

    @property
    def mean(self) -> float | None:
        n = len(self._items)
        return self._vb + self._sv / n if n else None

    def _syy(self) -> float:
        n = len(self._items)
        return max(0.0, self._svv - self._sv * self._sv / n)

    def _sxx(self) -> float:
        n = len(self._items)
        return max(0.0, self._stt - self._st * self._st / n)

    @property
    def variance(self) -> float | None:
        """Sample variance (n - 1); None for fewer than two readings."""
        n = len(self._items)
        if n < 2:
            return None
        if self.max == self.min:
            return 0.0
        return self._syy() / (n - 1)

    @property
    def stddev(self) -> float | None:
        var = self.variance
        return None if var is None else math.sqrt(var)

    def fit(self) -> Fit | None:
        """The least-squares line of value over time; None with fewer than two readings
        or when they all have the same time."""
        n = len(self._items)
        if n < 2:
            return None
        sxx = self._sxx()
        if sxx <= 0.0 or self.span <= 0.0:
            return None
        mean_x = self._st / n
        mean_y = self._sv / n
        if self.max == self.min:
            return Fit(0.0, self._tb + mean_x, self._items[0][2], None)
        sxy = self._stv - self._st * self._sv / n
        syy = self._syy()
        slope = sxy / sxx
        r2: float | None = None
        if syy > 0.0:
            r2 = min(1.0, max(0.0, sxy * sxy / (sxx * syy)))
        return Fit(slope, self._tb + mean_x, self._vb + mean_y, r2)

    @property
    def slope(self) -> float | None:
        fit = self.fit()
        return None if fit is None else fit.slope

    def summary(self) -> dict[str, Any]:
        """count, mean, min, max, stddev (sample), slope (per second), first, last, span."""
        return {
            "count": self.count,
            "mean": self.mean,
            "min": self.min,
            "max": self.max,
            "stddev": self.stddev,
            "slope": self.slope,
            "first": self.first,
            "last": self.last,
            "span": self.span,
        }
