"""Resolve dataset files: cache dir, then local mirrors, then the official URL; always md5-checked.

A mirror is read in place and never written to. A download goes to ``.<name>.part`` in the cache,
with a User-Agent, retries with exponential backoff, and a resume of the partial file (an HTTP
``Range`` request) where the server allows it, on a later try or a later run; only a file whose md5
matches is renamed into place, so no partial or corrupt file is ever taken for the real one.
"""

from __future__ import annotations

import hashlib
import logging
import os
import socket
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger("snnbench.files")
RETRIES = 4  # attempts per download
BACKOFF_S = 2.0  # seconds before the second attempt, doubled after each failure
CHUNK = 1 << 20


class DataFileError(RuntimeError):
    """A dataset file is missing everywhere, or corrupt; the message names every place looked at."""


UNKNOWN_SIZE_BOUND = 16 << 30  # bytes a download of a file without a declared size may bring (above every
# registered dataset's largest file)


@dataclass(frozen=True)
class RemoteFile:
    """A file a dataset needs: its name, md5, official URL and folder name inside a mirror, and its size
    in bytes where known (a download is refused past :func:`size_bound` of it)."""

    name: str
    md5: str
    url: str
    mirror_subdir: str
    size: int | None = None

    def size_bound(self) -> int:
        """The most bytes a download of this file may bring: its known size plus 5 % and 64 KiB, or
        :data:`UNKNOWN_SIZE_BOUND` where the size is not declared."""
        return UNKNOWN_SIZE_BOUND if self.size is None else int(self.size * 1.05) + (64 << 10)


@dataclass(frozen=True)
class DataContext:
    """Where files are looked for: a writable cache and read-only mirrors."""

    cache_dir: Path
    mirrors: tuple[Path, ...] = ()
    download: bool = True

    @staticmethod
    def from_options(data_dir: str | os.PathLike | None = None, mirror: str | os.PathLike | None = None,
                     download: bool = True) -> DataContext:
        """Build a context from CLI options, falling back to ``SNNBENCH_DATA`` / ``SNNBENCH_MIRROR``.

        ``mirror`` (or ``SNNBENCH_MIRROR``) may list several folders separated by ``os.pathsep``.
        """
        data_dir = data_dir or os.environ.get("SNNBENCH_DATA") or Path.home() / ".cache" / "snnbench"
        mirror = mirror or os.environ.get("SNNBENCH_MIRROR") or ""
        mirrors = tuple(Path(m).expanduser() for m in str(mirror).split(os.pathsep) if m)
        return DataContext(Path(data_dir).expanduser(), mirrors, download)


def md5sum(path: Path, chunk: int = 1 << 22) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def candidates(file: RemoteFile, ctx: DataContext) -> list[tuple[str, Path]]:
    """Where ``file`` is looked for, in order: ``("cache", path)`` (where a download lands), then each
    ``("mirror", path)``."""
    return ([("cache", ctx.cache_dir / "raw" / file.mirror_subdir / file.name)]
            + [("mirror", m / file.mirror_subdir / file.name) for m in ctx.mirrors])


def resolve(file: RemoteFile, ctx: DataContext, dataset: str) -> Path:
    """Return a verified local path for ``file``, downloading into the cache if needed."""
    looked: list[str] = []
    places = candidates(file, ctx)
    cached = places[0][1]
    for kind, path in places:
        if not path.is_file():
            looked.append(f"{kind} {path} (missing)")
            continue
        actual = md5sum(path)
        if actual == file.md5:
            return path
        looked.append(f"{kind} {path} (md5 {actual}: corrupt, refused)")
    if ctx.download and file.url:
        try:
            return download(file, cached)
        except (urllib.error.URLError, OSError, DataFileError) as err:
            looked.append(f"url {file.url} ({err})")
    elif file.url:
        looked.append(f"url {file.url} (downloads disabled)")
    fetch = f"snnbench data fetch {dataset}"
    here = _variants_here(dataset, ctx)
    raise DataFileError(
        f"{dataset} is not on this machine ({file.mirror_subdir}/{file.name} is neither cached nor in a mirror"
        + (", and its URL cannot be reached" if ctx.download and file.url else "") + ")"
        + (f"; here instead: {', '.join(here)} (--dataset {here[0]})" if here else "") + ".\n"
        f"{dataset}: no valid copy of {file.name!r} (expected md5 {file.md5}); looked at:\n  - "
        + "\n  - ".join(looked)
        + (f"\nFetch it with `{fetch}` (same --data-dir) where the URL is reachable, or point" if file.url
           else "\nPoint")
        + f" --mirror (or SNNBENCH_MIRROR) at a folder holding {file.mirror_subdir}/{file.name}"
        + " (`snnbench data list` shows where every dataset's files were found).")


def _variants_here(dataset: str, ctx: DataContext) -> list[str]:
    """Registered variants of ``dataset`` (its subsets, other encodings) whose files are all here."""
    from snnbench.registry import create_dataset, list_datasets

    here = []
    for name in list_datasets():
        variant = create_dataset(name)
        if name != dataset and variant.recipe_family == dataset and variant.files and not missing_files(variant, ctx):
            here.append(name)
    return here


def missing_files(dataset: Any, ctx: DataContext) -> list[str]:
    """The files of ``dataset`` found neither in the cache nor in a mirror (existence only: the md5s are
    checked when the files are used)."""
    return [f.name for f in dataset.files if not any(path.is_file() for _, path in candidates(f, ctx))]


Progress = Callable[[int, int | None], None]  # (bytes so far, total bytes or None)


def download(file: RemoteFile, target: Path, progress: Progress | None = None, retries: int = RETRIES,
             backoff_s: float = BACKOFF_S) -> Path:
    """Fetch ``file.url`` into ``target`` through ``.<name>.part``, resuming it where the server honours
    ``Range``; up to ``retries`` attempts, waiting ``backoff_s``, then twice as long...; md5-checked before
    the rename. ``progress`` (default: a bar on a terminal, log lines otherwise) gets the bytes so far."""
    import fcntl


    target.parent.mkdir(parents=True, exist_ok=True)
    part = target.parent / f".{file.name}.part"
    progress = progress or progress_reporter(file.name)
    with open(target.parent / f".{file.name}.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one process downloads a file; the others wait for its result
        if target.is_file() and md5sum(target) == file.md5:
            return target
        try:
            return _download_locked(file, target, part, progress, retries, backoff_s)
        except BaseException:
            part.unlink(missing_ok=True)  # a failed download leaves neither a partial file nor its lock
            (target.parent / f".{file.name}.lock").unlink(missing_ok=True)
            raise


def _download_locked(file: RemoteFile, target: Path, part: Path, progress: Progress, retries: int,
                     backoff_s: float) -> Path:
    """The attempts of :func:`download` (under its lock)."""
    from snnbench import __version__

    for attempt in range(1, retries + 1):
        try:
            _fetch(file.url, part, progress, f"snnbench/{__version__} (+https://pypi.org/project/snnbench)",
                   file.size_bound())
            break
        except (urllib.error.URLError, OSError) as err:
            if isinstance(err, urllib.error.HTTPError) and err.code in (400, 401, 403, 404, 410):
                raise  # no retry changes the answer
            if isinstance(getattr(err, "reason", None), socket.gaierror):
                raise  # a host name that does not resolve (no network, or none to this host) stays so
            if attempt == retries:
                raise
            wait = backoff_s * 2 ** (attempt - 1)
            log.warning("%s: attempt %d/%d failed (%s); retrying in %.0f s, resuming at %d bytes", file.name,
                        attempt, retries, err, wait, part.stat().st_size if part.exists() else 0)
            time.sleep(wait)
    actual = md5sum(part)
    if actual != file.md5:
        part.unlink()
        raise DataFileError(f"downloaded md5 {actual} does not match")
    os.chmod(part, 0o666 & ~_umask())
    os.replace(part, target)
    return target


def _fetch(url: str, part: Path, progress: Progress, agent: str, bound: int = UNKNOWN_SIZE_BOUND) -> None:
    """Append the rest of ``url`` to ``part`` (all of it when the server ignores the range); refuses a
    response that declares, or brings, more than ``bound`` bytes in all."""
    have = part.stat().st_size if part.exists() else 0
    headers = {"User-Agent": agent, **({"Range": f"bytes={have}-"} if have else {})}
    request = urllib.request.Request(url, headers=headers)
    try:
        response = urllib.request.urlopen(request, timeout=60)
    except urllib.error.HTTPError as err:
        if err.code == 416 and have:  # the partial file is already whole (or longer): let the md5 decide
            return
        raise
    with response:
        resumed = have and response.status == 206
        length = response.headers.get("Content-Length")
        total = (have if resumed else 0) + int(length) if length else None
        done = have if resumed else 0
        if total is not None and total > bound:
            raise DataFileError(f"{url}: the server declares {total} bytes, more than this file's bound of "
                                f"{bound} bytes; refused")
        with open(part, "ab" if resumed else "wb") as out:
            while block := response.read(CHUNK):
                done += len(block)
                if done > bound:
                    raise DataFileError(f"{url}: the response passed this file's bound of {bound} bytes; refused")
                out.write(block)
                progress(done, total)
        if total is not None and done < total:
            raise OSError(f"connection closed at {done} of {total} bytes")


def progress_reporter(name: str, unit: str = "bytes") -> Progress:
    """Progress of ``name`` in ``unit`` (``"bytes"``, or a count such as ``"recordings"``): a rich bar on a
    terminal; otherwise an INFO log line every 10 %."""
    if sys.stderr.isatty():
        from rich.progress import DownloadColumn, MofNCompleteColumn, Progress, TransferSpeedColumn

        extra = (DownloadColumn(), TransferSpeedColumn()) if unit == "bytes" else (MofNCompleteColumn(),)
        bar = Progress(*Progress.get_default_columns(), *extra, transient=True)
        task = bar.add_task(name, total=None)

        def draw(done: int, total: int | None) -> None:
            if not bar.live.is_started:
                bar.start()
            bar.update(task, completed=done, total=total)
            if total is not None and done >= total:
                bar.stop()

        return draw
    shown = [-1]

    def lines(done: int, total: int | None) -> None:
        tenth = done * 10 // total if total else done >> 27  # every 10 %, or every 128 MiB without a length
        if tenth != shown[0]:
            shown[0] = tenth
            if unit == "bytes":
                log.info("%s: %d MiB%s", name, done >> 20, f" of {total >> 20} MiB" if total else "")
            else:
                log.info("%s: %d%s %s", name, done, f" of {total}" if total else "", unit)

    return lines


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def atomic_write_bytes(path: Path, data: bytes, exclusive: bool = False) -> None:
    """Write ``data`` to ``path`` through a temporary file and a rename (no half-written files).

    The file gets the permissions of the process umask (``mkstemp``'s 0600 would hide records from
    colleagues sharing a results folder). With ``exclusive`` an existing ``path`` is never replaced:
    :class:`FileExistsError` is raised instead (a hard link is atomic and fails if the name exists).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.chmod(tmp_name, 0o666 & ~_umask())
        if exclusive:
            os.link(tmp_name, path)
        else:
            os.replace(tmp_name, path)
    finally:
        Path(tmp_name).unlink(missing_ok=True)
