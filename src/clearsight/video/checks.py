"""Identity checks at half the embedding cost: MobileFaceNet on the aligned crop, its mirror only if needed.

The default face model (clearsight-face-mesh-1) embeds a face as MobileFaceNet's output on the
Face-Mesh-aligned crop plus its output on the mirrored crop (flip augmentation), L2-normalised. The
tracker embeds many faces only to check that a continuation is the same person (tracking.CHECKS);
for those the crop's output alone, normalised, is compared with the track's template, and the
mirrored crop is run (and the two outputs summed as the model does) only for a face that then joins
a template: templates, and so searches, hold full embeddings. On the synthetic-truth clips every
tracking decision and every FaceMatch is the same as with full embeddings (bench/video_truth.py
--run, docs/video.md).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ..models import mesh as face_mesh
from ..models.embedders import l2_normalise
from ..models.preprocess import in_colour, normalise
from ..models.runtime import OnnxSession

if TYPE_CHECKING:
    from ..faces import Face, FaceAnalyzer

__all__ = ["Checker"]


class Checker:
    """The check and full embeddings of one sample's faces; ``pending`` holds the crops checked so far
    (network input and raw output), by face, until the sample is done."""

    def __init__(self, analyzer: FaceAnalyzer, session: OnnxSession) -> None:
        self.analyzer = analyzer
        self.net = analyzer.mobilefacenet
        self.session = session
        self.pending: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    @classmethod
    def for_model(cls, analyzer: FaceAnalyzer) -> Checker | None:
        """A checker when the model version is MobileFaceNet alone, Face-Mesh-aligned, with the mirror
        pass (the default); None otherwise (checks are then embedded in full). Its session is its own."""
        recipe = analyzer.calibration.recipe
        if not (recipe.align_with_mesh and recipe.weight_resnet == 0 and recipe.weight_mobilefacenet == 1):
            return None
        net = analyzer.mobilefacenet
        session = analyzer.models.session(net.card)
        return cls(analyzer, session) if net.flip and isinstance(session, OnnxSession) else None

    def check(self, rgb: np.ndarray, faces: list[Face]) -> list[np.ndarray]:
        """The crop-only embeddings of ``faces`` (their Face Mesh is kept on them)."""
        self.analyzer.add_mesh(rgb, faces)
        points = [face_mesh.five_points(f.mesh) for f in faces if f.mesh is not None]
        x = normalise(in_colour(self.net.crops(rgb, points), self.net.card), self.net.card).transpose(0, 3, 1, 2)
        raw = self.session.run(np.ascontiguousarray(x))
        for f, xi, ri in zip(faces, x, raw, strict=True):
            self.pending[id(f)] = (xi, ri)
        return list(l2_normalise(raw))

    def embed(self, rgb: np.ndarray, faces: list[Face]) -> list[np.ndarray]:
        """The full embeddings of ``faces``: a checked face adds its mirrored crop's output to its
        crop's, the others are embedded by the analyzer."""
        checked = [f for f in faces if id(f) in self.pending]
        if checked:
            x = np.stack([self.pending[id(f)][0][..., ::-1] for f in checked])
            mirrored = self.session.run(np.ascontiguousarray(x))
            for f, m in zip(checked, mirrored, strict=True):
                f.embedding = l2_normalise(self.pending.pop(id(f))[1] + m)
        self.analyzer.embed(rgb, [f for f in faces if f.embedding is None])
        return [f.embedding for f in faces if f.embedding is not None]

    def done(self) -> None:
        self.pending.clear()
