"""Run every `benchmarks/bench_*.py` module's `main()`, in name order."""

from __future__ import annotations

import importlib
from pathlib import Path

for path in sorted(Path(__file__).parent.glob("bench_*.py")):
    importlib.import_module(f"benchmarks.{path.stem}").main()
