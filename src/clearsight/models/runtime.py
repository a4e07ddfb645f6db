"""The small session interface every runtime sits behind: ``run(batch) -> outputs``.

onnxruntime sessions get their execution providers from a preference list intersected with
what is installed, and deliberate thread counts: several models share two cores, so each
session gets ``threads`` intra-op threads (which sleep when idle instead of spinning) and one
inter-op thread, and OpenMP (libgomp, as loaded by libfacedetection where the tests compare YuNet
with it) is told not to spin-wait either.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Protocol

import numpy as np

from ..errors import ModelNotAvailableError

PROVIDER_PREFERENCE = ("CUDAExecutionProvider", "CoreMLExecutionProvider", "CPUExecutionProvider")

# libgomp reads these when it is first loaded; set them before anything loads it (e.g. yuface).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


class Session(Protocol):
    def run(self, batch: np.ndarray) -> np.ndarray: ...


class OnnxSession:
    """One onnxruntime session with a single input and output."""

    def __init__(self, path: Path, *, threads: int, memory_arena: bool = False) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = max(1, threads)
        options.inter_op_num_threads = 1
        # The batch is the number of faces (x2 with the flip), so input shapes vary per request.
        # onnxruntime's CPU arena keeps the largest batch's memory for good, and the memory-pattern
        # cache plans a layout per shape. MobileFaceNet on random batches of 2-46 crops (from 92 MB):
        # 901 MB after 150 runs with both (default), 570 MB held with the arena alone, 320-380 MB
        # (transient) with neither. Cost: ~10 ms more per batch of 2 here (noisy, shared CPU).
        options.enable_cpu_mem_arena = memory_arena
        options.enable_mem_pattern = False
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        # Idle intra-op threads sleep instead of spin-waiting: on the 2 shared cores a spinning thread
        # competes with the other sessions and jobs. bench/face_model_speed.py --threads 2 (load 5-10):
        # clearsight-face-mesh-1 on a 640x480 photo 360 ms (192 ms CPU) with spinning, 137 ms (76 ms CPU)
        # without; at 1 thread there is no worker thread to spin.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        available = set(ort.get_available_providers())
        providers = [p for p in PROVIDER_PREFERENCE if p in available]
        try:
            self._session = ort.InferenceSession(str(path), options, providers=providers)
        except Exception as exc:  # onnxruntime raises its own Fail/InvalidGraph types
            raise ModelNotAvailableError(f"onnxruntime could not load {path}: {exc}") from exc
        self._input = self._session.get_inputs()[0].name
        self.providers = self._session.get_providers()

    def run(self, batch: np.ndarray) -> np.ndarray:
        out = self._session.run(None, {self._input: batch})[0]
        return np.asarray(out, dtype=np.float32)

    def run_all(self, batch: np.ndarray) -> list[np.ndarray]:
        """Every output of the graph, in its order (models with several heads)."""
        return [np.asarray(out, dtype=np.float32) for out in self._session.run(None, {self._input: batch})]


class LiteRtSession:
    """A .tflite model on Google's LiteRT interpreter (``ai-edge-litert``), batch resized per call.
    Outputs are returned by name. The interpreter is not thread-safe: calls are serialised."""

    def __init__(self, path: Path, *, threads: int) -> None:
        import threading

        from ai_edge_litert.interpreter import Interpreter

        try:
            self._it = Interpreter(model_path=str(path), num_threads=max(1, threads))
        except Exception as exc:  # LiteRT raises ValueError/RuntimeError on bad files
            raise ModelNotAvailableError(f"LiteRT could not load {path}: {exc}") from exc
        self._input = self._it.get_input_details()[0]
        self._batch = -1
        self._lock = threading.Lock()

    def run_named(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        with self._lock:
            if batch.shape[0] != self._batch:
                self._it.resize_tensor_input(self._input["index"], list(batch.shape))
                self._it.allocate_tensors()
                self._batch = batch.shape[0]
            self._it.set_tensor(self._input["index"], np.ascontiguousarray(batch, np.float32))
            self._it.invoke()
            return {o["name"]: np.array(self._it.get_tensor(o["index"])) for o in self._it.get_output_details()}
