"""Readers: CSV, TSV, Parquet and RecBole atomic files with caller-named columns, item side information, and
validation that refuses bad input with one line naming the file, the line (or row) and the column.

Every bad input is checked twice: in the library (the DataError message) and through the CLI (non-zero exit,
one stderr line, no traceback).
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from personae.cli import main
from personae.data import Columns, DataError, leave_last_out, read_interactions, read_item_info

COLUMNS = Columns(user="u", item="i", time="t")


def test_csv_is_read_with_the_columns_the_caller_names(tmp_path):
    path = tmp_path / "events.csv"
    path.write_text("who,what,when,extra\n7,apple,100,x\n3,pear,50,y\n7,pear,200,z\n")
    data = read_interactions(path, Columns(user="who", item="what", time="when"))
    assert data.user_ids.tolist() == ["3", "7"]
    assert data.item_ids.tolist() == ["apple", "pear"]
    assert [(data.user_ids[u], data.item_ids[i]) for u, i in zip(data.users, data.items)] == [
        ("7", "apple"), ("3", "pear"), ("7", "pear")]
    assert data.timestamps.tolist() == [100.0, 50.0, 200.0]
    assert data.name == "events"


def test_tsv_is_read_with_a_tab_separator(tmp_path):
    path = tmp_path / "events.tsv"
    path.write_text("u\ti\tt\n1\tA, the movie\t5\n2\tB\t6\n")
    data = read_interactions(path, COLUMNS)
    assert data.item_ids.tolist() == ["A, the movie", "B"]


def test_parquet_is_read_with_named_columns(tmp_path):
    path = tmp_path / "events.parquet"
    pd.DataFrame({"u": [1, 2, 2], "i": [10, 10, 20], "t": [3.0, 1.0, 2.0]}).to_parquet(path)
    data = read_interactions(path, COLUMNS)
    assert (data.n_users, data.n_items, len(data)) == (2, 2, 3)
    assert data.timestamps.tolist() == [3.0, 1.0, 2.0]


def test_recbole_atomic_headers_lose_their_type_suffix(tmp_path):
    path = tmp_path / "mine.inter"
    path.write_text("user_id:token\titem_id:token\trating:float\ttimestamp:float\n1\t5\t4\t100\n2\t5\t3\t90\n")
    data = read_interactions(path, Columns("user_id", "item_id", "timestamp", "rating"))
    assert data.item_ids.tolist() == ["5"]
    assert data.ratings.tolist() == [4.0, 3.0]
    assert data.timestamps.tolist() == [100.0, 90.0]


def test_time_column_is_optional(tmp_path):
    path = tmp_path / "events.csv"
    path.write_text("u,i\n1,a\n2,b\n")
    assert read_interactions(path, Columns("u", "i")).timestamps is None


def test_iso_dates_are_converted_to_seconds(tmp_path):
    path = tmp_path / "events.csv"
    path.write_text("u,i,t\n1,a,1970-01-01T00:01:00Z\n2,b,1970-01-02\n")
    data = read_interactions(path, COLUMNS)
    assert data.timestamps.tolist() == [60.0, 86400.0]


def test_repeated_user_item_events_keep_the_last_with_a_warning_that_counts_them(tmp_path):
    path = tmp_path / "events.csv"
    # user 1 had item a four times (two rows exact duplicates); the latest (t=6, row 3) is the one kept
    path.write_text("u,i,t\n1,a,5\n1,a,5\n1,a,6\n1,a,5\n1,b,1\n")
    with pytest.warns(UserWarning, match=r"events\.csv: dropped 3 repeated \(user, item\) events, keeping the last"):
        data = read_interactions(path, COLUMNS)
    assert list(zip(data.item_ids[data.items], data.timestamps)) == [("a", 6.0), ("b", 1.0)]


def test_a_repeated_item_can_no_longer_be_both_test_target_and_seen_in_train(tmp_path):
    path = tmp_path / "events.csv"
    path.write_text("u,i,t\n1,a,1\n1,b,2\n1,c,3\n1,a,4\n")  # 'a' again last: without the policy, test = a
    with pytest.warns(UserWarning, match="dropped 1 repeated"):
        split = leave_last_out(read_interactions(path, COLUMNS))
    test_items = set(split.test.item_ids[split.test.items])
    assert test_items == {"a"}
    assert not test_items & set(split.train.item_ids[split.train.items])


def test_item_info_reads_titles_and_pipe_separated_genres_aligned_to_item_indices(tmp_path):
    events = tmp_path / "events.csv"
    events.write_text("u,i\n1,20\n1,3\n2,7\n")
    items = tmp_path / "items.csv"
    items.write_text("i,title,genres\n3,Three,Drama|Comedy\n20,Twenty,\n99,Unused,Action\n")
    data = read_interactions(events, Columns("u", "i"))  # item order: 3, 7, 20
    with pytest.warns(UserWarning, match="1 of 3 interacted items have no row here"):
        info = read_item_info(items, "i", data)
    assert info["title"].tolist() == ["Three", "7", "Twenty"]  # item 7 is not in the file: its id
    assert info["genres"].tolist() == [["Drama", "Comedy"], [], []]


def test_item_info_reads_recbole_space_separated_genres(tmp_path):
    events = tmp_path / "x.inter"
    events.write_text("user_id:token\titem_id:token\n1\t1\n")
    items = tmp_path / "x.item"
    items.write_text("item_id:token\tmovie_title:token_seq\tclass:token_seq\n1\tToy Story\tAnimation Children's Comedy\n")
    data = read_interactions(events, Columns("user_id", "item_id"))
    info = read_item_info(items, "item_id", data)
    assert info["title"].tolist() == ["Toy Story"]
    assert info["genres"].tolist() == [["Animation", "Children's", "Comedy"]]


# --- bad input -------------------------------------------------------------------------------------
# Each case: how to make BAD.csv in a folder, and the message the library must give (after the path).
BAD_INPUTS = {
    "missing_column": (lambda p: p.write_text("u,i\n1,a\n"),
                       r"BAD\.csv, column 't': missing column \(the file has: u, i\)"),
    "empty_file": (lambda p: p.write_text(""), r"BAD\.csv: empty file"),
    "header_only": (lambda p: p.write_text("u,i,t\n"), r"BAD\.csv: no data rows after the header"),
    "non_numeric_timestamp": (lambda p: p.write_text("u,i,t\n1,a,5\n2,b,soon\n"),
                              r"BAD\.csv, line 3, column 't': non-numeric timestamp 'soon'"),
    "missing_timestamp": (lambda p: p.write_text("u,i,t\n1,a,5\n2,b,6\n3,c,\n"),
                          r"BAD\.csv, line 4, column 't': missing timestamp"),
    "missing_user_id": (lambda p: p.write_text("u,i,t\n1,a,5\n,b,6\n"), r"BAD\.csv, line 3, column 'u': missing id"),
    "missing_item_id": (lambda p: p.write_text("u,i,t\n1,a,5\n2,b,6\n3, ,7\n"),
                        r"BAD\.csv, line 4, column 'i': missing id"),
    "directory": (lambda p: p.mkdir(), r"BAD\.csv: is a directory, expected a file"),
    "no_such_file": (lambda p: None, r"BAD\.csv: no such file"),
    "latin1_encoding": (lambda p: p.write_bytes("u,i,t\n1,a,5\n2,café,6\n".encode("latin-1")),
                        r"BAD\.csv, line 3: cannot decode as utf-8 text \(byte 0xe9\)"),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_is_refused_with_a_message_naming_file_line_and_column(tmp_path, case):
    make, message = BAD_INPUTS[case]
    path = tmp_path / "BAD.csv"
    make(path)
    with pytest.raises(DataError, match=message):
        read_interactions(path, COLUMNS)


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_through_the_cli_gives_one_error_line_and_no_traceback(tmp_path, capsys, case):
    make, message = BAD_INPUTS[case]
    path = tmp_path / "BAD.csv"
    make(path)
    status = main(["train", "--data", str(path), "--user-col", "u", "--item-col", "i", "--time-col", "t",
                   "--model", "pop", "--out", str(tmp_path / "model")])
    err = capsys.readouterr().err
    assert status != 0
    assert err.count("\n") == 1 and err.startswith("personae: error: ")
    assert re.search(message, err)
    assert "Traceback" not in err
    assert not (tmp_path / "model").exists()


def test_undecodable_byte_deep_in_a_large_file_is_reported_on_its_own_line(tmp_path):
    # The reader decodes in chunks; the line must be counted from the start of the file, not of a chunk.
    lines = ["u,i,t"] + [f"{n % 50},{n % 70},{n}" for n in range(200_000)]
    lines[150_000] = "7,caf\xe9,1"
    path = tmp_path / "big.csv"
    path.write_bytes(("\n".join(lines) + "\n").encode("latin-1"))
    with pytest.raises(DataError, match=r"big\.csv, line 150001: cannot decode"):
        read_interactions(path, COLUMNS)


def test_blank_lines_are_skipped_but_still_counted_in_line_numbers(tmp_path):
    path = tmp_path / "events.csv"
    path.write_text("u,i,t\n1,a,5\n\n2,b,soon\n\n")
    with pytest.raises(DataError, match=r"events\.csv, line 4, column 't': non-numeric timestamp 'soon'"):
        read_interactions(path, COLUMNS)


def test_trailing_blank_lines_are_not_events(tmp_path):
    path = tmp_path / "events.csv"
    path.write_text("u,i,t\n1,a,5\n2,b,6\n\n\n")
    assert len(read_interactions(path, COLUMNS)) == 2


def test_a_utf8_byte_order_mark_does_not_become_part_of_the_first_column_name(tmp_path):
    path = tmp_path / "excel.csv"
    path.write_bytes("u,i,t\n1,a,5\n".encode("utf-8-sig"))
    assert read_interactions(path, COLUMNS).user_ids.tolist() == ["1"]


def test_missing_id_in_parquet_names_the_row(tmp_path):
    path = tmp_path / "events.parquet"
    pd.DataFrame({"u": ["1", None, "3"], "i": ["a", "b", "c"], "t": [1, 2, 3]}).to_parquet(path)
    # row 2 counted from 1 (Parquet has no header line)
    with pytest.raises(DataError, match=r"events\.parquet, line 2, column 'u': missing id"):
        read_interactions(path, COLUMNS)


def test_corrupt_parquet_is_refused_with_the_file_name(tmp_path):
    path = tmp_path / "events.parquet"
    path.write_bytes(b"PAR1 this is not parquet")
    with pytest.raises(DataError, match=r"events\.parquet: not a readable Parquet file"):
        read_interactions(path, COLUMNS)


def test_item_info_without_the_item_column_is_refused(tmp_path):
    events = tmp_path / "events.csv"
    events.write_text("u,i\n1,a\n")
    items = tmp_path / "items.csv"
    items.write_text("id,title\na,A\n")
    data = read_interactions(events, Columns("u", "i"))
    with pytest.raises(DataError, match=r"items\.csv, column 'i': missing column"):
        read_item_info(items, "i", data)


def test_bad_input_via_the_installed_command_prints_no_traceback(tmp_path):
    bad = tmp_path / "BAD.csv"
    bad.write_text("u,i,t\n1,a,5\n2,b,soon\n")
    script = Path(sys.executable).with_name("personae")
    result = subprocess.run([str(script), "train", "--data", str(bad), "--user-col", "u", "--item-col", "i",
                             "--time-col", "t", "--model", "pop", "--out", str(tmp_path / "m")],
                            check=False, capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
    assert result.stderr.strip().splitlines() == [
        f"personae: error: {bad}, line 3, column 't': non-numeric timestamp 'soon'"]
    assert "Traceback" not in result.stderr


def test_an_item_file_whose_ids_match_no_interaction_warns_with_counts(tmp_path):
    events, items = tmp_path / "events.csv", tmp_path / "items.csv"
    events.write_text("u,i\n1,20\n2,7\n")
    items.write_text("i,title\nA,Alpha\nB,Beta\nC,Gamma\n")  # keyed by another id than the interactions
    data = read_interactions(events, Columns("u", "i"))
    with pytest.warns(UserWarning, match=r"items\.csv: 2 of 2 interacted items have no row here \(column 'i'; "
                                         r"0 of the file's 3 ids match an interaction\)"):
        info = read_item_info(items, "i", data)
    assert info["title"].tolist() == ["7", "20"]


@pytest.mark.parametrize("value, problem", [("great", "bad rating 'great' (expected a finite number)"),
                                            ("inf", "bad rating 'inf' (expected a finite number)"),
                                            ("", "missing rating")])
def test_a_bad_rating_value_is_refused_naming_its_line(tmp_path, value, problem):
    path = tmp_path / "events.csv"
    path.write_text(f"u,i,t,r\n1,a,5,4\n2,b,6,{value}\n")
    with pytest.raises(DataError) as caught:
        read_interactions(path, Columns("u", "i", "t", rating="r"))
    assert str(caught.value) == f"{path}, line 3, column 'r': {problem}"


def test_a_parquet_list_column_is_refused_in_one_line_through_the_cli(tmp_path, capsys):
    path = tmp_path / "events.parquet"
    pd.DataFrame({"u": ["1", "2"], "i": [["a", "b"], ["c"]], "t": [1, 2]}).to_parquet(path)
    status = main(["train", "--data", str(path), "--user-col", "u", "--item-col", "i", "--time-col", "t",
                   "--model", "pop", "--out", str(tmp_path / "model")])
    err = capsys.readouterr().err
    assert status != 0
    message = f"{path}, line 1, column 'i': holds a list (a Parquet list column?); expected one value per row"
    assert err.splitlines() == [f"personae: error: {message}"]


def test_parquet_list_genres_in_an_item_file_are_read_as_genres(tmp_path):
    events, items = tmp_path / "events.csv", tmp_path / "items.parquet"
    events.write_text("u,i\n1,a\n")
    pd.DataFrame({"i": ["a"], "title": ["Alpha"], "genres": [["Drama", "Comedy"]]}).to_parquet(items)
    info = read_item_info(items, "i", read_interactions(events, Columns("u", "i")))
    assert info["genres"].tolist() == [["Drama", "Comedy"]]
