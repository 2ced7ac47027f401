"""A/B: assignment that is stable, proportional and independent per salt; the chi-squared
p-value against closed forms; the winner decision."""

from __future__ import annotations

import math
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.ab import assign, chi2_sf, chi_squared, decide, gamma_q, in_test_group
from engine.errors import InvalidInput

IDS = [f"contact-{i}" for i in range(20_000)]

# --- assignment ---------------------------------------------------------------------------


def test_assign_is_deterministic_and_skips_zero_weights():
    assert [assign(i, "camp-1", [1, 1, 1]) for i in IDS[:50]] == [
        assign(i, "camp-1", [1, 1, 1]) for i in IDS[:50]
    ]
    assert {assign(i, "camp-1", [0, 3, 0, 1]) for i in IDS[:2000]} == {1, 3}
    assert all(assign(i, "s", [5]) == 0 for i in IDS[:100])


@pytest.mark.parametrize("weights", [[], [0, 0], [1, -1], [1.5, 1], [True, 1]])
def test_bad_weights_are_refused(weights):
    with pytest.raises(InvalidInput):
        assign("c", "s", weights)


@settings(max_examples=25)
@given(
    weights=st.lists(st.integers(0, 100), min_size=1, max_size=5).filter(lambda w: sum(w) > 0),
    salt=st.text(min_size=1, max_size=8),
)
def test_shares_follow_the_weights(weights, salt):
    ids = IDS[:8000]
    counts = Counter(assign(i, salt, weights) for i in ids)
    total = sum(weights)
    for index, weight in enumerate(weights):
        share = counts[index] / len(ids)
        # 4.5 standard deviations of a binomial share: a false alarm is ~1 in 100,000.
        expected = weight / total
        tolerance = 4.5 * math.sqrt(expected * (1 - expected) / len(ids)) + 1e-9
        assert abs(share - expected) <= tolerance, (index, share, expected)


def test_assignments_under_two_salts_are_independent():
    pairs = Counter((assign(i, "campaign-a", [1, 1]), assign(i, "campaign-b", [1, 1])) for i in IDS)
    # Independent halves: each of the four combinations holds a quarter.
    for combination in [(0, 0), (0, 1), (1, 0), (1, 1)]:
        assert abs(pairs[combination] / len(IDS) - 0.25) < 0.015
    # And the chi-squared test of our own module finds no dependence.
    _, p = chi_squared(
        [pairs[(0, 0)], pairs[(1, 0)]],
        [pairs[(0, 0)] + pairs[(0, 1)], pairs[(1, 0)] + pairs[(1, 1)]],
    )
    assert p > 0.0001


def test_the_test_group_is_a_fraction_holding_every_variant():
    group = [i for i in IDS if in_test_group(i, "camp", 0.2)]
    assert abs(len(group) / len(IDS) - 0.2) < 0.015
    shares = Counter(assign(i, "camp", [1, 1]) for i in group)
    assert abs(shares[0] / len(group) - 0.5) < 0.035  # not correlated with assign()
    assert not any(in_test_group(i, "camp", 0) for i in IDS[:500])
    assert all(in_test_group(i, "camp", 1) for i in IDS[:500])
    for bad in (-0.1, 1.5, "half", True):
        with pytest.raises(InvalidInput):
            in_test_group("c", "camp", bad)


# --- the chi-square distribution ------------------------------------------------------


def closed_form_sf(x: float, df: int) -> float:
    """Survival function of chi-square from exact formulas: for even df the Poisson sum
    e^-h * sum(h^i / i!, i < df/2); for odd df erfc(sqrt(h)) plus
    e^-h * sum(h^(j - 1/2) / Gamma(j + 1/2), j = 1 .. (df-1)/2), with h = x/2."""
    h = x / 2
    if df % 2 == 0:
        return math.exp(-h) * sum(h**i / math.factorial(i) for i in range(df // 2))
    return math.erfc(math.sqrt(h)) + math.exp(-h) * sum(
        h ** (j - 0.5) / math.gamma(j + 0.5) for j in range(1, (df - 1) // 2 + 1)
    )


def test_known_values():
    assert chi2_sf(3.841458820694124, 1) == pytest.approx(0.05, rel=1e-9)
    assert chi2_sf(5.991464547107979, 2) == pytest.approx(0.05, rel=1e-9)
    assert chi2_sf(6.6348966010212145, 1) == pytest.approx(0.01, rel=1e-9)
    assert chi2_sf(9.487729036781154, 4) == pytest.approx(0.05, rel=1e-9)
    assert chi2_sf(0, 3) == 1.0
    assert chi2_sf(float("inf"), 3) == 0.0
    assert gamma_q(1, 2) == pytest.approx(math.exp(-2), rel=1e-12)


@settings(max_examples=300)
@given(x=st.floats(0.001, 300), df=st.integers(1, 12))
def test_sf_agrees_with_closed_forms(x, df):
    expected = closed_form_sf(x, df)
    assert chi2_sf(x, df) == pytest.approx(expected, rel=1e-8, abs=1e-300)


@settings(max_examples=200)
@given(x=st.floats(0, 500), dx=st.floats(0.001, 50), df=st.integers(1, 10))
def test_sf_is_a_decreasing_probability(x, dx, df):
    p, q = chi2_sf(x, df), chi2_sf(x + dx, df)
    assert 0.0 <= q <= p <= 1.0


# --- the test -----------------------------------------------------------------------------


def test_chi_squared_on_a_worked_table():
    # 30/100 against 50/100: expected 40 successes and 60 failures in each column, so
    # chi2 = 2 * 10**2/40 + 2 * 10**2/60 = 8.333..., p = erfc(sqrt(chi2 / 2)).
    stat, p = chi_squared([30, 50], [100, 100])
    assert stat == pytest.approx(25 / 3)
    assert p == pytest.approx(math.erfc(math.sqrt(25 / 6)))
    assert p == pytest.approx(0.0038924, rel=1e-4)
    stat, p = chi_squared([10, 20, 30], [100, 100, 100])  # df = 2: p = exp(-chi2 / 2)
    assert p == pytest.approx(math.exp(-stat / 2))


def test_chi_squared_degenerate_tables():
    assert chi_squared([0, 0], [10, 10]) == (0.0, 1.0)
    assert chi_squared([10, 10], [10, 10]) == (0.0, 1.0)
    assert chi_squared([5], [10]) == (0.0, 1.0)
    assert chi_squared([5, 0], [10, 0]) == (0.0, 1.0)  # a variant with no trials is left out
    assert chi_squared([30, 0, 50], [100, 0, 100]) == chi_squared([30, 50], [100, 100])
    for successes, trials in [([1], [1, 2]), ([3], [2]), ([-1], [2]), ([1.0], [2])]:
        with pytest.raises(InvalidInput):
            chi_squared(successes, trials)


@settings(max_examples=200)
@given(data=st.data())
def test_p_is_a_probability(data):
    k = data.draw(st.integers(1, 5))
    trials = data.draw(st.lists(st.integers(0, 500), min_size=k, max_size=k))
    successes = [data.draw(st.integers(0, t)) for t in trials]
    stat, p = chi_squared(successes, trials)
    assert stat >= 0
    assert 0.0 <= p <= 1.0


@settings(max_examples=100)
@given(n=st.integers(20, 2000), base=st.floats(0.05, 0.45), step=st.integers(1, 20))
def test_p_falls_as_the_effect_grows(n, base, step):
    a = int(n * base)
    previous = 1.0
    for b in range(a, n + 1, step):
        _, p = chi_squared([a, b], [n, n])
        assert p <= previous + 1e-15
        previous = p


# --- decide ---------------------------------------------------------------------------


def test_a_significant_difference_picks_the_best_rate():
    decision = decide([(30, 100), (50, 100), (35, 100)])
    assert decision.winner == 1
    assert decision.reason == "significant"
    assert decision.p_value < 0.05


def test_without_significance_there_is_no_winner_until_the_window_ends():
    close = [(30, 100), (33, 100)]
    assert decide(close).winner is None
    assert decide(close).reason == "not_significant"
    assert decide(close, final=True).winner == 1
    assert decide(close, final=True).reason == "timeout_best"
    stop = decide(close, final=True, on_timeout="stop")
    assert (stop.winner, stop.reason) == (None, "timeout_stop")
    assert decide(close, alpha=0.9).winner == 1  # a lenient alpha makes it significant


def test_ties_go_to_the_lowest_index_and_empty_variants_are_ignored():
    assert decide([(0, 0), (10, 20), (5, 10)], final=True).winner == 1
    assert decide([(0, 0), (0, 0)], final=True).reason == "no_data"
    decision = decide([(0, 0), (90, 100), (10, 100)])
    assert (decision.winner, decision.reason) == (1, "significant")
    single = decide([(5, 10), (0, 0)])
    assert (single.winner, single.p_value, single.reason) == (None, None, "too_little_data")
    assert decide([(5, 10), (0, 0)], final=True).winner == 0


def test_tiny_tables_are_not_called_significant():
    # 2/2 against 0/2 gives p ~ 0.046 but expected counts of 1: too little to go on.
    assert decide([(2, 2), (0, 2)], min_expected=1.5).reason == "too_little_data"
    assert decide([(2, 2), (0, 2)]).winner == 0


@pytest.mark.parametrize("kwargs", [{"on_timeout": "wait"}, {"alpha": 0}, {"alpha": 1.5}])
def test_bad_settings_are_refused(kwargs):
    with pytest.raises(InvalidInput):
        decide([(1, 2), (1, 2)], **kwargs)
