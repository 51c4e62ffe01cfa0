"""Data problems are named as data problems: which column, which rows, what to do.

The cases a careless user or an attacker could feed the data path; README's "When something
is wrong" lists them. Each fails `train` with one line, exit 2, the run FAILED, and no library
warning on stderr.
"""

import os
import socket

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from trackfit import TrackfitError
from trackfit.engines import checks, pandas as data
from trackfit.engines.source import parse
from trackfit.entrypoints.train import train

from .test_errors import assert_failed_run, assert_one_line_error


def lab():
    return data.load(parse("diabetes"))


def csv(path, frame):
    frame.to_csv(path, index=False)
    return str(path)


def closed_port():
    """A loopback port nothing listens on: bound, then released."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def case(tmp_path, name):
    frame = lab()
    if name == "infinity":
        frame.loc[[3, 9], "BMI"] = np.inf
        return csv(tmp_path / "inf.csv", frame), [
            "has infinite values", "in 2 row(s) (BMI: 2; first at row 3)", "replace or drop"]
    if name == "too large for float64":
        path = tmp_path / "huge.csv"
        text = frame.to_csv(index=False).splitlines()
        cells = text[3].split(",")
        cells[2] = "9" * 1_000_000  # one megabyte-long number in a line
        text[3] = ",".join(cells)
        path.write_text("\n".join(text) + "\n")
        return str(path), ["too large for float64", "(BMI: 1; first at row 2)"]
    if name == "three rows":
        return csv(tmp_path / "three.csv", frame.head(3)), [
            "has 3 row(s): test_size 0.3 leaves 2 for training and 1 held out",
            "5-fold cross-validation needs 10 training rows", "Pass at least 15 rows",
            "cv=0 turns them off"]
    if name == "ragged line":
        path = tmp_path / "ragged.csv"
        lines = frame.to_csv(index=False).splitlines()
        lines[5] += ",1,2,3"
        path.write_text("\n".join(lines) + "\n")
        return str(path), ["line 6 has 14 fields where the header has 11", "fix or remove"]
    if name == "booleans":
        frame["SEX"] = frame["SEX"] == 2
        return csv(tmp_path / "bool.csv", frame), ["column SEX holds true/false values"]
    if name == "same column in two cases":
        frame.insert(0, "age", frame["AGE"] + 1)
        return csv(tmp_path / "dup.csv", frame), [
            "columns 'age' and 'AGE', which are both AGE", "keep one"]
    if name == "empty column name":
        frame = frame.rename(columns={"BMI": ""})
        return csv(tmp_path / "unnamed.csv", frame), [
            "lacks column(s) BMI", "column(s) 3 of its header have no name"]
    if name == "nested parquet":
        table = pa.Table.from_pandas(frame, preserve_index=False)
        table = table.set_column(2, "BMI", pa.array([{"v": v} for v in frame["BMI"]]))
        pq.write_table(table, tmp_path / "nested.parquet")
        return str(tmp_path / "nested.parquet"), ["column BMI is not numeric", "row 0"]
    if name == "semicolons":
        frame.to_csv(tmp_path / "semicolons.csv", index=False, sep=";", decimal=",")
        return str(tmp_path / "semicolons.csv"), [
            "data '" + str(tmp_path / "semicolons.csv") + "' seems to use ';' between its "
            "columns (its header is one column, 'AGE;SEX;BMI;BP;S1;S2;S3;S4;S5;S6;Y'); "
            "save it comma-separated and run again"]
    if name in ("tabs", "pipes"):
        separator, said = ("\t", "tabs") if name == "tabs" else ("|", "'|'")
        frame.to_csv(tmp_path / f"{name}.csv", index=False, sep=separator)
        return str(tmp_path / f"{name}.csv"), [
            f"seems to use {said} between its columns (its header is one column, 'AGE",
            "save it comma-separated and run again"]
    if name == "path traversal":
        up = "../" * len(tmp_path.parts)  # from the working folder, however deep, to /etc
        return f"{up}etc/passwd", ["cannot tell the format", "name it .parquet"]
    if name == "folder":
        os.mkdir(tmp_path / "folder.csv")
        return str(tmp_path / "folder.csv"), ["is a folder"]
    if name == "device":
        return "/dev/urandom", ["is not a regular file"]
    if name == "zero bytes":
        (tmp_path / "zero.csv").write_bytes(b"")
        return str(tmp_path / "zero.csv"), ["is empty"]
    if name == "binary named .csv":
        (tmp_path / "binary.csv").write_bytes(bytes(range(128, 256)) * 32)
        return str(tmp_path / "binary.csv"), ["is not UTF-8 text", "byte 0x80 at position 0"]
    if name == "the same column twice":  # pandas reads the second AGE as AGE.1
        path = tmp_path / "twice.csv"
        text = frame.to_csv(index=False)
        path.write_text(text.replace("SEX", "AGE", 1))
        return str(path), ["has two columns named 'AGE' (the second read as 'AGE.1')",
                           "keep one and rename or drop the other"]
    if name == "constant target":
        return csv(tmp_path / "constant.csv", frame.assign(Y=1.0)), [
            "has the same Y (1) in every row", "R2 is undefined", "whose Y varies"]
    if name == "timestamps":
        import pandas as pd

        path = tmp_path / "times.parquet"
        frame.assign(BMI=pd.to_datetime(frame.BMI, unit="s")).to_parquet(path)
        return str(path), ["column BMI is not numeric (row 0: Timestamp("]
    if name == "closed loopback port":
        url = f"http://127.0.0.1:{closed_port()}/diabetes.csv"
        return url, [f"cannot reach data '{url}'", "Connection refused", "check the URL"]
    raise AssertionError(name)


CASES = ["infinity", "too large for float64", "three rows", "ragged line", "booleans",
         "same column in two cases", "empty column name", "semicolons", "tabs", "pipes",
         "nested parquet", "path traversal",
         "folder", "device", "zero bytes", "binary named .csv", "closed loopback port",
         "the same column twice", "constant target", "timestamps"]


@pytest.mark.parametrize("name", CASES)
def test_each_data_problem_is_one_line_about_the_data(run_cli, store, tmp_path, name):
    source, phrases = case(tmp_path, name)
    result = run_cli("train", "--estimator", "linear", "--data", source)
    line = assert_one_line_error(result, *phrases)
    assert "params" not in line and "rejected" not in line
    assert result.stderr.strip() == line  # no library warning around it
    assert_failed_run(store, "train")


def test_infinity_is_a_data_problem_for_predict_too(run_cli, store, tmp_path):
    model = train("linear", cv=0)["model_uri"]
    source, phrases = case(tmp_path, "infinity")
    output = tmp_path / "out.csv"
    result = run_cli("predict", "--data", source, "--output", str(output), "--model", model)
    assert_one_line_error(result, *phrases)
    assert_failed_run(store, "predict")
    assert not output.exists()


@pytest.mark.parametrize("rows, test_size, cv, ok", [
    (15, 0.3, 5, True),   # 10 training rows, 2 per fold; 5 held out
    (14, 0.3, 5, False),  # 9 training rows: one fold of 1
    (3, 0.3, 0, False),   # 1 held out
    (4, 0.5, 0, True),
])
def test_the_smallest_frame_train_accepts(rows, test_size, cv, ok):
    frame = lab().head(rows)
    if ok:
        checks.check_rows(frame, parse("x.csv"), test_size, cv)
    else:
        with pytest.raises(TrackfitError, match="each part needs at least 2 rows"):
            checks.check_rows(frame, parse("x.csv"), test_size, cv)


HUGE = 20_000_000  # characters in one cell or name: a data error quotes about 80 of them


@pytest.mark.parametrize("where", ["cell", "column name"])
def test_a_huge_value_is_quoted_short(store, tmp_path, capsys, where):
    from trackfit.cli import main

    frame = lab().head(30)
    if where == "cell":
        frame = frame.astype({"BMI": object})
        frame.loc[3, "BMI"] = "x" * HUGE
        phrases = ["column BMI is not numeric (row 3: 'xxxx", f"({HUGE:,} characters)"]
    else:  # a second AGE, its name padded with spaces
        frame.insert(0, "age" + " " * HUGE, frame["AGE"])
        phrases = ["has columns 'age   ",
                   f"({HUGE + 3:,} characters) and 'AGE', which are both AGE"]
    path = csv(tmp_path / "huge.csv", frame)
    assert main(["train", "--estimator", "linear", "--cv", "0", "--data", path]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert len(line) < 400, line[:400]
    for phrase in phrases:
        assert phrase in line
    assert line.endswith("fix those values or remove the rows" if where == "cell"
                         else "keep one and rename or drop the other")


@pytest.mark.slow  # a local Spark
def test_a_huge_cell_is_quoted_short_by_spark_too(spark, tmp_path):
    from trackfit.engines import spark as sparkmod

    frame = lab().head(30).astype({"BMI": object})
    frame.loc[3, "BMI"] = "x" * 100_000
    source = parse(csv(tmp_path / "huge.csv", frame))
    with pytest.raises(TrackfitError) as error:
        sparkmod.check(spark.read.csv(source.text, header=True, inferSchema=True), source)
    assert len(str(error.value)) < 400
    assert "column BMI is not numeric (row 3: 'xxxx" in str(error.value)
    assert "(100,000 characters)" in str(error.value)


@pytest.mark.slow  # a local Spark
def test_a_text_cell_is_a_data_problem_for_spark_under_ansi_casts(spark, tmp_path):
    """Spark 4 casts in ANSI mode: a cast of 'n/a' fails the job instead of giving null."""
    from trackfit.engines import spark as sparkmod

    frame = lab().head(30).astype({"BMI": object})
    frame.loc[3, "BMI"] = "n/a"
    source = parse(csv(tmp_path / "text.csv", frame))
    with pytest.raises(TrackfitError) as error:
        sparkmod.check(spark.read.csv(source.text, header=True, inferSchema=True), source)
    assert str(error.value) == (f"data '{source.text}' column BMI is not numeric (row 3: 'n/a'); "
                                "fix those values or remove the rows")


@pytest.mark.parametrize("option, value, phrase", [
    ("--cv", "100000000000000000000", "would need over a billion rows"),
    ("--test_size", "0.0001", "Pass at least 10001 rows"),
    ("--random_state", "-1", "random_state must be a whole number from 0 to 4294967295, got -1"),
])
def test_a_split_no_data_can_meet_says_so_at_once(run_cli, store, option, value, phrase):
    result = run_cli("train", option, value, *(["--cv", "0"] if option != "--cv" else []))
    assert_one_line_error(result, phrase)
    assert_failed_run(store, "train")


def test_a_key_saved_as_the_parquet_index_stays_in_the_predictions(run_cli, store, tmp_path):
    import pandas as pd

    model = train("linear", cv=0)["model_uri"]
    source = tmp_path / "indexed.parquet"
    pd.read_csv(os.path.join(os.path.dirname(__file__), "..", "examples", "new_patients.csv")
                ).set_index("patient_id").to_parquet(source)
    output = tmp_path / "out.csv"
    result = run_cli("predict", "--data", str(source), "--output", str(output), "--model", model)
    assert result.returncode == 0, result.stderr
    written = pd.read_csv(output)
    assert list(written.columns[:2]) == ["patient_id", "AGE"]
    assert written["patient_id"].tolist() == [1001, 1002, 1003, 1004, 1005]


def test_an_output_that_is_a_folder_is_refused_before_any_write(run_cli, store, tmp_path):
    model = train("linear", cv=0)["model_uri"]
    folder = tmp_path / "out.csv"
    folder.mkdir()
    result = run_cli("predict", "--output", str(folder), "--model", model)
    assert_one_line_error(result, "is a folder; pass a file path ending in .parquet or .csv")
    assert list(folder.iterdir()) == [] and not list(tmp_path.glob("*.partial"))


def test_a_silent_http_server_gives_up_in_one_line(run_cli, store, monkeypatch):
    """A server that accepts and never answers: the read gives up, it does not hang."""
    import threading

    monkeypatch.setattr(data, "HTTP_TIMEOUT", 1)
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    held = []
    threading.Thread(target=lambda: held.append(server.accept()), daemon=True).start()
    url = f"http://127.0.0.1:{server.getsockname()[1]}/diabetes.csv"
    try:
        result = run_cli("train", "--data", url, "--cv", "0")
    finally:
        server.close()
    assert_one_line_error(result, f"cannot reach data '{url}'", "timed out")
    assert_failed_run(store, "train")


def test_a_prediction_that_is_not_finite_is_refused_and_nothing_written(run_cli, store,
                                                                       tmp_path):
    import pandas as pd

    model = train("linear", cv=0)["model_uri"]
    rows = pd.read_csv(os.path.join(os.path.dirname(__file__), "..", "examples",
                                    "new_patients.csv"))
    rows.loc[2, "BMI"] = 1.7e308  # finite, but times the model's coefficient it is not
    source, output = csv(tmp_path / "far.csv", rows), tmp_path / "out.csv"
    result = run_cli("predict", "--data", source, "--output", str(output), "--model", model)
    assert_one_line_error(result, "predicts a number that is not finite for 1 row(s)",
                          "(first at row 2)")
    assert result.stderr.strip().count("\n") == 0  # no overflow warning beside it
    assert not output.exists()
    assert_failed_run(store, "predict")


def test_a_missing_output_folder_is_refused_before_the_rows_are_read(run_cli, store, tmp_path,
                                                                     monkeypatch):
    from trackfit.engines import pandas as engine

    model = train("linear", cv=0)["model_uri"]

    def never(*args, **kwargs):
        raise AssertionError("the rows were read before the output was checked")

    monkeypatch.setattr(engine, "read", never)
    output = tmp_path / "missing" / "out.csv"
    result = run_cli("predict", "--model", model, "--output", str(output))
    assert_one_line_error(result, f"output folder {output.parent} does not exist; create it "
                                  "or pick another")
    assert_failed_run(store, "predict")


def test_a_passed_on_column_that_turns_to_text_late_is_written_to_parquet(run_cli, store,
                                                                          tmp_path):
    """pandas reads a big CSV in chunks and types each chunk's column on its own: a key that
    is digits for 262,144 rows and text after came back as ints and strings, which parquet
    cannot hold (ArrowInvalid after every row was scored)."""
    import pandas as pd

    model = train("linear", cv=0)["model_uri"]
    rows = pd.read_csv(os.path.join(os.path.dirname(__file__), "..", "examples",
                                    "new_patients.csv"))
    rows = rows.sample(300_000, replace=True, random_state=0).reset_index(drop=True)
    rows["note"] = [str(i) if i < 262_144 else f"n{i}" for i in range(len(rows))]
    source, output = csv(tmp_path / "mixed.csv", rows), tmp_path / "out.parquet"
    result = run_cli("predict", "--data", source, "--output", str(output), "--model", model)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""  # no DtypeWarning either
    written = pd.read_parquet(output)
    assert written["note"].tolist() == rows["note"].tolist()  # all of it text, as read
    assert len(written) == 300_000
