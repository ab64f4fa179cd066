"""Statistics of the experiment sweeps: summaries with Student-t intervals, paired differences, the minimum
detectable effect (MDE) of a paired t-test, TOST equivalence, a least-squares slope, and the one verdict rule
that turns them into "reproduced / not reproduced / inconclusive" (docs/statistics.md states the same rule).
Importable, no side effects; needs numpy and scipy (Debian: python3-numpy, python3-scipy).
"""
import math
from dataclasses import dataclass

import numpy as np
from scipy import integrate, optimize, stats

ALPHA = 0.05  # two-sided test level; the intervals are 95%
POWER = 0.8  # power the MDE is computed for
# The fewest degrees of freedom of the sd behind a verdict. With one (two seeds) the observed sd pins the true one
# only within a factor of ~70 (the 95% range of sigma / s for chi-square with 1 df, 0.45 to 32; with two, 0.52 to
# 6.3), and the MDE takes the observed sd as the true one. The quick and standard tiers plan >= 3 seeds
# (docs/statistics.md, The rule).
MIN_DF = 2
MAX_SEEDS = 1000  # "seeds needed" searches up to this many, then says "more than"


@dataclass(frozen=True)
class Summary:
    """n, mean, sample sd (ddof 1) and the 95% Student-t interval of the mean (NaN where undefined)."""
    n: int
    mean: float
    sd: float
    lo: float
    hi: float


def summarize(values, alpha=ALPHA):
    """Summary of a sequence of numbers: mean, sample sd, (1 - alpha) t-interval. One value: sd and CI are NaN."""
    x = np.asarray(list(values), dtype=float)
    n = len(x)
    if n == 0:
        return Summary(0, math.nan, math.nan, math.nan, math.nan)
    mean = float(x.mean())
    if n == 1:
        return Summary(1, mean, math.nan, math.nan, math.nan)
    sd = float(x.std(ddof=1))
    half = float(stats.t.ppf(1 - alpha / 2, n - 1)) * sd / math.sqrt(n)
    return Summary(n, mean, sd, mean - half, mean + half)


def paired_differences(a, b):
    """A - B over the pairs present in both. `a`, `b`: dict pair key -> value. Returns [(pair, a - b)] by key."""
    return [(k, float(a[k]) - float(b[k])) for k in sorted(set(a) & set(b))]


@dataclass(frozen=True)
class Estimate:
    """An effect estimate with a Student-t sampling distribution: value, standard error, degrees of freedom.
    `n` counts the independent units behind it (pairs; for a slope, the points regressed) and `k` the parameters
    fitted (1 for a mean, 2 for a line), so df = n - k, and with more units the standard error shrinks like
    1/sqrt(n) (the spread per unit, `unit_sd` = se * sqrt(n), stays)."""
    value: float
    se: float
    n: int
    k: int = 1

    @property
    def df(self):
        return self.n - self.k

    @property
    def unit_sd(self):
        return self.se * math.sqrt(self.n)

    def ci(self, level=1 - ALPHA):
        """Two-sided t-interval at `level` (NaN when df < 1)."""
        if self.df < 1:
            return math.nan, math.nan
        half = float(stats.t.ppf(0.5 + level / 2, self.df)) * self.se
        return self.value - half, self.value + half


def paired_estimate(diffs):
    """Mean of the paired differences as an Estimate (se = sd / sqrt(n), df = n - 1)."""
    s = summarize(diffs)
    se = s.sd / math.sqrt(s.n) if s.n >= 2 else math.nan
    return Estimate(s.mean, se, s.n, 1)


def one_sample_estimate(values, threshold=0.0):
    """The mean of `values` (one per seed) minus a stated constant as an Estimate (se = sd / sqrt(n), df = n - 1):
    a claim "mean > threshold" (or "<") is then decided by `verdict` as a paired difference "A > B" is."""
    return paired_estimate([float(v) - threshold for v in values])


def slope_estimate(x, y):
    """Least-squares slope of y on x (with intercept) as an Estimate: se = sqrt(SSR / (n - 2) / Sxx), df = n - 2.
    Needs at least two distinct x; with n = 2 the standard error is undefined (NaN)."""
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    n = len(x)
    if n < 2 or np.ptp(x) == 0:
        return Estimate(math.nan, math.nan, n, 2)
    xc = x - x.mean()
    sxx = float(xc @ xc)
    b = float(xc @ (y - y.mean())) / sxx
    if n < 3:
        return Estimate(b, math.nan, n, 2)
    resid = y - y.mean() - b * xc
    se = math.sqrt(float(resid @ resid) / (n - 2) / sxx)
    return Estimate(b, se, n, 2)


def t_test_power(delta, se, df, alpha=ALPHA):
    """Power of the two-sided t-test at level alpha when the true effect is `delta` and the estimate has standard
    error `se` with `df` degrees of freedom: P(|T| > t_crit) for T ~ noncentral t(df, delta / se)."""
    tc = float(stats.t.ppf(1 - alpha / 2, df))
    nc = delta / se
    # scipy 1.10's boost-based nct raises spurious floating-point warnings for small df (its values agree with
    # the integral below to 1e-12); the integral is the fallback should it ever return NaN.
    with np.errstate(all="ignore"):
        p = float(stats.nct.sf(tc, df, nc) + stats.nct.cdf(-tc, df, nc))
    return p if math.isfinite(p) else t_test_power_integral(delta, se, df, alpha)


def t_test_power_integral(delta, se, df, alpha=ALPHA):
    """t_test_power by integrating over the chi-square distribution of the variance estimate: with V ~ chi2(df),
    T = (Z + nc) / sqrt(V / df), so power = E_V[Phi(nc - tc sqrt(V/df)) + Phi(-nc - tc sqrt(V/df))]."""
    tc = float(stats.t.ppf(1 - alpha / 2, df))
    nc = delta / se

    def f(v):
        c = tc * math.sqrt(v / df)
        return (stats.norm.sf(c - nc) + stats.norm.cdf(-c - nc)) * stats.chi2.pdf(v, df)

    return float(integrate.quad(f, 0, math.inf, limit=200)[0])


def mde(se, df, alpha=ALPHA, power=POWER):
    """Minimum detectable effect: the smallest true effect that a two-sided t-test at level alpha detects with
    probability `power`, for an estimate with standard error `se` and `df` degrees of freedom. Exact (noncentral
    t, solved by root finding), not the approximation (t_{1-alpha/2,df} + t_{power,df}) * se. NaN if df < 1."""
    if df < 1 or not math.isfinite(se):
        return math.nan
    if se == 0:
        return 0.0
    hi = (float(stats.t.ppf(1 - alpha / 2, df)) + float(stats.t.ppf(power, df))) * se
    while t_test_power(hi, se, df, alpha) < power:  # the approximation is a lower bound
        hi *= 2
    return float(optimize.brentq(lambda d: t_test_power(d, se, df, alpha) - power, 0.0, hi, xtol=1e-12 * hi))


def mde_paired(sd, n, alpha=ALPHA, power=POWER):
    """MDE of a paired t-test on n pairs whose differences have sample sd `sd` (se = sd / sqrt(n), df = n - 1)."""
    if n < 2:
        return math.nan
    return mde(sd / math.sqrt(n), n - 1, alpha, power)


def units_for_mde(est, target, alpha=ALPHA, power=POWER, limit=MAX_SEEDS):
    """The smallest number of units n (pairs, i.e. seeds) at which the MDE of `est`'s kind of estimate, with its
    spread per unit unchanged, is <= target; None if more than `limit` would be needed or it cannot be said."""
    if not (target > 0 and math.isfinite(est.unit_sd)):
        return None
    for n in range(est.k + 1, limit + 1):
        if mde(est.unit_sd / math.sqrt(n), n - est.k, alpha, power) <= target:
            return n
    return None


def units_for_tost(est, margin, alpha=ALPHA, limit=MAX_SEEDS):
    """The smallest n at which TOST would show equivalence if the observed effect and spread per unit stayed as
    they are (|effect| + t_{1-alpha,n-k} * unit_sd / sqrt(n) < margin); None if |effect| >= margin or > limit."""
    if not (abs(est.value) < margin and math.isfinite(est.unit_sd)):
        return None
    for n in range(est.k + 1, limit + 1):
        if abs(est.value) + float(stats.t.ppf(1 - alpha, n - est.k)) * est.unit_sd / math.sqrt(n) < margin:
            return n
    return None


@dataclass(frozen=True)
class Tost:
    """Two one-sided tests of |effect| < margin: p (the larger one-sided p) and the (1 - 2 alpha) interval."""
    p: float
    lo: float
    hi: float
    equivalent: bool


def tost(est, margin, alpha=ALPHA):
    """TOST equivalence of an Estimate within (-margin, margin): H0 effect <= -m or >= m, each rejected by a
    one-sided t-test at alpha; equivalent iff both reject, i.e. iff the (1 - 2 alpha) t-interval lies inside."""
    if est.df < 1 or not math.isfinite(est.se):
        return Tost(math.nan, math.nan, math.nan, False)
    lo, hi = est.ci(1 - 2 * alpha)
    if est.se == 0:
        p = 0.0 if abs(est.value) < margin else 1.0
    else:
        p_lower = float(stats.t.sf((est.value + margin) / est.se, est.df))  # H0: effect <= -margin
        p_upper = float(stats.t.cdf((est.value - margin) / est.se, est.df))  # H0: effect >= +margin
        p = max(p_lower, p_upper)
    return Tost(p, lo, hi, p < alpha)


# ---- the verdict rule (docs/statistics.md, "The rule") --------------------------------------------------------

REPRODUCED = "reproduced"
NOT_REPRODUCED = "not reproduced"
INCONCLUSIVE = "inconclusive"


@dataclass(frozen=True)
class Verdict:
    """The outcome of one claim: verdict, a one-line reason, and the numbers it was decided on (effect in the
    claim's direction A - B, its 95% CI, MDE, TOST p for an equivalence claim, units that would settle it)."""
    verdict: str
    reason: str
    n: int
    effect: float
    lo: float
    hi: float
    mde: float
    tost_p: float = math.nan
    units_needed: int | None = None


def verdict(kind, est, d_pub=None, margin=None, alpha=ALPHA, power=POWER, unit="seeds", against=0.0):
    """Decide a claim from an Estimate of A - B.

    kind ">" (A > B, published effect d_pub points, may be None when the source gives no number):
      reproduced if the 95% CI lies above 0; not reproduced if it lies below 0, or if it contains 0 and the
      MDE <= d_pub; otherwise inconclusive, with the number of `unit` that would bring the MDE to d_pub.
    kind "<" (A < B): the same rule applied to B - A.
    kind "≈" (|A - B| < margin): reproduced if TOST at alpha shows |A - B| < margin; not reproduced if the 95% CI
      lies entirely outside [-margin, margin]; otherwise inconclusive.
    Fewer than k + MIN_DF units (3 pairs for a mean, 4 points for a slope): inconclusive ("needs >= 3 seeds").
    A claim "X > c" (or "<") against a constant decides the same way on one_sample_estimate(values, c); pass
    against=c so that the reason names c, the value the reader sees the interval compared with, not 0.
    """
    if kind not in (">", "<", "≈"):
        raise ValueError(f"unknown claim kind {kind!r} (>, <, ≈)")
    need = est.k + MIN_DF
    if est.n < need or not math.isfinite(est.se):
        what = "seeds" if est.k == 1 else "points over >= 2 sizes"
        why = f"needs >= {need} {what}, have {est.n}" if est.n < need else "not estimable (one size only?)"
        return Verdict(INCONCLUSIVE, why, est.n, est.value, math.nan, math.nan, math.nan)
    lo, hi = est.ci(1 - alpha)
    m = mde(est.se, est.df, alpha, power)
    if kind == "≈":
        t = tost(est, margin, alpha)
        common = dict(n=est.n, effect=est.value, lo=lo, hi=hi, mde=m, tost_p=t.p)
        if t.equivalent:
            return Verdict(REPRODUCED, f"TOST p = {t.p:.3g} < {alpha}: |A-B| < {margin:g}", **common)
        if lo > margin or hi < -margin:
            return Verdict(NOT_REPRODUCED, f"95% CI outside [-{margin:g}, {margin:g}]", **common)
        needed = units_for_tost(est, margin, alpha)
        how = f": ~{needed} {unit} if mean and sd stay as observed" if needed is not None else ""
        return Verdict(INCONCLUSIVE, f"TOST p = {t.p:.3g}, CI overlaps the margin{how}", units_needed=needed,
                       **common)
    common = dict(n=est.n, effect=est.value, lo=lo, hi=hi, mde=m)
    # "<" is ">" on B - A: s turns the effect into the claimed direction, `claimed`/`opposite` name the sides.
    s, claimed, opposite = (1, "above", "below") if kind == ">" else (-1, "below", "above")
    lo_s, hi_s = sorted((s * lo, s * hi))
    c = f"{against:g}"
    if lo_s > 0:
        return Verdict(REPRODUCED, f"95% CI {claimed} {c}", **common)
    if hi_s < 0:
        return Verdict(NOT_REPRODUCED, f"95% CI {opposite} {c}", **common)
    if d_pub is not None and m <= d_pub:
        return Verdict(NOT_REPRODUCED, f"CI contains {c} and MDE {m:.2f} <= published {d_pub:g}", **common)
    if d_pub is None:
        return Verdict(INCONCLUSIVE, f"CI contains {c}; no published effect size to weigh the MDE against", **common)
    needed = units_for_mde(est, d_pub, alpha, power)
    how = f"~{needed} {unit}" if needed is not None else f"more than {MAX_SEEDS} {unit}"
    return Verdict(INCONCLUSIVE, f"CI contains {c}, MDE {m:.2f} > published {d_pub:g}: needs {how}",
                   units_needed=needed, **common)
