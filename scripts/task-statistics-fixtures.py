"""Reference values for the regression and multiclass statistics in src/monitoring/statistics.ts.

Run offline (not by the tests), with Debian's python3-sklearn:
  /usr/bin/python3 scripts/task-statistics-fixtures.py > src/monitoring/task-statistics.fixtures.json
Made with scikit-learn 1.2.1 and numpy 1.24.2. Inputs are stored beside the expected values, so
the tests need neither Python nor this script.
"""
import json

import numpy as np
import sklearn
from sklearn.metrics import (accuracy_score, confusion_matrix, f1_score, log_loss, mean_absolute_error,
                             mean_absolute_percentage_error, mean_squared_error, precision_score, r2_score, recall_score)

rng = np.random.default_rng(20261202)
out = {"generator": f"scripts/task-statistics-fixtures.py (scikit-learn {sklearn.__version__}, numpy {np.__version__})"}

reg = []
for n, zeros in [(500, 0), (37, 3), (1000, 25), (9, 0)]:
    actual = np.round(rng.gamma(2.0, 4000.0, n), 2)
    actual[:zeros] = 0.0
    predicted = np.round(actual * rng.normal(1.0, 0.15, n) + rng.normal(0, 500, n), 2)
    nz = actual != 0
    residual = actual - predicted
    order = np.argsort(predicted, kind="stable")
    deciles = []
    for d, idx in enumerate(np.array_split(order, min(10, n))):
        deciles.append({"decile": d + 1, "rows": int(len(idx)), "mean_predicted": float(predicted[idx].mean()), "mean_actual": float(actual[idx].mean())})
    reg.append({
        "predicted": predicted.tolist(), "actual": actual.tolist(),
        "mae": float(mean_absolute_error(actual, predicted)),
        "rmse": float(np.sqrt(mean_squared_error(actual, predicted))),
        "r2": float(r2_score(actual, predicted)),
        "mape": float(mean_absolute_percentage_error(actual[nz], predicted[nz])),
        "mape_zero_targets": int((~nz).sum()),
        "residual_quantiles": {k: float(np.quantile(residual, q)) for k, q in [("p05", 0.05), ("p25", 0.25), ("p50", 0.5), ("p75", 0.75), ("p95", 0.95)]},
        "deciles": deciles,
    })
out["regression"] = reg

multi = []
for n, classes, absent in [(400, ["France", "Germany", "Spain"], None), (120, ["a", "b", "c", "d", "e"], "e"), (60, ["Month-to-month", "One year", "Two year"], None)]:
    k = len(classes)
    logits = rng.normal(0, 1, (n, k))
    truth = rng.integers(0, k, n)
    if absent is not None:
        truth = np.where(truth == classes.index(absent), 0, truth)  # a class the data never has
        logits[:, classes.index(absent)] -= 5  # and the model never predicts
    logits[np.arange(n), truth] += 1.2
    proba = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    pred = proba.argmax(axis=1)
    y = [classes[i] for i in truth]
    p = [classes[i] for i in pred]
    seen = sorted(set(y) | set(p), key=classes.index)
    multi.append({
        "classes": classes, "actual": y, "predicted": p, "probabilities": proba.tolist(),
        "accuracy": float(accuracy_score(y, p)),
        "macro_f1": float(f1_score(y, p, average="macro", zero_division=0)),
        "weighted_f1": float(f1_score(y, p, average="weighted", zero_division=0)),
        "log_loss": float(log_loss(y, proba, labels=classes)),
        "precision": [float(x) for x in precision_score(y, p, average=None, labels=classes, zero_division=0)],
        "recall": [float(x) for x in recall_score(y, p, average=None, labels=classes, zero_division=0)],
        "confusion": confusion_matrix(y, p, labels=classes).tolist(),
        "seen": seen,
    })
out["multiclass"] = multi

print(json.dumps(out))
