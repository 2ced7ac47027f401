"""A/B tests: stable variant assignment and the chi-squared test that picks a winner.

The p-value comes from the chi-square survival function, written out here (regularized
upper incomplete gamma, Numerical Recipes §6.2) so the engine needs no scipy.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

from engine.errors import InvalidInput

ON_TIMEOUT = ("best", "stop")

# --- assignment -----------------------------------------------------------------------


def _unit(domain: str, salt: str, contact_id: str) -> int:
    """A uniform 64-bit number for (domain, salt, contact); the length prefixes keep
    ("a:b", "c") and ("a", "b:c") apart."""
    key = f"{domain}|{len(salt)}:{salt}|{contact_id}".encode()
    return int.from_bytes(hashlib.sha256(key).digest()[:8], "big")


def assign(contact_id: str, salt: str, weights: list[int]) -> int:
    """The variant index for a contact: the same every time for one salt (a campaign), in
    proportion to `weights`, unrelated between salts."""
    if not weights or any(isinstance(w, bool) or not isinstance(w, int) or w < 0 for w in weights):
        raise InvalidInput("Variant weights are whole numbers from 0.", field="weights")
    total = sum(weights)
    if total <= 0:
        raise InvalidInput("At least one variant needs a weight above 0.", field="weights")
    point = (_unit("variant", salt, contact_id) * total) >> 64  # in [0, total)
    for index, weight in enumerate(weights):
        if point < weight:
            return index
        point -= weight
    raise AssertionError("unreachable: point < total")


def in_test_group(contact_id: str, salt: str, fraction: float) -> bool:
    """Whether a contact is in the test phase's share of the audience. Hashed apart from
    assign(), so the test group holds every variant in its usual proportions."""
    if isinstance(fraction, bool) or not isinstance(fraction, int | float):
        raise InvalidInput("The test fraction is a number from 0 to 1.", field="fraction")
    if not 0 <= fraction <= 1:
        raise InvalidInput("The test fraction is a number from 0 to 1.", field="fraction")
    return _unit("test", salt, contact_id) < fraction * 2**64


# --- chi-square distribution ------------------------------------------------------------

_EPS = 1e-15
_TINY = 1e-300
_ITERATIONS = 10_000


def _lower_series(a: float, x: float) -> float:
    """Regularized lower incomplete gamma P(a, x) by its series (converges for x < a+1)."""
    term = total = 1.0 / a
    denominator = a
    for _ in range(_ITERATIONS):
        denominator += 1.0
        term *= x / denominator
        total += term
        if abs(term) < abs(total) * _EPS:
            break
    return total * math.exp(-x + a * math.log(x) - math.lgamma(a))


def _upper_fraction(a: float, x: float) -> float:
    """Regularized upper incomplete gamma Q(a, x) by its continued fraction (modified
    Lentz; converges for x >= a+1)."""
    b = x + 1.0 - a
    c = 1.0 / _TINY
    d = 1.0 / b
    h = d
    for i in range(1, _ITERATIONS):
        an = -i * (i - a)
        b += 2.0
        d = an * d + b
        d = _TINY if abs(d) < _TINY else d
        c = b + an / c
        c = _TINY if abs(c) < _TINY else c
        d = 1.0 / d
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < _EPS:
            break
    return math.exp(-x + a * math.log(x) - math.lgamma(a)) * h


def gamma_q(a: float, x: float) -> float:
    """Regularized upper incomplete gamma function Q(a, x) = Γ(a, x) / Γ(a)."""
    if a <= 0:
        raise ValueError("a must be positive")
    if x <= 0:
        return 1.0
    # The series converges fast below a+1, the continued fraction above.
    q = 1.0 - _lower_series(a, x) if x < a + 1.0 else _upper_fraction(a, x)
    return min(1.0, max(0.0, q))


def chi2_sf(statistic: float, df: int) -> float:
    """P(X >= statistic) for X ~ chi-square with df degrees of freedom."""
    if df < 1:
        raise ValueError("df must be at least 1")
    if statistic <= 0 or math.isnan(statistic):
        return 1.0
    if math.isinf(statistic):
        return 0.0
    return gamma_q(df / 2.0, statistic / 2.0)


# --- the test -------------------------------------------------------------------------


def _check_counts(successes: list[int], trials: list[int]) -> None:
    if len(successes) != len(trials):
        raise InvalidInput("successes and trials must have one entry per variant.")
    for s, t in zip(successes, trials, strict=True):
        for n in (s, t):
            if isinstance(n, bool) or not isinstance(n, int) or n < 0:
                raise InvalidInput("Counts are whole numbers from 0.")
        if s > t:
            raise InvalidInput("A variant cannot have more successes than trials.")


def _expected(successes: list[int], trials: list[int]) -> list[tuple[float, float]]:
    """Expected (successes, failures) per variant if the rate were the same for all."""
    n = sum(trials)
    hits = sum(successes)
    return [(t * hits / n, t * (n - hits) / n) for t in trials]


def chi_squared(successes: list[int], trials: list[int]) -> tuple[float, float]:
    """Pearson's chi-squared test of independence on the 2 x k table (successes and
    failures per variant), without continuity correction: (statistic, p-value).

    Variants without trials are left out (their column would be all zeros); with fewer
    than two variants left, or no success or no failure at all, there is nothing to tell
    apart: (0.0, 1.0).
    """
    _check_counts(successes, trials)
    columns = [(s, t) for s, t in zip(successes, trials, strict=True) if t > 0]
    if len(columns) < 2:
        return 0.0, 1.0
    hits = [s for s, _ in columns]
    sizes = [t for _, t in columns]
    total_hits = sum(hits)
    if total_hits == 0 or total_hits == sum(sizes):
        return 0.0, 1.0
    statistic = 0.0
    for (s, t), (e_hit, e_miss) in zip(columns, _expected(hits, sizes), strict=True):
        statistic += (s - e_hit) ** 2 / e_hit + (t - s - e_miss) ** 2 / e_miss
    return statistic, chi2_sf(statistic, len(columns) - 1)


@dataclass(frozen=True)
class Decision:
    winner: int | None
    p_value: float | None
    # significant | not_significant | too_little_data | timeout_best | timeout_stop | no_data
    reason: str


def best_variant(variants: list[tuple[int, int]]) -> int | None:
    """The variant with the highest rate (exact fractions; ties go to the lowest index);
    None when no variant has trials."""
    best: int | None = None
    for index, (s, t) in enumerate(variants):
        if t <= 0:
            continue
        if best is None:
            best = index
            continue
        bs, bt = variants[best]
        if s * bt > bs * t:
            best = index
    return best


def decide(
    variants: list[tuple[int, int]],
    alpha: float = 0.05,
    final: bool = False,
    on_timeout: str = "best",
    *,
    min_expected: float = 1.0,
) -> Decision:
    """The winner of an A/B test from (successes, trials) per variant.

    A winner only when the difference is significant (p < alpha). Until then None, unless
    `final` (the test window ended): "best" takes the best rate so far, "stop" none.
    The chi-squared approximation means little when an expected cell count is tiny, so a
    table with one below `min_expected` is "too_little_data", never significant.
    """
    if on_timeout not in ON_TIMEOUT:
        raise InvalidInput("on_timeout is 'best' or 'stop'.", field="on_timeout")
    if isinstance(alpha, bool) or not isinstance(alpha, int | float) or not 0 < alpha < 1:
        raise InvalidInput("alpha is a number between 0 and 1.", field="alpha")
    successes = [s for s, _ in variants]
    trials = [t for _, t in variants]
    _, p = chi_squared(successes, trials)
    columns = [(s, t) for s, t in variants if t > 0]
    p_value: float | None = p if len(columns) >= 2 else None
    enough = p_value is not None and all(
        min(cell) >= min_expected
        for cell in _expected([s for s, _ in columns], [t for _, t in columns])
    )
    if enough and p < alpha:
        return Decision(best_variant(variants), p_value, "significant")
    if not final:
        return Decision(None, p_value, "not_significant" if enough else "too_little_data")
    if on_timeout == "stop":
        return Decision(None, p_value, "timeout_stop")
    best = best_variant(variants)
    return Decision(best, p_value, "timeout_best" if best is not None else "no_data")
