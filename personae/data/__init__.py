"""Data: the Interactions container, readers, the dataset registry, splits and negative sampling."""

from personae.data.interactions import Interactions
from personae.data.readers import Columns, read_interactions, read_item_info, read_user_info
from personae.data.registry import DATASETS, fetch, load_dataset, personae_home
from personae.data.sources import DataSource, load_source
from personae.data.splits import Split, leave_last_out, make_split, random_split, temporal
from personae.errors import DataError

__all__ = [
    "DATASETS", "Columns", "DataError", "DataSource", "Interactions", "Split", "fetch", "leave_last_out",
    "load_dataset", "load_source", "make_split", "personae_home", "random_split", "read_interactions",
    "read_item_info", "read_user_info", "temporal",
]
