"""Copy a suite's completed records from a run folder into the committed one, removing (``git rm``) each
committed record that a new one supersedes (same config hash and suite tag, another file). With ``--prune``, also
remove the committed records of the suite whose config is no longer one of its cells (the suite file changed
them, e.g. a flag added to a matrix); git history keeps them. Prints what it did.

    python scripts/sync_suite_records.py RUN_FOLDER leaderboards/runs [--suite cpu] [--prune]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("source", type=Path)
    parser.add_argument("target", type=Path)
    parser.add_argument("--suite", default="cpu", help="a declared suite's name or its file")
    parser.add_argument("--prune", action="store_true", help="remove committed records that are no cell of the suite")
    args = parser.parse_args()
    from snnbench.suite import load_suite

    suite = load_suite(args.suite)
    committed: dict[str, list[Path]] = {}
    for path in args.target.glob("*.json"):
        record = json.loads(path.read_text())
        if (record.get("tags") or {}).get("suite") == suite.name:
            committed.setdefault(record["config_hash"], []).append(path)
    added = removed = 0
    for path in sorted(args.source.glob("*.json")):
        record = json.loads(path.read_text())
        if record.get("status") != "completed" or (record.get("tags") or {}).get("suite") != suite.name:
            continue
        target = args.target / path.name
        if target.exists():
            continue
        for older in committed.get(record["config_hash"], []):
            if older.exists():
                subprocess.run(["git", "rm", "-q", older.name], check=True, cwd=args.target)
                removed += 1
        shutil.copy2(path, target)
        added += 1
    pruned = 0
    if args.prune:
        cells = {cell.config.hash() for cell in suite.cells}
        for hash_, paths in committed.items():
            for path in paths:
                if hash_ not in cells and path.exists():
                    subprocess.run(["git", "rm", "-q", path.name], check=True, cwd=args.target)
                    pruned += 1
    print(f"added {added}, removed {removed} superseded" + (f", {pruned} no longer cells of {suite.name}" if args.prune
                                                            else ""))


if __name__ == "__main__":
    main()
