"""Forecasts that add up: the product-location hierarchy and its reconciliation.

Levels, top to bottom: total, country, category, sub-category, country x sub-category (the
reference design's grain), product, product-location. This is a grouped structure (products
cross countries), which MinTrace handles; BottomUp simply sums. Reconciliation goes through
hierarchicalforecast with a sparse summing matrix. `mint_shrink` needs a dense covariance of
all series; above `DENSE_LIMIT` series the forecaster does not try MinTrace at all (the
library densified S and ran out of 24 GB at 33,600 series) and reconciles bottom-up;
`MinTraceSparse(wls_struct)` is kept here for callers with more memory.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from hierarchicalforecast.core import HierarchicalReconciliation
from hierarchicalforecast.methods import BottomUp, MinTrace, MinTraceSparse
from hierarchicalforecast.utils import SMatrix
from scipy import sparse

from shelfwise.forecast.data import DS, ID

LEVELS = (
    "total",
    "country",
    "category",
    "sub_category",
    "country/sub_category",
    "product",
    "product/location",
)
BOTTOM = "product/location"
DENSE_LIMIT = 3000


@dataclass(frozen=True)
class Hierarchy:
    """Every series of every level and how the bottom ones add up to them."""

    membership: pd.DataFrame  # bottom unique_id, level, parent (the upper series it adds into)
    series: pd.DataFrame  # unique_id, level, for all series, in S's row order
    bottom: np.ndarray  # bottom ids in S's column order
    # level -> for each bottom series (S's column order), the row of `series` it adds into
    parent_rows: dict[str, np.ndarray] = field(default_factory=dict, repr=False)

    @property
    def n_series(self) -> int:
        return len(self.series)

    def tags(self) -> dict[str, np.ndarray]:
        return {
            level: group[ID].to_numpy() for level, group in self.series.groupby("level", sort=False)
        }

    def summing_matrix(self) -> SMatrix:
        row_of = {uid: i for i, uid in enumerate(self.series[ID])}
        col_of = {uid: j for j, uid in enumerate(self.bottom)}
        rows = self.membership["parent"].map(row_of).to_numpy()
        cols = self.membership[ID].map(col_of).to_numpy()
        matrix = sparse.csc_matrix(
            (np.ones(len(rows)), (rows, cols)), shape=(len(self.series), len(self.bottom))
        )
        return SMatrix(matrix, self.series[ID].to_numpy(), self.bottom)

    def level_of(self) -> pd.Series:
        return self.series.set_index(ID)["level"]

    def parents(self, level: str) -> np.ndarray:
        """For each bottom series (S's column order), the row of `series` it adds into."""
        if level not in self.parent_rows:
            row_of = pd.Index(self.series[ID])
            members = self.membership[self.membership["level"] == level]
            column = pd.Index(self.bottom).get_indexer(members[ID])
            rows = np.full(len(self.bottom), -1, dtype=np.int64)
            rows[column] = row_of.get_indexer(members["parent"])
            self.parent_rows[level] = rows
        return self.parent_rows[level]


def build_hierarchy(attributes: pd.DataFrame) -> Hierarchy:
    """From one row per bottom series (`unique_id, product_id, country, category, sub_category`)."""
    a = attributes.sort_values(ID).reset_index(drop=True)
    parents = {
        "total": pd.Series("total", index=a.index),
        "country": "country=" + a["country"].astype(str),
        "category": "category=" + a["category"].astype(str),
        "sub_category": "category="
        + a["category"].astype(str)
        + "/sub_category="
        + a["sub_category"].astype(str),
        "country/sub_category": "country="
        + a["country"].astype(str)
        + "/sub_category="
        + a["category"].astype(str)
        + ":"
        + a["sub_category"].astype(str),
        "product": "product=" + a["product_id"].astype(str),
        BOTTOM: a[ID].astype(str),
    }
    membership = pd.concat(
        [
            pd.DataFrame(
                {ID: a[ID].to_numpy(), "level": level, "parent": parents[level].to_numpy()}
            )
            for level in LEVELS
        ],
        ignore_index=True,
    )
    series = membership[["parent", "level"]].drop_duplicates().rename(columns={"parent": ID})
    series["order"] = series["level"].map({level: i for i, level in enumerate(LEVELS)})
    series = series.sort_values(["order", ID]).drop(columns="order").reset_index(drop=True)
    hierarchy = Hierarchy(membership=membership, series=series, bottom=a[ID].to_numpy())
    for level in LEVELS:
        hierarchy.parents(level)
    return hierarchy


def aggregate(
    frame: pd.DataFrame,
    hierarchy: Hierarchy,
    columns: list[str],
    keys: list[str] | None = None,
    *,
    levels: Sequence[str] = LEVELS,
) -> pd.DataFrame:
    """Sum bottom-level `columns` into every series of `levels` (bottom rows included by default).

    Rows of series outside the hierarchy are ignored; a sum over values that are all missing is
    missing. Sums are taken with `np.bincount` on integer codes, one level at a time: at M5 size
    (22 M bottom rows) joining every row to its 7 parents took 150 M rows and 15 GB.
    Rows come out by level, then series, then keys.
    """
    keys = keys or [DS]
    column = pd.Index(hierarchy.bottom).get_indexer(frame[ID])
    inside = column >= 0
    if not inside.all():
        frame, column = frame[inside], column[inside]
    key_codes, key_frame = _key_codes(frame, keys)
    n_keys = len(key_frame)
    values = {c: frame[c].to_numpy(dtype=float) for c in columns}
    present = {c: ~np.isnan(v) for c, v in values.items()}
    series_ids = hierarchy.series[ID].to_numpy()
    parts = []
    for level in levels:
        # A level's series are consecutive rows of `series`: offsets from its first are dense.
        parents = hierarchy.parents(level)
        first = int(parents.min()) if len(parents) else 0
        group = (parents[column] - first) * n_keys + key_codes
        size = (int(parents.max()) - first + 1) * n_keys if len(parents) else 0
        rows = np.flatnonzero(np.bincount(group, minlength=size))
        part = {ID: series_ids[first + rows // n_keys]}
        for key in keys:
            part[key] = key_frame[key].to_numpy()[rows % n_keys]
        for c in columns:
            sums = np.bincount(group, weights=np.where(present[c], values[c], 0.0), minlength=size)
            counts = np.bincount(group, weights=present[c], minlength=size)
            part[c] = np.where(counts[rows] > 0, sums[rows], np.nan)
        parts.append(pd.DataFrame(part))
    if not parts:
        empty = {ID: pd.Series(dtype=object)}
        empty.update({key: pd.Series(dtype=frame[key].dtype) for key in keys})
        empty.update({c: pd.Series(dtype=float) for c in columns})
        return pd.DataFrame(empty)
    return pd.concat(parts, ignore_index=True)


def _key_codes(frame: pd.DataFrame, keys: list[str]) -> tuple[np.ndarray, pd.DataFrame]:
    """A dense integer per distinct key combination (in sorted order), and the combinations."""
    combined = np.zeros(len(frame), dtype=np.int64)
    uniques = []
    for key in keys:
        codes, values = pd.factorize(frame[key], sort=True)
        combined = combined * len(values) + codes
        uniques.append(values)
    if len(keys) == 1:
        return combined, pd.DataFrame({keys[0]: np.asarray(uniques[0])})
    inverse, distinct = pd.factorize(combined, sort=True)
    key_frame = {}
    remainder = distinct
    for key, values in reversed(list(zip(keys, uniques, strict=True))):
        key_frame[key] = np.asarray(values)[remainder % len(values)]
        remainder = remainder // len(values)
    return inverse.astype(np.int64), pd.DataFrame({k: key_frame[k] for k in keys})


def reconcile(
    base: pd.DataFrame,
    hierarchy: Hierarchy,
    *,
    model: str,
    method: str,
    residuals: pd.DataFrame | None = None,
) -> pd.Series:
    """Reconciled values of `base[model]` (rows: every series x ds), aligned to `base`'s rows.

    `method` is `BottomUp` or `MinTrace`; MinTrace estimates the error covariance from
    `residuals` (`unique_id, ds, y, <model>`: past forecasts and what happened).
    """
    reconciler = reconciler_for(method, hierarchy.n_series)
    if method == "BottomUp":
        bottom = base[base[ID].isin(set(hierarchy.bottom))]
        summed = aggregate(bottom, hierarchy, [model])
        merged = base[[ID, DS]].merge(summed, on=[ID, DS], how="left")
        return pd.Series(merged[model].to_numpy(), index=base.index)
    engine = HierarchicalReconciliation(reconcilers=[reconciler])
    y_hat = base[[ID, DS, model]].reset_index(drop=True)
    result = engine.reconcile(
        Y_hat_df=y_hat,
        tags=hierarchy.tags(),
        S_df=hierarchy.summing_matrix(),
        Y_df=residuals,
    )
    column = next(c for c in result.columns if c.startswith(f"{model}/"))
    merged = base[[ID, DS]].merge(result[[ID, DS, column]], on=[ID, DS], how="left")
    return pd.Series(merged[column].to_numpy(), index=base.index)


def reconciler_for(method: str, n_series: int) -> Any:
    if method == "BottomUp":
        return BottomUp()
    if method != "MinTrace":
        raise ValueError(f"unknown reconciliation method {method!r}: use BottomUp or MinTrace")
    if n_series <= DENSE_LIMIT:
        return MinTrace(method="mint_shrink")
    return MinTraceSparse(method="wls_struct")


def method_label(method: str, n_series: int) -> str:
    """What ran, for the records: `MinTrace(mint_shrink)` or its sparse stand-in."""
    if method == "BottomUp":
        return "BottomUp"
    return "MinTrace(mint_shrink)" if n_series <= DENSE_LIMIT else "MinTraceSparse(wls_struct)"
