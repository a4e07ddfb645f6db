"""Batching does not change outputs: on t1.jpg (6 faces), the Face Mesh run on all faces as one
batch per pass gives the points it gives face by face, and MobileFaceNet gives the same embeddings
whether an image's crops (and mirrors) run as one onnxruntime batch, one crop per run (RUN_BATCH),
or one face per call."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from PIL import Image

from clearsight.models import mesh as fm
from clearsight.models.embedders import MobileFaceNetEmbedder
from tests.conftest import data_path

TOLERANCE = 1e-4


@pytest.fixture(scope="module")
def t1(engine):  # type: ignore[no-untyped-def]
    rgb = np.asarray(Image.open(data_path("faces", "insightface", "t1.jpg")).convert("RGB"))
    faces = engine.faces.detect(rgb)
    assert len(faces) == 6
    return engine, rgb, faces


def test_mesh_batch_equals_face_by_face(t1) -> None:  # type: ignore[no-untyped-def]
    engine, rgb, faces = t1
    mesh = engine.faces.mesh
    boxes, eyes = [f.box for f in faces], [f.points[:2] for f in faces]
    pts, prob = mesh.run(rgb, boxes, eyes)
    assert pts.shape == (6, fm.COUNT, 2) and mesh.passes == 2
    for i in range(6):
        one, p1 = mesh.run(rgb, boxes[i : i + 1], eyes[i : i + 1])
        assert np.abs(one[0] - pts[i]).max() <= TOLERANCE
        assert abs(float(p1[0]) - float(prob[i])) <= TOLERANCE


def test_embeddings_batched_equal_one_by_one(t1) -> None:  # type: ignore[no-untyped-def]
    engine, rgb, faces = t1
    points = [fm.five_points(p) for p in engine.faces.mesh.points(rgb, [f.box for f in faces],
                                                                   [f.points[:2] for f in faces])]
    default = engine.faces.mobilefacenet
    assert isinstance(default, MobileFaceNetEmbedder) and default.flip
    crops = default.crops(rgb, points)
    vecs = default.embed_crops(crops)
    assert vecs.shape == (6, 192) and np.isfinite(vecs).all()
    whole = MobileFaceNetEmbedder(default.card, default._session, run_batch=2 * len(crops))  # one run
    assert np.abs(whole.embed_crops(crops) - vecs).max() <= TOLERANCE
    for i in range(6):  # one face per call (crop + mirror in one run)
        pair = MobileFaceNetEmbedder(default.card, default._session, run_batch=2)
        assert np.abs(pair.embed_crops(crops[i : i + 1])[0] - vecs[i]).max() <= TOLERANCE


def test_pipeline_embeddings_batched_equal_face_by_face(t1) -> None:  # type: ignore[no-untyped-def]
    engine, rgb, faces = t1
    assert engine.faces.calibration.recipe.align_with_mesh  # the default model embeds mesh-aligned crops
    together = [dataclasses.replace(f, embedding=None, mesh=None) for f in faces]
    engine.faces.embed(rgb, together)
    for f, ref in zip(faces, together, strict=True):
        alone = dataclasses.replace(f, embedding=None, mesh=None)
        engine.faces.embed(rgb, [alone])
        assert alone.embedding is not None and ref.embedding is not None
        assert np.abs(alone.embedding - ref.embedding).max() <= TOLERANCE
