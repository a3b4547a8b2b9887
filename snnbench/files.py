"""Resolve dataset files: cache dir, then local mirrors, then the official URL; always md5-checked.

A mirror is read in place and never written to. Downloads land in a temporary file in the cache
and are renamed into place only after their md5 matches, so nothing partial is ever left behind.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path


class DataFileError(RuntimeError):
    """A dataset file is missing everywhere, or corrupt; the message names every place looked at."""


@dataclass(frozen=True)
class RemoteFile:
    """A file a dataset needs: its name, md5, official URL and folder name inside a mirror."""

    name: str
    md5: str
    url: str
    mirror_subdir: str


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


def resolve(file: RemoteFile, ctx: DataContext, dataset: str) -> Path:
    """Return a verified local path for ``file``, downloading into the cache if needed."""
    looked: list[str] = []
    cached = ctx.cache_dir / "raw" / file.mirror_subdir / file.name
    for kind, path in [("cache", cached)] + [("mirror", m / file.mirror_subdir / file.name) for m in ctx.mirrors]:
        if not path.is_file():
            looked.append(f"{kind} {path} (missing)")
            continue
        actual = md5sum(path)
        if actual == file.md5:
            return path
        looked.append(f"{kind} {path} (md5 {actual}: corrupt, refused)")
    if ctx.download and file.url:
        try:
            return _download(file, cached)
        except (urllib.error.URLError, OSError, DataFileError) as err:
            looked.append(f"url {file.url} ({err})")
    elif file.url:
        looked.append(f"url {file.url} (downloads disabled)")
    raise DataFileError(
        f"{dataset}: no valid copy of {file.name!r} (expected md5 {file.md5}); looked at:\n  - "
        + "\n  - ".join(looked)
        + "\nPoint --mirror (or SNNBENCH_MIRROR) at a folder holding "
        + f"{file.mirror_subdir}/{file.name}, or run on a machine that can reach the URL.")


def _download(file: RemoteFile, target: Path) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{file.name}.", suffix=".part", dir=target.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(file.url, timeout=60) as response:
            while block := response.read(1 << 22):
                out.write(block)
        actual = md5sum(tmp)
        if actual != file.md5:
            raise DataFileError(f"downloaded md5 {actual} does not match")
        os.replace(tmp, target)
        return target
    finally:
        tmp.unlink(missing_ok=True)


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
