"""Face alignment: a least-squares similarity transform onto the ArcFace 5-point template."""

from __future__ import annotations

import cv2
import numpy as np

# ArcFace / InsightFace 112x112 template: eye (image left), eye (image right), nose tip,
# mouth corner (image left), mouth corner (image right).
ARCFACE_112 = np.array(
    [[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655], [70.7299, 92.2041]],
    dtype=np.float32,
)


def similarity_transform(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """The 2x3 rotation+scale+translation that best maps src points onto dst (Umeyama, 1991)."""
    src = np.asarray(src, np.float64)
    dst = np.asarray(dst, np.float64)
    mu_s, mu_d = src.mean(0), dst.mean(0)
    s0, d0 = src - mu_s, dst - mu_d
    cov = d0.T @ s0 / len(src)
    u, sig, vt = np.linalg.svd(cov)
    sign = np.eye(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        sign[1, 1] = -1
    rot = u @ sign @ vt
    var_s = (s0**2).sum() / len(src)
    scale = float(np.trace(np.diag(sig) @ sign) / var_s) if var_s > 0 else 1.0
    t = mu_d - scale * rot @ mu_s
    return np.hstack([scale * rot, t[:, None]]).astype(np.float32)


def align(rgb: np.ndarray, points: np.ndarray, size: int = 112) -> np.ndarray:
    """Warp the face with 5 landmarks into a size x size ArcFace-aligned crop."""
    template = ARCFACE_112 * (size / 112.0)
    matrix = similarity_transform(points, template)
    return cv2.warpAffine(rgb, matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
