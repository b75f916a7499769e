"""Reference values for src/monitoring/statistics.test.ts, computed with scipy and scikit-learn.

Run offline (not by the tests): python3 scripts/statistics-fixtures.py > src/monitoring/statistics.fixtures.json
Made with scipy 1.17.1, scikit-learn 1.6.1, numpy 2.4.6. Inputs are stored beside the expected
values, so the tests need neither Python nor this script.
"""
import json

import numpy as np
from scipy.spatial.distance import jensenshannon
from scipy.stats import ks_2samp, kstwobign
from sklearn.calibration import calibration_curve
from sklearn.metrics import accuracy_score, average_precision_score, brier_score_loss, f1_score, log_loss, precision_score, recall_score, roc_auc_score

rng = np.random.default_rng(20261124)
out = {"generator": "scripts/statistics-fixtures.py (scipy 1.17.1, scikit-learn 1.6.1, numpy 2.4.6)"}


def rounded(a, d=4):
    return [round(float(x), d) for x in a]


# Two-sample KS: statistic as ks_2samp; p-value from the asymptotic Kolmogorov distribution
# with n = n1*n2/(n1+n2) (ks_2samp's "asymp" method uses the finite-n kstwo instead).
ks = []
for n1, n2, shift, ints in [(200, 300, 0.3, False), (50, 40, 0.0, False), (5, 7, 1.0, False), (400, 400, 0.1, True), (1000, 150, 0.5, False)]:
    a = rounded(rng.normal(0, 1, n1))
    b = rounded(rng.normal(shift, 1.2, n2))
    if ints:
        a = [float(round(x * 2)) for x in a]
        b = [float(round(x * 2)) for x in b]
    r = ks_2samp(a, b)
    en = n1 * n2 / (n1 + n2)
    ks.append({"a": a, "b": b, "statistic": float(r.statistic), "p_value": float(kstwobign.sf(np.sqrt(en) * r.statistic))})
out["ks"] = ks
out["kolmogorov_sf"] = [{"lambda": l, "sf": float(kstwobign.sf(l))} for l in [0.2, 0.5, 0.8, 1.0, 1.17, 1.19, 1.5, 2.0, 3.0]]

js = []
for _ in range(4):
    k = int(rng.integers(3, 9))
    p = rng.integers(0, 50, k).astype(float)
    q = rng.integers(0, 50, k).astype(float)
    p[0] += 1
    q[-1] += 1
    js.append({"a": p.tolist(), "b": q.tolist(), "distance": float(jensenshannon(p / p.sum(), q / q.sum(), base=2))})
js.append({"a": [10, 0], "b": [0, 10], "distance": float(jensenshannon([1, 0], [0, 1], base=2))})
out["js"] = js

# PSI by its textbook definition, written here independently: sum((q - p) * ln(q / p)),
# with each share floored at 1e-4 so empty bins stay finite.
psi = []
for _ in range(4):
    k = int(rng.integers(4, 11))
    p = rng.integers(0, 100, k).astype(float)
    q = rng.integers(0, 100, k).astype(float)
    p[1] = 0
    ps = np.maximum(p / p.sum(), 1e-4)
    qs = np.maximum(q / q.sum(), 1e-4)
    psi.append({"a": p.tolist(), "b": q.tolist(), "psi": float(np.sum((qs - ps) * np.log(qs / ps)))})
out["psi"] = psi

cls = []
for n, pos_rate in [(300, 0.3), (57, 0.5), (1000, 0.08)]:
    y = (rng.random(n) < pos_rate).astype(int)
    s = np.clip(np.round(0.35 * y + rng.random(n) * 0.6 + 0.02, 2), 0.01, 0.99)  # rounded: ties on purpose
    pred = (s >= 0.5).astype(int)
    cls.append({
        "labels": y.tolist(), "scores": s.tolist(), "threshold": 0.5,
        "roc_auc": float(roc_auc_score(y, s)), "brier": float(brier_score_loss(y, s)), "log_loss": float(log_loss(y, s)),
        "precision": float(precision_score(y, pred)), "recall": float(recall_score(y, pred)), "f1": float(f1_score(y, pred)),
        "average_precision": float(average_precision_score(y, s)), "accuracy": float(accuracy_score(y, pred)),
        # calibration_curve drops empty bins; the test compares the non-empty ones.
        "calibration": [[float(t), float(p)] for t, p in zip(*calibration_curve(y, s, n_bins=10, strategy="uniform"))],
    })
out["classification"] = cls

edges = []
for n, bins, ints in [(1000, 10, False), (37, 10, False), (500, 10, True), (200, 4, False)]:
    v = rng.gamma(2.0, 3.0, n)
    if ints:
        v = np.floor(v / 3)
    v = np.round(v, 3)
    q = np.quantile(v, [k / bins for k in range(1, bins)], method="inverted_cdf")
    e = sorted(set(float(x) for x in q))
    if e and e[-1] == float(v.max()):
        e.pop()
    edges.append({"values": v.tolist(), "bins": bins, "edges": e})
out["quantile_edges"] = edges

print(json.dumps(out))
