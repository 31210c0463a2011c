"""The synthetic retail world: a deterministic, retail-like history for the operational store.

    from shelfwise.synth import WorldSpec, generate
    report = generate(db, WorldSpec(orders=20_000, seed=7))

Names are imported on first use, so the bulk-writer child process, which imports only
`shelfwise.synth.sqlite_sink`, starts without loading the generator's dependencies.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from shelfwise.synth.generator import generate
    from shelfwise.synth.spec import GenerationReport, WorldSpec

__all__ = ["GenerationReport", "WorldSpec", "generate"]
_HOMES = {
    "generate": "shelfwise.synth.generator",
    "GenerationReport": "shelfwise.synth.spec",
    "WorldSpec": "shelfwise.synth.spec",
}


def __getattr__(name: str) -> Any:
    if name in _HOMES:
        return getattr(import_module(_HOMES[name]), name)
    raise AttributeError(f"module 'shelfwise.synth' has no attribute {name!r}")
