"""Accuracy regression (``nox -s smoke``): every method trains on scikit-learn's 8x8 digits on the CPU
for the epochs in ``accuracy_floors.json`` and must reach that file's floor.

The floors come from real runs of this file on the CPU (``measured``, the command is in the JSON),
lowered by a margin for run-to-run and version differences. To refresh them after an intended change:
``python benchmarks/smoke_accuracy.py --record`` and commit the file with the reason.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import pytest

FLOORS = Path(__file__).with_name("accuracy_floors.json")
MARGIN = 3.0  # percentage points below the measured accuracy


def train_digits(method: str, epochs: int, seed: int = 0) -> float:
    """Test accuracy (last epoch) of ``method`` on digits after ``epochs`` epochs on the CPU."""
    from snnbench.config import resolve_config
    from snnbench.engine import RuntimeOptions, train
    from snnbench.registry import create_dataset, create_method

    cfg = resolve_config(create_method(method), create_dataset("digits"), {"epochs": epochs, "seed": seed})
    with tempfile.TemporaryDirectory() as out:
        record, _ = train(cfg, RuntimeOptions(device="cpu", out=Path(out)))
    return float(record["results"]["test_acc_last"])


def _floors() -> dict:
    return json.loads(FLOORS.read_text())["methods"] if FLOORS.exists() else {}


@pytest.mark.parametrize("method", sorted(_floors()))
def test_accuracy_floor(method):
    entry = _floors()[method]
    accuracy = train_digits(method, entry["epochs"])
    assert accuracy >= entry["floor"], f"{method}: {accuracy:.2f}% < floor {entry['floor']}% ({entry})"


def test_every_method_has_a_floor():
    from snnbench.registry import list_methods

    assert sorted(_floors()) == list_methods()


if __name__ == "__main__" and "--record" in sys.argv:
    from snnbench.registry import list_methods

    data = json.loads(FLOORS.read_text()) if FLOORS.exists() else {"methods": {}}
    for name in list_methods():
        epochs = data["methods"].get(name, {}).get("epochs", 5)
        measured = train_digits(name, epochs)
        data["methods"][name] = {"epochs": epochs, "measured": measured, "floor": round(measured - MARGIN, 2)}
        print(f"{name}: {measured:.2f}% after {epochs} epochs")
    data["command"] = "python benchmarks/smoke_accuracy.py --record"
    FLOORS.write_text(json.dumps(data, indent=1) + "\n")
