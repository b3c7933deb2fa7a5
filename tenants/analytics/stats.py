"""The statistics of the champion/challenger comparison, in the standard library only (no SciPy here): exact
formulas over counts and sums that SQL hands back per stratum, never over accounts.

- Proportions (contact, promise and paying rates), stratified: the Mantel–Haenszel risk difference with the
  Greenland–Robins (1985) large-strata variance, and the Cochran–Mantel–Haenszel χ² test of no association
  (1 degree of freedom, with or without the continuity correction). `mh_risk_difference`, `cmh_test`.
- Amounts (recovered ÷ balance placed), stratified: the combined ratio estimator of a stratified sample with its
  linearised (Taylor) variance (Cochran, Sampling Techniques, 3rd ed., §6.11) for each arm; two arms are
  independent samples, so the difference has the sum of their variances and a two-sided z test. `ratio_estimate`.
- One proportion on its own: the Wilson score interval. `wilson`.

Two-sided p-values come from the normal distribution (`statistics.NormalDist`); a χ² with one degree of freedom is
the square of a standard normal, so its upper tail is erfc(√(χ²/2)).
"""
import math
from dataclasses import dataclass
from statistics import NormalDist

Z95 = NormalDist().inv_cdf(0.975)  # 1.959963984540054


@dataclass(frozen=True)
class Interval:
    estimate: float
    low: float
    high: float
    std_error: float


@dataclass(frozen=True)
class Test:
    statistic: float  # a z score or a χ² with one degree of freedom (`kind`)
    p_value: float
    kind: str  # "z" or "chi2"


def two_sided_p(z: float) -> float:
    return math.erfc(abs(z) / math.sqrt(2))


def chi2_1_p(chi2: float) -> float:
    """Upper tail of the χ² distribution with one degree of freedom."""
    return math.erfc(math.sqrt(max(chi2, 0.0) / 2))


def _interval(estimate: float, variance: float, z: float = Z95) -> Interval:
    se = math.sqrt(max(variance, 0.0))
    return Interval(estimate, estimate - z * se, estimate + z * se, se)


def wilson(successes: int, n: int, z: float = Z95) -> Interval | None:
    """Wilson score interval of one proportion (its `estimate` is the plain proportion); None when n is 0."""
    if n <= 0:
        return None
    p = successes / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return Interval(p, max(0.0, centre - half), min(1.0, centre + half), math.sqrt(p * (1 - p) / n))


# ---- stratified proportions ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Table2x2:
    """One stratum: `a` successes of `n1` in the challenger arm, `c` successes of `n0` in the champion arm."""

    a: int
    n1: int
    c: int
    n0: int

    @property
    def total(self) -> int:
        return self.n1 + self.n0


def _usable(tables) -> list[Table2x2]:
    """Strata holding both arms: a stratum with one arm only says nothing about the difference."""
    return [t for t in tables if t.n1 > 0 and t.n0 > 0]


def mh_risk_difference(tables, z: float = Z95) -> Interval | None:
    """Mantel–Haenszel risk difference p1 − p0 over strata, weights n1·n0/N, with the Greenland–Robins variance
    Σ (a·b·n0³ + c·d·n1³) / (n1·n0·N²) ÷ (Σ n1·n0/N)² (b = n1 − a, d = n0 − c). With one stratum it is the plain
    difference with the Wald variance p1(1−p1)/n1 + p0(1−p0)/n0. None without a stratum holding both arms."""
    tables = _usable(tables)
    weights = sum(t.n1 * t.n0 / t.total for t in tables)
    if not weights:
        return None
    estimate = sum((t.a * t.n0 - t.c * t.n1) / t.total for t in tables) / weights
    variance = sum((t.a * (t.n1 - t.a) * t.n0 ** 3 + t.c * (t.n0 - t.c) * t.n1 ** 3) / (t.n1 * t.n0 * t.total ** 2)
                   for t in tables) / weights ** 2
    return _interval(estimate, variance, z)


def cmh_test(tables, correct: bool = True) -> Test | None:
    """Cochran–Mantel–Haenszel χ² (1 df) that success does not depend on the arm within strata:
    (|Σ a − Σ E[a]| − ½)² ÷ Σ Var[a], E[a] = n1·m1/N, Var[a] = n1·n0·m1·m0 / (N²(N−1)), m1 = a + c, m0 = N − m1.
    `correct=False` drops the ½ (continuity correction). None when no stratum can vary (every Var[a] is 0)."""
    observed = expected = variance = 0.0
    for t in _usable(tables):
        if t.total < 2:
            continue
        m1 = t.a + t.c
        observed += t.a
        expected += t.n1 * m1 / t.total
        variance += t.n1 * t.n0 * m1 * (t.total - m1) / (t.total ** 2 * (t.total - 1))
    if variance <= 0:
        return None
    deviation = abs(observed - expected) - (0.5 if correct else 0.0)
    chi2 = max(deviation, 0.0) ** 2 / variance
    return Test(chi2, chi2_1_p(chi2), "chi2")


# ---- stratified ratio of amounts ------------------------------------------------------------------------------

@dataclass(frozen=True)
class StratumSums:
    """One arm in one stratum: n accounts, x = balance placed, y = recovered, and the sums of squares and
    products SQL hands back (Σx, Σy, Σx², Σy², Σxy), in minor units. `weight`: the stratum's share of the whole
    allocation (N_h / N), the same for every arm."""

    n: int
    sum_x: float
    sum_y: float
    sum_xx: float
    sum_yy: float
    sum_xy: float
    weight: float


def ratio_estimate(strata, z: float = Z95) -> Interval | None:
    """Combined ratio estimator R = Σ W_h ȳ_h ÷ Σ W_h x̄_h, with the linearised variance
    V(R) = Σ W_h² s²_dh / n_h ÷ (Σ W_h x̄_h)², where s²_dh is the sample variance in stratum h of
    d = y − R·x (from the sums: Σd² = Σy² − 2R Σxy + R² Σx², Σd = Σy − R Σx). A stratum of one account adds no
    variance term. None when nothing was placed."""
    strata = [s for s in strata if s.n > 0]
    x_bar = sum(s.weight * s.sum_x / s.n for s in strata)
    if not x_bar:
        return None
    r = sum(s.weight * s.sum_y / s.n for s in strata) / x_bar
    variance = 0.0
    for s in strata:
        if s.n < 2:
            continue
        sum_d = s.sum_y - r * s.sum_x
        sum_dd = s.sum_yy - 2 * r * s.sum_xy + r * r * s.sum_xx
        s2 = max(sum_dd - sum_d * sum_d / s.n, 0.0) / (s.n - 1)
        variance += s.weight ** 2 * s2 / s.n
    return _interval(r, variance / x_bar ** 2, z)


def difference(challenger: Interval, champion: Interval, z: float = Z95) -> tuple[Interval, Test]:
    """The difference of two independent estimates, its interval and the two-sided z test that it is zero."""
    variance = challenger.std_error ** 2 + champion.std_error ** 2
    estimate = challenger.estimate - champion.estimate
    found = _interval(estimate, variance, z)
    statistic = estimate / found.std_error if found.std_error else 0.0
    return found, Test(statistic, two_sided_p(statistic) if found.std_error else 1.0, "z")


def z_test(interval: Interval) -> Test:
    statistic = interval.estimate / interval.std_error if interval.std_error else 0.0
    return Test(statistic, two_sided_p(statistic) if interval.std_error else 1.0, "z")
