"""Screenshot of the leaderboard page (``docs/leaderboard.png``, shown in the README): headless Chromium
driven by Playwright. Run ``snnbench leaderboard`` first.

    python scripts/leaderboard_screenshot.py [--page leaderboards/leaderboard.html] [--out docs/leaderboard.png]
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--page", default="leaderboards/leaderboard.html")
    parser.add_argument("--out", default="docs/leaderboard.png")
    parser.add_argument("--width", type=int, default=1300)
    parser.add_argument("--height", type=int, default=1100)
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    browser_path = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser_path is None:
        raise SystemExit("no chromium browser installed (Debian: apt-get install chromium)")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=browser_path, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": args.width, "height": args.height})
        page.goto(Path(args.page).resolve().as_uri())
        page.screenshot(path=args.out)
        browser.close()
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
