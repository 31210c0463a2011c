"""Demand segments (Syntetos-Boylan) and the per-segment choice."""

from __future__ import annotations

import pandas as pd
import pytest

from shelfwise.forecast.selection import add_chosen, choose_per_segment, classify_series
from tests.forecast.conftest import series


def test_segments_by_adi_and_cv2() -> None:
    frames = [
        # smooth: sells every day (ADI 1), sizes 4,5,6 -> CV^2 = (0.816/5)^2 = 0.027
        series([4, 5, 6] * 20, uid="smooth"),
        # erratic: every day, sizes 1 and 9 -> mean 5, sd 4, CV^2 = 0.64
        series([1, 9] * 30, uid="erratic"),
        # intermittent: one sale of 5 every 3 days -> ADI 3, CV^2 0
        series([0, 0, 5] * 20, uid="intermittent"),
        # lumpy: every 3 days, sizes 1 and 9 -> ADI 3, CV^2 0.64
        series([0, 0, 1, 0, 0, 9] * 10, uid="lumpy"),
        # new: too short for the backtest
        series([3, 4, 5], uid="fresh"),
    ]
    segments = classify_series(pd.concat(frames), min_history=30).set_index("unique_id")
    assert segments["segment"].to_dict() == {
        "smooth": "smooth",
        "erratic": "erratic",
        "intermittent": "intermittent",
        "lumpy": "lumpy",
        "fresh": "new",
    }
    assert segments.at["intermittent", "adi"] == pytest.approx(3.0)
    assert segments.at["erratic", "cv2"] == pytest.approx(0.64)


def test_choice_is_the_lowest_score_per_segment() -> None:
    scores = pd.DataFrame(
        {
            "segment": ["smooth", "smooth", "lumpy", "lumpy"],
            "model": ["A", "B", "A", "B"],
            "score": [0.9, 0.7, 0.5, 0.5],
        }
    )
    # ties go to the earlier candidate
    assert choose_per_segment(scores, ["A", "B"]) == {"smooth": "B", "lumpy": "A"}


def test_chosen_column_follows_the_segment() -> None:
    frame = pd.DataFrame({"unique_id": ["x", "y"], "A": [1.0, 2.0], "B": [10.0, 20.0]})
    segments = pd.Series({"x": "smooth", "y": "lumpy"})
    chosen = add_chosen(frame, {"smooth": "B", "lumpy": "A"}, segments)
    assert chosen["Chosen"].tolist() == [10.0, 2.0]
    assert chosen["model_of"].tolist() == ["B", "A"]
