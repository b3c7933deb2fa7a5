"""The comparison's statistics against published values: the Cochran–Mantel–Haenszel test on R's `Rabbits` data
(mantelhaen.test: X-squared = 3.9286, p-value = 0.04747), the Wilson interval and the Wald difference of Newcombe
(1998) — 81/263: 0.2553 to 0.3662; 56/70 − 48/80: 0.0575 to 0.3425 — and the ratio estimator worked by hand."""
import math

import pytest

from tenants.analytics import stats

# R: Rabbits <- array(c(0,0,6,5, 3,0,3,6, 6,2,0,4, 5,6,1,0, 2,5,0,0), dim = c(2,2,5)); per stratum the first row
# (a cured of n1) against the second (c cured of n0).
RABBITS = [stats.Table2x2(0, 6, 0, 5), stats.Table2x2(3, 6, 0, 6), stats.Table2x2(6, 6, 2, 6),
           stats.Table2x2(5, 6, 6, 6), stats.Table2x2(2, 2, 5, 5)]


def test_cmh_matches_r_mantelhaen_test():
    corrected = stats.cmh_test(RABBITS)
    assert corrected.statistic == pytest.approx(3.9286, abs=5e-5)
    assert corrected.p_value == pytest.approx(0.04747, abs=5e-6)
    assert stats.cmh_test(RABBITS, correct=False).statistic == pytest.approx(5.6571, abs=5e-5)


def test_cmh_has_nothing_to_test_when_no_stratum_varies():
    assert stats.cmh_test([stats.Table2x2(3, 3, 4, 4), stats.Table2x2(0, 5, 0, 5)]) is None


def test_wilson_interval_matches_newcombe():
    found = stats.wilson(81, 263)
    assert (round(found.low, 4), round(found.high, 4)) == (0.2553, 0.3662)
    assert stats.wilson(0, 0) is None
    assert stats.wilson(0, 10).low == pytest.approx(0.0, abs=1e-12)


def test_mh_risk_difference_with_one_stratum_is_the_wald_difference():
    found = stats.mh_risk_difference([stats.Table2x2(56, 70, 48, 80)])
    assert found.estimate == pytest.approx(0.2)
    assert (round(found.low, 4), round(found.high, 4)) == (0.0575, 0.3425)


def test_mh_risk_difference_weights_strata_by_n1_n0_over_n():
    tables = [stats.Table2x2(10, 20, 5, 20), stats.Table2x2(2, 10, 1, 30)]
    weights = [20 * 20 / 40, 10 * 30 / 40]
    expected = (weights[0] * (10 / 20 - 5 / 20) + weights[1] * (2 / 10 - 1 / 30)) / sum(weights)
    assert stats.mh_risk_difference(tables).estimate == pytest.approx(expected)
    # A stratum with one arm only carries no weight.
    assert stats.mh_risk_difference([*tables, stats.Table2x2(5, 5, 0, 0)]).estimate == pytest.approx(expected)


def _sums(xs, ys, weight=1.0):
    return stats.StratumSums(n=len(xs), sum_x=sum(xs), sum_y=sum(ys), sum_xx=sum(x * x for x in xs),
                             sum_yy=sum(y * y for y in ys), sum_xy=sum(x * y for x, y in zip(xs, ys)), weight=weight)


def test_ratio_estimate_worked_by_hand():
    # x = 1, 2, 3, 4; y = 1, 1, 2, 2: R = 6/10; d = y − 0.6x = 0.4, −0.2, 0.2, −0.4; s² = 0.4/3; V = s²/(n x̄²).
    found = stats.ratio_estimate([_sums([1, 2, 3, 4], [1, 1, 2, 2])])
    assert found.estimate == pytest.approx(0.6)
    assert found.std_error == pytest.approx(math.sqrt((0.4 / 3) / (4 * 2.5 ** 2)))
    assert found.low == pytest.approx(0.6 - stats.Z95 * found.std_error)


def test_stratified_ratio_estimate_weights_stratum_means():
    low, high = [10, 20, 30], [100, 200]
    found = stats.ratio_estimate([_sums(low, [0, 5, 3], 0.6), _sums(high, [50, 10], 0.4)])
    x_bar = 0.6 * 20 + 0.4 * 150
    r = (0.6 * 8 / 3 + 0.4 * 30) / x_bar
    assert found.estimate == pytest.approx(r)

    def s2(xs, ys):
        d = [y - r * x for x, y in zip(xs, ys)]
        mean = sum(d) / len(d)
        return sum((v - mean) ** 2 for v in d) / (len(d) - 1)

    variance = (0.6 ** 2 * s2(low, [0, 5, 3]) / 3 + 0.4 ** 2 * s2(high, [50, 10]) / 2) / x_bar ** 2
    assert found.std_error == pytest.approx(math.sqrt(variance))


def test_difference_of_independent_estimates_and_its_z_test():
    a, b = stats.Interval(0.3, 0, 0, 0.03), stats.Interval(0.2, 0, 0, 0.04)
    found, test = stats.difference(a, b)
    assert found.estimate == pytest.approx(0.1) and found.std_error == pytest.approx(0.05)
    assert test.statistic == pytest.approx(2.0) and test.p_value == pytest.approx(0.0455, abs=1e-4)
