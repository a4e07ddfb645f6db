"""Convert a TF.js graph model to ONNX with tf2onnx: run as a script inside the throwaway
preparation venv (tensorflow-cpu + tf2onnx), never imported by the service.

    python tfjs_to_onnx.py MODEL.json OUT.onnx [--opset 13] [--output NAME ...]

Two fixes tf2onnx 1.17's TF.js reader needs: TF.js exports fused ops (``_FusedConv2D``,
``FusedDepthwiseConv2dNative``) without their ``TArgs`` attribute, which TensorFlow's importer
requires, so it is filled in (one float per extra input), as are attributes with op defaults that
the TF.js file omits (TopKV2's ``index_type``); and ``np.product`` (removed in numpy 2)
is restored when missing. The ONNX file is made deterministic (see :func:`canonicalize`) so
its sha256 can be checked.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

FUSED_OPS = ("_FusedConv2D", "FusedDepthwiseConv2dNative", "_FusedMatMul")


def fill_fused_targs(topology: dict) -> int:  # type: ignore[type-arg]
    """Give every fused op the TArgs attribute TF.js dropped. Returns how many were fixed."""
    fixed = 0
    for node in topology["node"]:
        if node["op"] in FUSED_OPS and "TArgs" not in node.get("attr", {}):
            extra = [i for i in node["input"][2:] if not i.startswith("^")]
            node.setdefault("attr", {})["TArgs"] = {"list": {"type": ["DT_FLOAT"] * len(extra)}}
            fixed += 1
    return fixed


def fill_default_attrs(topology: dict) -> int:  # type: ignore[type-arg]
    """Give every node the attributes its TensorFlow op has defaults for but the TF.js file left
    out (e.g. TopKV2's ``index_type``, which tf2onnx reads without a default)."""
    from google.protobuf.json_format import MessageToDict
    from tensorflow.python.framework import op_def_registry

    filled = 0
    for node in topology["node"]:
        op_def = op_def_registry.get(node["op"])
        if op_def is None:
            continue
        attrs = node.setdefault("attr", {})
        for attr in op_def.attr:
            if attr.name not in attrs and attr.HasField("default_value"):
                attrs[attr.name] = MessageToDict(attr.default_value)
                filled += 1
    return filled


def canonicalize(model: Any) -> None:
    """Make the graph independent of the names and node order tf2onnx happened to produce:
    nodes in depth-first post-order from the outputs, intermediate tensors, nodes and
    initializers renamed by that order. (tf2onnx's optimizers iterate over sets of node objects,
    so two runs give equal graphs with different names and order.)"""
    graph = model.graph
    producer = {o: n for n in graph.node for o in n.output}
    order: list[Any] = []
    seen: set[int] = set()

    def visit(tensor: str) -> None:
        node = producer.get(tensor)
        if node is None or id(node) in seen:
            return
        seen.add(id(node))
        for name in node.input:
            visit(name)
        order.append(node)

    for out in graph.output:
        visit(out.name)
    keep = {v.name for v in list(graph.input) + list(graph.output)}
    renamed: dict[str, str] = {}
    inits = {t.name: t for t in graph.initializer}
    for node in order:
        for name in node.input:
            if name in inits and name not in renamed:
                renamed[name] = f"c{len(renamed)}"
        for name in node.output:
            if name and name not in keep:
                renamed[name] = f"t{len(renamed)}"
    for i, node in enumerate(order):
        node.name = f"n{i}"
        node.input[:] = [renamed.get(x, x) for x in node.input]
        node.output[:] = [renamed.get(x, x) for x in node.output]
    used = [inits[name] for name in renamed if name in inits]
    for tensor in used:
        tensor.name = renamed[tensor.name]
    nodes = [type(n)() for n in order]
    for copy, node in zip(nodes, order):
        copy.CopyFrom(node)
    del graph.node[:]
    graph.node.extend(nodes)
    tensors = [type(t)() for t in used]
    for copy, tensor in zip(tensors, used):
        copy.CopyFrom(tensor)
    del graph.initializer[:]
    graph.initializer.extend(tensors)
    del graph.value_info[:]


def convert(model_json: Path, out: Path, opset: int, outputs: list[str] | None) -> None:
    import numpy as np

    if not hasattr(np, "product"):  # tf2onnx 1.17 still calls it
        np.product = np.prod  # type: ignore[attr-defined]
    import onnx
    import tf2onnx.optimizer
    from tf2onnx import convert as tf2onnx_convert

    # its reshape optimizer removes a different redundant Reshape from run to run
    tf2onnx.optimizer._optimizers.pop("reshape_optimizer", None)

    with tempfile.TemporaryDirectory() as tmp:
        spec = json.loads(model_json.read_text())
        fill_fused_targs(spec["modelTopology"])
        fill_default_attrs(spec["modelTopology"])
        fixed_json = Path(tmp) / model_json.name
        fixed_json.write_text(json.dumps(spec))
        for manifest in spec["weightsManifest"]:
            for shard in manifest["paths"]:
                shutil.copy(model_json.parent / shard, Path(tmp) / shard)
        raw = Path(tmp) / "model.onnx"
        argv = ["--tfjs", str(fixed_json), "--output", str(raw), "--opset", str(opset)]
        if outputs:
            argv += ["--outputs", ",".join(outputs)]
        sys.argv = ["tf2onnx", *argv]
        tf2onnx_convert.main()
        model = onnx.load(str(raw))
    model.producer_name = "clearsight-prepare"
    model.producer_version = ""
    del model.metadata_props[:]
    model.graph.doc_string = f"converted from {model_json.name} by tf2onnx"
    canonicalize(model)
    onnx.checker.check_model(model)
    out.write_bytes(model.SerializeToString())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("model_json", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--opset", type=int, default=13)
    parser.add_argument("--output", action="append", dest="outputs")
    args = parser.parse_args()
    convert(args.model_json, args.out, args.opset, args.outputs)


if __name__ == "__main__":
    main()
