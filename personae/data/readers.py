"""Readers for interaction files (CSV, TSV, Parquet, RecBole atomic) with validation that names the place.

Every failure raises :class:`DataError` whose message names the file, the line (or row) and the column.
"""

from __future__ import annotations

import csv
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from personae.data.interactions import Interactions
from personae.errors import DataError, where

TEXT_FORMATS = {".csv": ",", ".tsv": "\t", ".tab": "\t", ".txt": None}
RECBOLE_SUFFIXES = {".inter", ".item", ".user"}


@dataclass(frozen=True)
class Columns:
    """Which columns of the caller's file hold the user, item, time and (optional) rating."""

    user: str
    item: str
    time: str | None = None
    rating: str | None = None


def _check_file(path: Path) -> None:
    if not path.exists():
        raise DataError(f"{path}: no such file")
    if path.is_dir():
        raise DataError(f"{path}: is a directory, expected a file")
    if path.stat().st_size == 0:
        raise DataError(f"{path}: empty file")


def read_table(path: str | Path, encoding: str = "utf-8") -> pd.DataFrame:
    """Read a whole table as strings. RecBole headers like ``user_id:token`` lose their type suffix.

    The frame's index is where each row came from, for messages: the line of a text file (blank lines are
    dropped but still counted), or the 1-based row of a Parquet file.
    """
    path = Path(path)
    _check_file(path)
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        try:
            frame = pd.read_parquet(path)
        except Exception as exc:  # noqa: BLE001 - pyarrow raises many types for a corrupt file
            raise DataError(f"{path}: not a readable Parquet file ({type(exc).__name__})") from None
        frame.index = np.arange(1, len(frame) + 1)
        return frame
    separator = "\t" if suffix in RECBOLE_SUFFIXES else TEXT_FORMATS.get(suffix)
    try:
        return _read_text_table(path, suffix, separator, encoding)
    except OSError as exc:
        raise DataError(f"{path}: cannot read ({exc.strerror or exc})") from None


def _read_text_table(path: Path, suffix: str, separator: str | None, encoding: str) -> pd.DataFrame:
    try:
        # utf-8-sig also reads UTF-8 with a byte order mark (as spreadsheets write it) without a stray
        # '\ufeff' in the first column's name.
        text_encoding = "utf-8-sig" if encoding.lower().replace("_", "-") in ("utf-8", "utf8") else encoding
        with path.open(encoding=text_encoding, newline="") as handle:
            if separator is None:
                sample = handle.read(4096)
                handle.seek(0)
                try:
                    separator = csv.Sniffer().sniff(sample, delimiters=",\t;|").delimiter
                except csv.Error:
                    separator = ","
            frame = pd.read_csv(handle, sep=separator, dtype=str, keep_default_na=False,
                                quoting=csv.QUOTE_MINIMAL, engine="c", skip_blank_lines=False)
    except UnicodeDecodeError:
        line, byte = _first_undecodable_byte(path, encoding)
        raise DataError(f"{where(path, line)}: cannot decode as {encoding} text (byte 0x{byte:02x})") from None
    except pd.errors.EmptyDataError:
        raise DataError(f"{path}: empty file") from None
    except pd.errors.ParserError as exc:
        raise DataError(f"{path}: malformed table ({str(exc).strip().splitlines()[-1]})") from None
    frame.columns = [str(c).split(":", 1)[0] if suffix in RECBOLE_SUFFIXES else str(c) for c in frame.columns]
    frame.index = np.arange(2, len(frame) + 2)  # line 1 is the header
    frame = frame.loc[~(frame == "").all(axis=1)]  # blank lines
    if frame.empty:
        raise DataError(f"{path}: no data rows after the header")
    return frame


def _first_undecodable_byte(path: Path, encoding: str) -> tuple[int, int]:
    """(line, byte value) of the first byte that does not decode. Decoding the whole file again gives the
    offset from the start of the file; the error raised while reading holds an offset into one chunk."""
    raw = path.read_bytes()
    try:
        raw.decode(encoding)
    except UnicodeDecodeError as exc:
        return raw.count(b"\n", 0, exc.start) + 1, raw[exc.start]
    return 1, 0


def _require_columns(frame: pd.DataFrame, path: Path, wanted: list[str]) -> None:
    for column in wanted:
        if column not in frame.columns:
            have = ", ".join(map(str, frame.columns))
            raise DataError(f"{where(path, column=column)}: missing column (the file has: {have})")


def _require_scalars(frame: pd.DataFrame, path: Path, columns: list[str]) -> None:
    """Refuse list cells (a Parquet list column) where one value per row is expected."""
    for column in columns:
        is_list = frame[column].map(lambda v: isinstance(v, (list, tuple, np.ndarray))).to_numpy(dtype=bool)
        if is_list.any():
            line = int(frame.index[np.argmax(is_list)])
            raise DataError(f"{where(path, line, column)}: holds a list (a Parquet list column?); expected one "
                            f"value per row")


def _require_ids(frame: pd.DataFrame, path: Path, column: str) -> np.ndarray:
    values = frame[column].astype("string").str.strip()
    missing = values.isna() | (values == "")
    if missing.any():
        line = int(frame.index[np.argmax(missing.to_numpy())])
        raise DataError(f"{where(path, line, column)}: missing id")
    return values.to_numpy(dtype=object).astype(str)


def _parse_times(frame: pd.DataFrame, path: Path, column: str) -> np.ndarray:
    """Numeric timestamps, or ISO dates converted to seconds; anything else is refused with its line."""
    raw = frame[column]
    numbers = pd.to_numeric(raw, errors="coerce")
    bad = numbers.isna()
    if bad.any():
        dates = pd.to_datetime(raw, errors="coerce", utc=True, format="ISO8601")
        if not dates.isna().any():
            # Seconds since the epoch whatever the parsed resolution (pandas may pick us or s, not ns).
            epoch = pd.Timestamp(0, tz="UTC")
            return ((dates - epoch) / pd.Timedelta(seconds=1)).to_numpy(dtype=np.float64)
        row = int(np.argmax(bad.to_numpy()))
        value = str(raw.iloc[row])
        problem = "missing timestamp" if value.strip() == "" else f"non-numeric timestamp '{value}'"
        raise DataError(f"{where(path, int(frame.index[row]), column)}: {problem}")
    return numbers.to_numpy(dtype=np.float64)


def _parse_ratings(frame: pd.DataFrame, path: Path, column: str) -> np.ndarray:
    """Finite numeric ratings; a missing, non-numeric or infinite value is refused with its line."""
    numbers = pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=np.float64)
    bad = ~np.isfinite(numbers)
    if bad.any():
        row = int(np.argmax(bad))
        value = str(frame[column].iloc[row])
        problem = "missing rating" if value.strip() == "" else f"bad rating '{value}' (expected a finite number)"
        raise DataError(f"{where(path, int(frame.index[row]), column)}: {problem}")
    return numbers.astype(np.float32)


def read_interactions(
    path: str | Path,
    columns: Columns,
    name: str | None = None,
    encoding: str = "utf-8",
) -> Interactions:
    """Read an interactions file into :class:`Interactions`, validating every field it uses.

    Repeated (user, item) events, exact duplicate rows included, keep only the pair's last event (latest in
    time, ties to the later row), with a warning that counts the dropped ones: see
    :meth:`Interactions.without_repeats` for why.
    """
    path = Path(path)
    frame = read_table(path, encoding=encoding)
    wanted = [c for c in (columns.user, columns.item, columns.time, columns.rating) if c]
    _require_columns(frame, path, wanted)
    _require_scalars(frame, path, wanted)
    users = _require_ids(frame, path, columns.user)
    items = _require_ids(frame, path, columns.item)
    times = _parse_times(frame, path, columns.time) if columns.time else None
    ratings = _parse_ratings(frame, path, columns.rating) if columns.rating else None
    data, repeats = Interactions.from_ids(users, items, times, ratings, name=name or path.stem).without_repeats()
    if repeats:
        warnings.warn(f"{path}: dropped {repeats} repeated (user, item) events, keeping the last event of each "
                      f"pair", stacklevel=2)
    return data


def _split_genres(value: object) -> list[str]:
    if isinstance(value, (list, tuple, np.ndarray)):  # a Parquet list column
        return [str(g).strip() for g in value if str(g).strip()]
    text = str(value).strip()
    if not text:
        return []
    separator = "|" if "|" in text else None
    return [g.strip() for g in text.split(separator) if g.strip()]


def read_item_info(path: str | Path, item_col: str, data: Interactions, encoding: str = "utf-8") -> pd.DataFrame:
    """Item side information aligned to ``data``'s item indices: ``title`` and ``genres`` where present.

    Recognised columns: ``title`` or ``movie_title``, and ``genres``, ``genre`` or ``class`` (genres separated
    by ``|`` or by spaces as in RecBole's token_seq).
    """
    path = Path(path)
    frame = read_table(path, encoding=encoding)
    _require_columns(frame, path, [item_col])
    title_col = next((c for c in ("title", "movie_title", "name") if c in frame.columns), None)
    _require_scalars(frame, path, [item_col] + ([title_col] if title_col else []))
    frame[item_col] = frame[item_col].astype("string").str.strip()
    frame = frame.drop_duplicates(subset=[item_col], keep="first").set_index(item_col)
    unmatched = int((~pd.Index(data.item_ids).isin(frame.index)).sum())
    if unmatched:
        matched = int(frame.index.isin(data.item_ids).sum())
        warnings.warn(f"{path}: {unmatched} of {data.n_items} interacted items have no row here (column "
                      f"'{item_col}'; {matched} of the file's {len(frame)} ids match an interaction)", stacklevel=2)
    aligned = frame.reindex(pd.Index(data.item_ids))
    info = pd.DataFrame(index=np.arange(data.n_items))
    if title_col:
        titles = aligned[title_col].fillna("").to_numpy(dtype=object)
        info["title"] = [t if t else data.item_ids[i] for i, t in enumerate(titles)]
    genre_col = next((c for c in ("genres", "genre", "class") if c in frame.columns), None)
    if genre_col:
        info["genres"] = [_split_genres(g) for g in aligned[genre_col].fillna("").to_numpy(dtype=object)]
    return info


def read_user_info(path: str | Path, user_col: str, data: Interactions, encoding: str = "utf-8") -> pd.DataFrame:
    """User side information (every column but the id) aligned to ``data``'s user indices."""
    path = Path(path)
    frame = read_table(path, encoding=encoding)
    _require_columns(frame, path, [user_col])
    frame = frame.drop_duplicates(subset=[user_col], keep="first").set_index(user_col)
    aligned = frame.reindex(pd.Index(data.user_ids))
    return aligned.reset_index(drop=True)
