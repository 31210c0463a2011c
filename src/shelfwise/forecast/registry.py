"""The champion: which registered forecaster predictions use, and how that changes.

The registry alias `champion` points to the version in use. A newly trained version takes it
only when it beats the current champion on the same backtest windows (see
`service.train_and_register`); `promote` and `rollback` are the manual overrides. Every change
of champion is pushed on a history kept as a registered-model tag, so `rollback` returns to
the version that was champion before the last change.
"""

from __future__ import annotations

from dataclasses import dataclass

from shelfwise.config import Settings
from shelfwise.forecast import tracking
from shelfwise.forecast.forecaster import DemandForecaster

CHAMPION = "champion"
HISTORY_TAG = "champion_history"


class RegistryError(RuntimeError):
    """A registry request that cannot be done as asked (the message says why and what to do)."""


@dataclass(frozen=True)
class ChampionChange:
    previous: str | None
    current: str


def champion_version(settings: Settings) -> str | None:
    return tracking.alias_version(settings, CHAMPION)


def champion_history(settings: Settings) -> list[str]:
    """Versions that have been champion, oldest first (the last one is the current champion)."""
    raw = tracking.model_tag(settings, HISTORY_TAG) or ""
    return [v for v in raw.split(",") if v]


def promote(settings: Settings, version: str) -> ChampionChange:
    """Make `version` the champion (a manual override of the promotion rule)."""
    version = str(version).strip()
    if not tracking.version_exists(settings, version):
        known = ", ".join(v["version"] for v in tracking.list_versions(settings)) or "none"
        raise RegistryError(
            f"there is no version {version} of {tracking.REGISTERED_MODEL} (registered: {known}); "
            "see `shelfwise forecast status`"
        )
    previous = champion_version(settings)
    if previous == version:
        return ChampionChange(previous=previous, current=version)
    tracking.set_alias(settings, CHAMPION, version)
    history = champion_history(settings)
    if not history and previous is not None:
        history = [previous]
    tracking.set_model_tag(settings, HISTORY_TAG, ",".join([*history, version]))
    return ChampionChange(previous=previous, current=version)


def rollback(settings: Settings) -> ChampionChange:
    """Give the champion alias back to the version that held it before the last change."""
    history = champion_history(settings)
    current = champion_version(settings)
    if current is None:
        raise RegistryError(
            "there is no champion to roll back: train one with `shelfwise forecast train`"
        )
    if len(history) < 2:
        raise RegistryError(
            f"version {current} is the only champion there has been; nothing to roll back to "
            "(use `shelfwise forecast promote VERSION` to pick another)"
        )
    history.pop()
    previous = history[-1]
    tracking.set_alias(settings, CHAMPION, previous)
    tracking.set_model_tag(settings, HISTORY_TAG, ",".join(history))
    return ChampionChange(previous=current, current=previous)


def load_champion(settings: Settings) -> tuple[DemandForecaster, str]:
    """The champion's fitted forecaster and its version (predictions always use this)."""
    version = champion_version(settings)
    if version is None:
        raise RegistryError("no champion forecaster yet: run `shelfwise forecast train` first")
    return tracking.load_version(settings, version), version
