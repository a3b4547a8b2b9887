"""How the board groups a record, decided once when the record is written (or upgraded to schema 8) and
stored in it, so the board reads records without method code or network construction:

- ``setting_hash``: a digest of the whole config without the seed (runs that differ in anything else never
  share a row); a field a record predates counts at the value it ran with (:data:`snnbench.config.LATE_FIELDS`).
- ``overrides``: what the config changes from its recipe, method options and config fields
  (``{"augment": "jitter:8"}``); None where the method, dataset or recipe is not one this install has."""

from __future__ import annotations

import functools
import json
from typing import Any

SHOWN = {"seed", "epochs", "steps", "arch", "recipe", "options", "method", "dataset", "init_from", "budget"}


def grouping(method: str, dataset: str, config: dict[str, Any]) -> dict[str, Any]:
    """``{"setting_hash": ..., "overrides": ...}`` for a record of ``method`` on ``dataset`` with ``config``
    (read as JSON: a config built in memory is compared as it will be read back)."""
    from snnbench.config import config_digest, hashed_config, with_defaults

    config = json.loads(json.dumps(config, default=str))
    completed = with_defaults(config, _option_defaults(method))
    setting = config_digest(hashed_config(completed), exclude=("seed",))
    recipe = _recipe_config(method, dataset, config.get("recipe", ""))
    overrides = None
    if recipe is not None:
        overrides = {k: v for k, v in config.items() if k not in SHOWN and getattr(recipe, k, v) != v}
        overrides |= {k: v for k, v in (config.get("options") or {}).items()
                      if k != "backend" and getattr(recipe.options, k, v) != v}
        overrides = dict(sorted(overrides.items()))
    return {"setting_hash": setting, "overrides": overrides}


@functools.lru_cache(maxsize=256)
def _recipe_config(method: str, dataset: str, recipe: str) -> Any:
    """The resolved recipe a record is compared with (once per method, dataset and recipe), or None."""
    from snnbench.config import resolve_config
    from snnbench.registry import create_dataset, create_method

    try:
        return resolve_config(create_method(method), create_dataset(dataset), {"recipe": recipe}, check=False)
    except Exception:  # noqa: BLE001 - an unknown name or recipe: no overrides rather than a guess
        return None


@functools.lru_cache(maxsize=64)
def _option_defaults(method: str) -> dict[str, Any]:
    from snnbench.registry import create_method

    try:
        return dict(create_method(method).option_defaults)
    except Exception:  # noqa: BLE001 - a method this install does not have: its options as recorded
        return {}


__all__ = ["grouping"]
