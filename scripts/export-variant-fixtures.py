"""Export variants of scikit-learn graphs that registration must read right or refuse, for the tests.

Run offline (not by the tests), with Debian's python3-sklearn 1.2.1 and python3-onnx 1.12, and the
sources of skl2onnx 1.14.1 and onnxconverter-common 1.14.0 on PYTHONPATH:
  PYTHONPATH=… /usr/bin/python3 scripts/export-variant-fixtures.py DATASETS_DIR test/fixtures
DATASETS_DIR holds the public telco_churn.csv and bank_churn.csv. Each <name>.expected.json holds 50
held-out rows (`rows`, null = missing numeric) and what scikit-learn computed for them: `proba`
(predict_proba, one list per row in `classes` order) or `decision` (decision_function); the matrix
export also names its columns (`feature_names`), and telco_words the rows' real classes (`truth`).
"""
import json, sys
import numpy as np, pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.svm import LinearSVC, SVC
from sklearn.ensemble import RandomForestClassifier
from skl2onnx import convert_sklearn, to_onnx
from skl2onnx.common.data_types import FloatTensorType, StringTensorType

D, OUT = sys.argv[1], sys.argv[2]
rng = np.random.RandomState(5)

t = pd.read_csv(f'{D}/telco_churn.csv')
tnum = ['SeniorCitizen', 'tenure', 'MonthlyCharges', 'TotalCharges']
tcat = ['gender', 'Partner', 'Dependents', 'PhoneService', 'MultipleLines', 'InternetService', 'OnlineSecurity', 'Contract', 'PaperlessBilling', 'PaymentMethod']
ty = (t['Churn'] == 'Yes').astype(int).values
b = pd.read_csv(f'{D}/bank_churn.csv')
bnum = ['CreditScore', 'Age', 'Tenure', 'Balance', 'NumOfProducts', 'HasCrCard', 'IsActiveMember', 'EstimatedSalary']
bgeo = b['Geography'].fillna('missing').astype(str).values


def export(name, df, num, cat, y, model, options, note, rows=None, encoder=None, truth=False):
    df = df.copy()
    for c in cat: df[c] = df[c].fillna('missing').astype(str)
    for c in num: df[c] = pd.to_numeric(df[c], errors='coerce').astype(np.float32)
    X = df[num + cat]
    idx = rng.permutation(len(X))
    cut = int(len(X) * 0.75) if rows is None else rows
    tr, te = idx[:cut], idx[cut:]
    pre = ColumnTransformer([('num', Pipeline([('imp', SimpleImputer(strategy='median')), ('sc', StandardScaler())]), num),
                             ('cat', encoder or OneHotEncoder(handle_unknown='ignore'), cat)], sparse_threshold=0)
    pipe = Pipeline([('pre', pre), ('m', model)]).fit(X.iloc[tr], y[tr])
    types = [(c, FloatTensorType([None, 1])) for c in num] + [(c, StringTensorType([None, 1])) for c in cat]
    onx = convert_sklearn(pipe, initial_types=types, target_opset={'': 15, 'ai.onnx.ml': 2}, options={id(model): options} if options else None)
    open(f'{OUT}/{name}.onnx', 'wb').write(onx.SerializeToString())
    R = X.iloc[te[:50]]
    exp = {'source': note, 'outputs': [o.name for o in onx.graph.output], 'classes': [str(c) for c in pipe.classes_],
           'rows': [{c: (None if (c in num and pd.isna(r[c])) else (float(r[c]) if c in num else str(r[c]))) for c in X.columns} for _, r in R.iterrows()]}
    if truth: exp['truth'] = [str(v) for v in y[te[:50]]]
    if hasattr(pipe, 'predict_proba') and not isinstance(model, SVC):
        exp['proba'] = pipe.predict_proba(R).tolist()
    else:
        exp['decision'] = pipe.decision_function(R).tolist()
    json.dump(exp, open(f'{OUT}/{name}.expected.json', 'w'))
    print(name, exp['outputs'])


export('telco_columns', t, tnum, tcat, ty, LogisticRegression(max_iter=500), {'zipmap': 'columns'},
       "telco_churn.csv, target Churn as 0/1; LogisticRegression exported with options={'zipmap': 'columns'}: one output per class")
export('bank_columns', b, bnum, ['Gender'], bgeo, LogisticRegression(max_iter=500), {'zipmap': 'columns'},
       "bank_churn.csv, target Geography (4 classes with a dirty '?'); LogisticRegression with options={'zipmap': 'columns'}")
export('telco_linearsvc', t, tnum, tcat, ty, LinearSVC(random_state=0, max_iter=5000), None,
       'telco_churn.csv, target Churn; LinearSVC: its "probabilities" output is the decision function')
export('telco_svc', t, tnum, tcat, ty, SVC(), None,
       'telco_churn.csv, target Churn; SVC(rbf) without probability=True, trained on 600 rows: "probabilities" are decision values', rows=600)

export('telco_strict', t, tnum, tcat, ty, LogisticRegression(max_iter=500), None,
       "telco_churn.csv, target Churn; OneHotEncoder(drop='first'), so handle_unknown='error': the graph's encoders refuse unknown categories (zeros=0)",
       encoder=OneHotEncoder(drop='first'))

# A binary model whose classes are words, not 0/1: its own labels are its outcomes.
tw = t.copy()
tw['Outcome'] = np.where(tw['Churn'] == 'Yes', 'left', 'stayed')
export('telco_words', tw, tnum, tcat, tw['Outcome'].values, LogisticRegression(max_iter=500), None,
       "telco_churn.csv, target Churn recoded as left/stayed; LogisticRegression: classes sort as left, stayed, so column 1 is stayed", truth=True)

# to_onnx(model, X[:1]) types the one input as X's dtype: an all-integer table makes an int64 [N,F] input.
icols = ['CreditScore', 'Age', 'Tenure', 'NumOfProducts', 'HasCrCard', 'IsActiveMember']
bi = b.copy()
for c in icols + ['Exited']: bi[c] = pd.to_numeric(bi[c], errors='coerce')
bi = bi.dropna(subset=icols + ['Exited'])
Xi = bi[icols].values.astype(np.int64)
forest = RandomForestClassifier(n_estimators=8, max_depth=5, random_state=0).fit(Xi[:7000], bi['Exited'].astype(int).values[:7000])
onx = to_onnx(forest, Xi[:1], target_opset={'': 15, 'ai.onnx.ml': 2})
open(f'{OUT}/bank_int_matrix.onnx', 'wb').write(onx.SerializeToString())
R = Xi[7000:7050]
json.dump({'source': 'bank_churn.csv, target Exited; RandomForestClassifier(8 trees, depth 5) exported by to_onnx(model, X[:1]) from an int64 table',
           'outputs': [o.name for o in onx.graph.output], 'classes': [str(c) for c in forest.classes_], 'feature_names': icols,
           'rows': [dict(zip(icols, map(int, r))) for r in R], 'proba': forest.predict_proba(R).tolist()}, open(f'{OUT}/bank_int_matrix.expected.json', 'w'))
print('bank_int_matrix', [(i.name, i.type.tensor_type.elem_type) for i in onx.graph.input])
