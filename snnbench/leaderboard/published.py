"""Published results (``snnbench/published.json``, package data), each with its source."""

from __future__ import annotations

import importlib.resources
import json
from pathlib import Path


def load_published(path: Path | None = None) -> list[dict]:
    """The table of paper results (``snnbench/published.json``, package data); each entry names its source."""
    if path is not None:
        return json.loads(Path(path).read_text())["results"]
    text = importlib.resources.files("snnbench").joinpath("published.json").read_text()
    return json.loads(text)["results"]


def load_context() -> list[dict]:
    """Published results on a dataset that are not one of snnbench's rules (e.g. Yin-Yang's ANN references)."""
    text = importlib.resources.files("snnbench").joinpath("published.json").read_text()
    return json.loads(text).get("context", [])


def match_published(published: list[dict], dataset: str, method: str, arch: str, steps: int) -> dict | None:
    """The published result for exactly this method, dataset (not a variant of it), network and T."""
    for entry in published:
        if (entry["method"], entry["dataset"], entry["arch"], entry["steps"]) == (method, dataset, arch, steps):
            mean, std = entry.get("mean"), entry.get("std")
            text = f"{mean:.2f}" + (f" ± {std:.2f}" if std is not None else "") if mean is not None else "-"
            return {**entry, "text": text}
    return None


__all__ = ["load_context", "load_published", "match_published"]
