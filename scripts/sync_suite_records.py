"""Copy a suite's completed records from a run folder into the committed one, removing (``git rm``) each
committed record that a new one supersedes (same config hash and suite tag, another file). Prints what it did.

    python scripts/sync_suite_records.py RUN_FOLDER leaderboards/runs [--suite cpu]
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
    parser.add_argument("--suite", default="cpu")
    args = parser.parse_args()
    committed: dict[str, list[Path]] = {}
    for path in args.target.glob("*.json"):
        record = json.loads(path.read_text())
        if (record.get("tags") or {}).get("suite") == args.suite:
            committed.setdefault(record["config_hash"], []).append(path)
    added = removed = 0
    for path in sorted(args.source.glob("*.json")):
        record = json.loads(path.read_text())
        if record.get("status") != "completed" or (record.get("tags") or {}).get("suite") != args.suite:
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
    print(f"added {added}, removed {removed} superseded")


if __name__ == "__main__":
    main()
