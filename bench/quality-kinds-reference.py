"""scikit-learn references for bench/quality.ts (regression and multiclass), on the same split.

Run offline: /usr/bin/python3 bench/quality-kinds-reference.py ../shared/datasets
Debian's python3-sklearn 1.2.1 and python3-pandas. Rows without a target are dropped, then row
i is a test row when i % 4 == 0 (modelgate's default index split). Categorical columns are the
non-numeric ones: native categories for the histogram gradient boosting (ordinal codes for a
column with 255 or more), one-hot (with the
numbers median-imputed and standardised) for the linear models, as modelgate's own pipelines.
"""
import sys

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.metrics import accuracy_score, log_loss, r2_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler

d = sys.argv[1] if len(sys.argv) > 1 else "../shared/datasets"
MISSING = ["", "NA", "N/A", "NULL", "null", "NaN", "nan", "?", "None"]


def load(file, target, exclude):
    df = pd.read_csv(f"{d}/{file}", na_values=MISSING, keep_default_na=False)
    df = df[df[target].notna()].reset_index(drop=True)
    y = df[target]
    X = df.drop(columns=[target, *exclude])
    num = [c for c in X.columns if pd.api.types.is_numeric_dtype(X[c])]
    cat = [c for c in X.columns if c not in num]
    X[cat] = X[cat].fillna("").astype(str)
    test = np.arange(len(df)) % 4 == 0
    return X, y, num, cat, test


def hgb(kind, X, num, cat):
    ord_ = ColumnTransformer([("cat", OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1, encoded_missing_value=-1), cat)], remainder="passthrough")
    # Native categories need at most 255 of them; a wider column (country) is ordinal-coded instead.
    mask = [X[c].nunique() < 255 for c in cat] + [False] * len(num)
    model = (HistGradientBoostingRegressor if kind == "regression" else HistGradientBoostingClassifier)(categorical_features=mask, random_state=42)
    return make_pipeline(ord_, model)


def linear(kind, num, cat):
    pre = ColumnTransformer([("num", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), num), ("cat", OneHotEncoder(handle_unknown="ignore"), cat)])
    return make_pipeline(pre, Ridge(alpha=1.0) if kind == "regression" else LogisticRegression(C=1.0, max_iter=2000))


X, y, num, cat, test = load("hotel_bookings.csv", "adr", ["reservation_status", "reservation_status_date"])
for name, m in [("hgb", hgb("regression", X, num, cat)), ("ridge", linear("regression", num, cat))]:
    m.fit(X[~test], y[~test])
    print(f"hotel_bookings adr {name}: R2 {r2_score(y[test], m.predict(X[test])):.4f}")

X, y, num, cat, test = load("telco_churn.csv", "Contract", ["customerID"])
for name, m in [("hgb", hgb("multiclass", X, num, cat)), ("logistic", linear("multiclass", num, cat))]:
    m.fit(X[~test], y[~test])
    p = m.predict_proba(X[test])
    print(f"telco_churn Contract {name}: accuracy {accuracy_score(y[test], m.classes_[p.argmax(1)]):.4f} log loss {log_loss(y[test], p, labels=m.classes_):.4f}")
