"""The lab's notebook cells as written, run as one script: the baseline of figure 1.

Same data as trackfit (the 442 diabetes rows, the lab's column names), same store kind
(whatever MLFLOW_TRACKING_URI names; the benchmark gives each run a fresh SQLite file).
Two cell-level changes: the bar chart is saved to a file where a notebook would show it
inline, and the lab's last step, saving the run's model as `model-diabetes` (a click in
the lab's UI), is the one MLflow call that does it.
"""

import matplotlib

matplotlib.use("Agg")

# Cell: load the data (the lab reads the same rows from a public dataset).
from sklearn.datasets import load_diabetes

df = load_diabetes(scaled=False, as_frame=True).frame
df.columns = ["AGE", "SEX", "BMI", "BP", "S1", "S2", "S3", "S4", "S5", "S6", "Y"]

# Cell: split.
from sklearn.model_selection import train_test_split

X, y = df[["AGE", "SEX", "BMI", "BP", "S1", "S2", "S3", "S4", "S5", "S6"]].values, df["Y"].values
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.30, random_state=0)

# Cell: the experiment.
import mlflow

experiment_name = "experiment-diabetes"
mlflow.set_experiment(experiment_name)

# Cell: linear regression, autologged.
from sklearn.linear_model import LinearRegression

with mlflow.start_run():
    mlflow.sklearn.autolog()

    model = LinearRegression()
    model.fit(X_train, y_train)

    mlflow.log_param("estimator", "LinearRegression")

# Cell: decision tree, autologged.
from sklearn.tree import DecisionTreeRegressor

with mlflow.start_run():
    mlflow.sklearn.autolog()

    model = DecisionTreeRegressor(max_depth=5)
    model.fit(X_train, y_train)

    mlflow.log_param("estimator", "DecisionTreeRegressor")

# Cell: look at the runs.
exp = mlflow.get_experiment_by_name(experiment_name)
last_run = dict(mlflow.search_runs(exp.experiment_id).iloc[-1])
print(last_run)

# Cell: compare the runs in a chart.
import matplotlib.pyplot as plt

experiment_buys = mlflow.get_experiment_by_name(experiment_name)
df_results = mlflow.search_runs(
    experiment_buys.experiment_id, order_by=["start_time DESC"], max_results=2
)[["metrics.training_r2_score", "params.estimator"]]

fig, ax = plt.subplots()
ax.bar(df_results["params.estimator"], df_results["metrics.training_r2_score"])
ax.set_xlabel("Estimator")
ax.set_ylabel("R2 score")
ax.set_title("R2 score by Estimator")
for i, v in enumerate(df_results["metrics.training_r2_score"]):
    ax.text(i, v, str(round(v, 2)), ha="center", va="bottom", fontweight="bold")
fig.savefig("r2_by_estimator.png")  # plt.show() in the notebook

# Save the best run's model as `model-diabetes` (the lab does this in its UI).
best = mlflow.search_runs(
    exp.experiment_id, order_by=["metrics.training_r2_score DESC"], max_results=1
).iloc[0]
mlflow.register_model(f"runs:/{best.run_id}/model", "model-diabetes")
