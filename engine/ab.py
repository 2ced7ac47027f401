"""A/B tests: stable variant assignment and the sequential test that picks a winner.

The winner is decided while the results come in: `campaign_tick` looks every 5 seconds,
so a 24-hour window is ~17,000 looks. A fixed-sample test (chi-squared at p < 0.05) asked
that often finds a "winner" in about half of A/A tests; the test here keeps its
false-winner rate under alpha however often it is asked (see `log_likelihood_ratio`).
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


# --- the sequential test ----------------------------------------------------------------
#
# While a run waits, the trials (messages sent) per variant are fixed and the successes
# (opens, clicks, conversions; at most one per message) come in one by one. Take two
# variants i and j with n_i and n_j trials. Under the null hypothesis that the variant
# changes nothing (each recipient would open, or not, at the same moment whichever
# variant they got), the assignment is a random split of the recipients, so each next
# success is a draw without replacement from the recipients who have not succeeded yet:
# it is j's with probability (n_j - s_j) / (n_i + n_j - s_i - s_j). A mixture alternative
# says it is j's with the Beta-Bernoulli predictive (c*p0 + s_j) / (c + s), p0 the share
# of j's trials, c the prior's concentration. The ratio of the two probabilities of the
# successes seen so far (the same for any order) is a nonnegative martingale with mean 1
# under the null, in the filtration of everything seen (a supermartingale once one side's
# recipients have all succeeded), so by Ville's inequality it ever reaches 1/alpha with
# probability at most alpha, at whatever moments it is looked at:
# min(1, 1/ratio) is an always-valid p-value. Conditioning on the recipients, not on a
# rate, keeps it exact for recipients who differ among themselves. Messages still being
# sent while the run waits (held by quiet hours, say) grow the trials between looks; the
# test then takes the current trials and is close to, not exactly, this bound.

METHOD = "always_valid_mixture"
# Beta(c*p0, c*(1-p0)): the share of j among the successes expected within about
# ±0.05 of p0, the size of a 10% against 13% open rate (0.565 against 0.5).
CONCENTRATION = 100.0
DEFAULT_ALPHA = 0.05


def _check_counts(variants: list[tuple[int, int]]) -> None:
    for pair in variants:
        if not isinstance(pair, tuple | list) or len(pair) != 2:
            raise InvalidInput("Each variant is a pair (successes, trials).")
        for n in pair:
            if isinstance(n, bool) or not isinstance(n, int) or n < 0:
                raise InvalidInput("Counts are whole numbers from 0.")
        if pair[0] > pair[1]:
            raise InvalidInput("A variant cannot have more successes than trials.")


def _log_falling(x: int, k: int) -> float:
    """log of x * (x-1) * ... * (x-k+1)."""
    return math.lgamma(x + 1) - math.lgamma(x - k + 1)


def _log_beta(x: float, y: float) -> float:
    return math.lgamma(x) + math.lgamma(y) - math.lgamma(x + y)


def log_likelihood_ratio(
    i: tuple[int, int], j: tuple[int, int], concentration: float = CONCENTRATION
) -> float:
    """log of the mixture likelihood ratio of variants i and j, each (successes, trials):

        LR = [B(c*p0 + s_j, c*(1-p0) + s_i) / B(c*p0, c*(1-p0))]
             / [(n_j)_(s_j) * (n_i)_(s_i) / (n_i + n_j)_(s_i + s_j)]

    with p0 = n_j / (n_i + n_j) and (x)_k the falling factorial: the numerator is the
    probability of the successes' labels under the mixture, the denominator under random
    assignment. Symmetric in i and j; 0.0 without successes. Both need trials."""
    (s_i, n_i), (s_j, n_j) = i, j
    if n_i <= 0 or n_j <= 0:
        raise InvalidInput("Both variants need trials.")
    p0 = n_j / (n_i + n_j)
    a, b = concentration * p0, concentration * (1 - p0)
    alternative = _log_beta(a + s_j, b + s_i) - _log_beta(a, b)
    null = _log_falling(n_j, s_j) + _log_falling(n_i, s_i) - _log_falling(n_i + n_j, s_i + s_j)
    return alternative - null


def pair_p_value(i: tuple[int, int], j: tuple[int, int]) -> float:
    """The always-valid p-value of "i and j convert alike": min(1, 1/LR)."""
    return math.exp(min(0.0, -log_likelihood_ratio(i, j)))


def multiplicity(k: int) -> float:
    """What the leader's worst pairwise p-value is multiplied by with k variants.

    A winner needs its k-1 comparisons all significant, so a false winner under the null
    means k-1 of the k(k-1)/2 pairwise tests crossed their threshold alpha'. The expected
    number that cross is at most k(k-1)/2 * alpha', so by Markov's inequality
    P(k-1 or more) <= k * alpha' / 2: alpha' = 2 * alpha / k keeps it under alpha (for two
    variants, alpha itself; tighter than alpha / (k-1) from k = 3)."""
    return max(1.0, k / 2)


@dataclass(frozen=True)
class Decision:
    winner: int | None
    # The always-valid p-value, multiplicity-adjusted: significant when p_value <= alpha.
    p_value: float | None
    # significant | not_significant | too_little_data | timeout_best | timeout_stop | no_data
    reason: str
    alpha: float = DEFAULT_ALPHA
    method: str = METHOD


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


def leader_p_value(variants: list[tuple[int, int]], leader: int | None) -> float | None:
    """The adjusted always-valid p-value that `leader` (the best rate) beats every other
    variant with trials; None with fewer than two such variants."""
    others = [v for index, v in enumerate(variants) if v[1] > 0 and index != leader]
    if leader is None or not others:
        return None
    worst = max(pair_p_value(variants[leader], other) for other in others)
    return min(1.0, worst * multiplicity(len(others) + 1))


def decide(
    variants: list[tuple[int, int]],
    alpha: float = DEFAULT_ALPHA,
    final: bool = False,
    on_timeout: str = "best",
) -> Decision:
    """The winner of an A/B test from (successes, trials) per variant, asked at any moment.

    A winner as soon as the best rate's adjusted always-valid p-value is at most alpha,
    which keeps the chance of a winner among equal variants under alpha however often this
    is asked. The p-value comes from the current counts alone: the test stops at the
    first look that crosses, so earlier looks were all above alpha and a running minimum
    would change no decision. Until then None, unless `final` (the window ended):
    "best" takes the best rate so far, "stop" none; either is a timeout, not a result.
    """
    if on_timeout not in ON_TIMEOUT:
        raise InvalidInput("on_timeout is 'best' or 'stop'.", field="on_timeout")
    if isinstance(alpha, bool) or not isinstance(alpha, int | float) or not 0 < alpha < 1:
        raise InvalidInput("alpha is a number between 0 and 1.", field="alpha")
    _check_counts(variants)
    alpha = float(alpha)
    best = best_variant(variants)
    p_value = leader_p_value(variants, best)
    if p_value is not None and p_value <= alpha:
        return Decision(best, p_value, "significant", alpha)
    if not final:
        reason = "not_significant" if p_value is not None else "too_little_data"
        return Decision(None, p_value, reason, alpha)
    if on_timeout == "stop":
        return Decision(None, p_value, "timeout_stop", alpha)
    return Decision(best, p_value, "timeout_best" if best is not None else "no_data", alpha)
