"""The YuNet call must not leak (yuface 2023.5.1's own ``detect`` kept 36 KB per call), and the
reference call of libfacedetection (prepare/yunet.py) reads the library's result buffer right."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from clearsight.images import decode
from clearsight.models import detector
from clearsight.models.loader import ModelLoader
from clearsight.models.prepare import yunet
from clearsight.settings import Settings

from ..conftest import data_path


def rss_kb() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def small_bgr() -> np.ndarray:
    rgb = decode(data_path("faces", "face_recognition", "obama-240p.jpg")).rgb
    return np.ascontiguousarray(rgb[::2, ::2, ::-1])  # ~213x120 BGR: fast, and YuNet still runs


def test_raw_detect_does_not_grow_memory() -> None:
    bgr = small_bgr()
    session = ModelLoader.from_settings(Settings.load()).get("yunet", detector.YuNetDetector).session
    for _ in range(50):  # let the allocator and onnxruntime settle
        detector._raw_detect(session, bgr)
    before = rss_kb()
    for _ in range(500):
        detector._raw_detect(session, bgr)
    grown = rss_kb() - before
    assert grown < 4 * 1024, f"RSS grew {grown} KB over 500 YuNet calls (the yuface leak was 36 KB per call)"


def test_reference_call_matches_the_wheel_column_for_column() -> None:
    yuface = pytest.importorskip("yuface")

    bgr = small_bgr()
    photo = decode(data_path("faces", "face_recognition", "two_people.jpg")).rgb[:, :, ::-1]
    for img in (bgr, np.ascontiguousarray(photo), photo[5:-7, 3:-9]):  # the last one is not contiguous
        ours = yunet.libfacedetection_detect(img)
        theirs = np.asarray(yuface.c_detect(np.ascontiguousarray(img)), np.float32).reshape(-1, 16)
        assert ours.shape == (len(theirs), 15)
        np.testing.assert_array_equal(ours, theirs[:, :15])  # column 15 is uninitialised padding
