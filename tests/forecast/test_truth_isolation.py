"""Ground truth stays out of training and prediction: only evaluation code may name it."""

from __future__ import annotations

from pathlib import Path

import shelfwise.forecast

ALLOWED = {"evaluation.py"}


def test_only_evaluation_reads_the_true_demand() -> None:
    package = Path(shelfwise.forecast.__file__).parent
    offenders = [
        path.name
        for path in package.glob("*.py")
        if path.name not in ALLOWED
        and any(name in path.read_text() for name in ("synth_true_demand", "SynthTrueDemand"))
    ]
    assert offenders == []
    assert "load_true_demand_for_evaluation" in (package / "evaluation.py").read_text()
