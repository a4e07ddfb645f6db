"""MediaPipe Face Mesh: 468 landmarks per face, and what we read off them.

The crop follows MediaPipe's face_detection_front_detection_to_roi: a square centred on the face
box, 1.5x its longer side, rotated so that the line between the eyes is level (here from the
detector's 5 points), resized to the card's 192x192. The network's points (pixels of that crop)
are mapped back through the inverse of the same affine transform.

Index conventions: the mesh's canonical topology (MediaPipe's face_mesh_connections / the
canonical face model's UV map). "Image left" is the viewer's left; a frontal subject's right
eye is on the image left, and ClearSight's landmark names follow the viewer, as the 5 points
always have (eyeLeft has the smaller X on a frontal face).
"""

from __future__ import annotations

import cv2
import numpy as np

from .registry import ModelCard
from .runtime import OnnxSession

COUNT = 468
SCALE = 1.5  # crop side over the face box's longer side (MediaPipe's detection-to-ROI scale)

# Eye contours (16 points each, from the outer corner round the lower lid, then the upper lid).
EYE_IMAGE_LEFT = (33, 7, 163, 144, 145, 153, 154, 155, 133, 173, 157, 158, 159, 160, 161, 246)
EYE_IMAGE_RIGHT = (263, 249, 390, 373, 374, 380, 381, 382, 362, 398, 384, 385, 386, 387, 388, 466)
# Eye aspect ratio points per eye: corners (outer, inner) and three upper / lower lid pairs.
EAR_IMAGE_LEFT = ((33, 133), ((160, 144), (159, 145), (158, 153)))
EAR_IMAGE_RIGHT = ((263, 362), ((387, 373), (386, 374), (385, 380)))
# Inner lips: corners and three upper / lower pairs.
MOUTH_INNER = ((78, 308), ((81, 178), (13, 14), (311, 402)))
NOSE_TIP = 1
MOUTH_CORNERS = (61, 291)  # image left, image right

# Rekognition landmark Type -> mesh vertex (or a tuple: the mean of those vertices). "left" and
# "right" are the viewer's (see the module docstring).
LANDMARKS: dict[str, int | tuple[int, ...]] = {
    "eyeLeft": EYE_IMAGE_LEFT,
    "eyeRight": EYE_IMAGE_RIGHT,
    "nose": NOSE_TIP,
    "mouthLeft": MOUTH_CORNERS[0],
    "mouthRight": MOUTH_CORNERS[1],
    "leftEyeBrowLeft": 70,
    "leftEyeBrowRight": 107,
    "leftEyeBrowUp": 105,
    "rightEyeBrowLeft": 336,
    "rightEyeBrowRight": 300,
    "rightEyeBrowUp": 334,
    "leftEyeLeft": 33,
    "leftEyeRight": 133,
    "leftEyeUp": 159,
    "leftEyeDown": 145,
    "rightEyeLeft": 362,
    "rightEyeRight": 263,
    "rightEyeUp": 386,
    "rightEyeDown": 374,
    "noseLeft": 64,
    "noseRight": 294,
    "mouthUp": 0,
    "mouthDown": 17,
    "leftPupil": EYE_IMAGE_LEFT,  # the eye contour's centre; faces.py replaces both by MediaPipe Iris's centres
    "rightPupil": EYE_IMAGE_RIGHT,
    "upperJawlineLeft": 234,
    "midJawlineLeft": 172,
    "chinBottom": 152,
    "midJawlineRight": 397,
    "upperJawlineRight": 454,
}


def crop_transform(box: np.ndarray, eyes: np.ndarray, size: int, scale: float = SCALE) -> np.ndarray:
    """The 2x3 affine map from image pixels to the size x size crop of one face: centred on the box,
    ``scale`` times its longer side, rotated so that the line between ``eyes`` (image left, image
    right) is level. ``box``: x1, y1, x2, y2."""
    x1, y1, x2, y2 = (float(v) for v in box)
    side = scale * max(x2 - x1, y2 - y1)
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    d = np.asarray(eyes[1], np.float64) - np.asarray(eyes[0], np.float64)
    angle = float(np.arctan2(d[1], d[0]))
    k = size / max(side, 1e-6)
    c, s = np.cos(angle) * k, np.sin(angle) * k
    a = np.array([[c, s], [-s, c]])  # rotate by -angle (eyes level), scale to the crop
    t = np.array([size / 2, size / 2]) - a @ np.array([cx, cy])
    return np.hstack([a, t[:, None]]).astype(np.float64)


def roi_box(mesh: np.ndarray) -> np.ndarray:
    """A face box from a previous pass's points, in the rotated frame of its eye line: the
    points' extent along and across the eyes, as an axis-aligned box of the same centre and size
    (crop_transform takes its centre and longer side; the rotation comes from the eyes)."""
    eyes = np.stack([points_of(mesh, EYE_IMAGE_LEFT), points_of(mesh, EYE_IMAGE_RIGHT)]).astype(np.float64)
    d = eyes[1] - eyes[0]
    u = d / max(float(np.linalg.norm(d)), 1e-6)
    v = np.array([-u[1], u[0]])
    along, across = mesh @ u, mesh @ v
    centre = ((along.max() + along.min()) / 2) * u + ((across.max() + across.min()) / 2) * v
    half = max(float(np.ptp(along)), float(np.ptp(across))) / 2
    return np.array([centre[0] - half, centre[1] - half, centre[0] + half, centre[1] + half], np.float32)


def points_of(mesh: np.ndarray, index: int | tuple[int, ...]) -> np.ndarray:
    """One named point: a vertex, or the mean of several."""
    if isinstance(index, tuple):
        return np.asarray(mesh[list(index)].mean(0), np.float32)
    return np.asarray(mesh[index], np.float32)


def five_points(mesh: np.ndarray) -> np.ndarray:
    """ArcFace-order 5 points (models/alignment.py): eye centres (contour means), nose tip,
    mouth corners."""
    return np.stack([points_of(mesh, EYE_IMAGE_LEFT), points_of(mesh, EYE_IMAGE_RIGHT),
                     points_of(mesh, NOSE_TIP), points_of(mesh, MOUTH_CORNERS[0]),
                     points_of(mesh, MOUTH_CORNERS[1])]).astype(np.float32)


def _ratio(mesh: np.ndarray, spec: tuple[tuple[int, int], tuple[tuple[int, int], ...]]) -> float:
    (a, b), pairs = spec
    width = float(np.linalg.norm(mesh[a] - mesh[b]))
    opening = float(np.mean([np.linalg.norm(mesh[u] - mesh[v]) for u, v in pairs]))
    return opening / width if width > 0 else 0.0


def eye_aspect_ratio(mesh: np.ndarray) -> float:
    """Mean eye aspect ratio over both eyes (lid opening over corner-to-corner width)."""
    return (_ratio(mesh, EAR_IMAGE_LEFT) + _ratio(mesh, EAR_IMAGE_RIGHT)) / 2.0


def mouth_aspect_ratio(mesh: np.ndarray) -> float:
    """Inner-lip opening over inner mouth width."""
    return _ratio(mesh, MOUTH_INNER)


class FaceMesh:
    """468 (x, y) image points per face box, one batch per image."""

    def __init__(self, card: ModelCard, session: OnnxSession, *, passes: int = 1) -> None:
        assert card.input_size is not None
        self.passes = max(1, passes)
        self.card = card
        self.size = card.input_size[0]
        self._session = session

    def crops(self, rgb: np.ndarray, boxes: list[np.ndarray], eyes: list[np.ndarray]
              ) -> tuple[np.ndarray, list[np.ndarray]]:
        """The network's input batch (NCHW float32) and each crop's image -> crop transform."""
        size = self.size
        batch = np.empty((len(boxes), 3, size, size), np.float32)
        transforms = []
        for i, (box, pair) in enumerate(zip(boxes, eyes, strict=True)):
            m = crop_transform(box, pair, size)
            crop = cv2.warpAffine(rgb, m, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
            batch[i] = ((crop.astype(np.float32) - self.card.mean) / self.card.std).transpose(2, 0, 1)
            transforms.append(m)
        return batch, transforms

    def _once(self, rgb: np.ndarray, boxes: list[np.ndarray], eyes: list[np.ndarray]
              ) -> tuple[np.ndarray, np.ndarray]:
        batch, transforms = self.crops(rgb, boxes, eyes)
        raw, flag = self._session.run_all(batch)
        pts = raw.reshape(len(boxes), COUNT, 3)[:, :, :2].astype(np.float64)
        out = np.empty((len(boxes), COUNT, 2), np.float32)
        for i, m in enumerate(transforms):
            inv = cv2.invertAffineTransform(m)
            out[i] = pts[i] @ inv[:, :2].T + inv[:, 2]
        prob = 1.0 / (1.0 + np.exp(-np.clip(flag.reshape(-1).astype(np.float64), -60, 60)))
        return out, prob.astype(np.float32)

    def run(self, rgb: np.ndarray, boxes: list[np.ndarray], eyes: list[np.ndarray], *, passes: int | None = None
            ) -> tuple[np.ndarray, np.ndarray]:
        """(N, 468, 2) image points and (N,) face probabilities for these boxes; ``eyes``: per box,
        the (2, 2) image-left and image-right eye centres (e.g. the detector's first two points).

        After the first pass, each further pass re-crops around the previous pass's points (their
        bounding box and eye line: MediaPipe's landmarks-to-ROI step when it tracks a face)."""
        if not boxes:
            return np.zeros((0, COUNT, 2), np.float32), np.zeros((0,), np.float32)
        pts, prob = self._once(rgb, boxes, eyes)
        for _ in range(1, self.passes if passes is None else passes):
            boxes = [roi_box(p) for p in pts]
            eyes = [np.stack([points_of(p, EYE_IMAGE_LEFT), points_of(p, EYE_IMAGE_RIGHT)]) for p in pts]
            pts, prob = self._once(rgb, boxes, eyes)
        return pts, prob

    def points(self, rgb: np.ndarray, boxes: list[np.ndarray], eyes: list[np.ndarray]) -> np.ndarray:
        """(N, 468, 2) image points."""
        return self.run(rgb, boxes, eyes)[0]


IRIS_SCALE = 2.3  # eye crop side over the corner-to-corner distance (MediaPipe's iris ROI)
EYE_CORNERS = ((33, 133), (362, 263))  # image-left eye, image-right eye: (image-left corner, image-right corner)


class Iris:
    """MediaPipe Iris on the two eyes of each face mesh: (N, 2, 5, 2) iris points (centre first) and
    (N, 2, 71, 2) eye-contour points, image-left eye first, in image pixels; one batch per image."""

    def __init__(self, card: ModelCard, session: OnnxSession) -> None:
        assert card.input_size is not None
        self.card = card
        self.size = card.input_size[0]
        self._session = session

    def run(self, rgb: np.ndarray, meshes: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        n = len(meshes)
        if n == 0:
            return np.zeros((0, 2, 5, 2), np.float32), np.zeros((0, 2, 71, 2), np.float32)
        size = self.size
        batch = np.empty((2 * n, 3, size, size), np.float32)
        transforms = []
        for i, mesh in enumerate(meshes):
            for j, (a, b) in enumerate(EYE_CORNERS):
                corners = np.stack([mesh[a], mesh[b]]).astype(np.float64)
                centre = corners.mean(0)
                half = IRIS_SCALE * float(np.linalg.norm(corners[1] - corners[0])) / 2
                box = np.array([centre[0] - half, centre[1] - half, centre[0] + half, centre[1] + half])
                m = crop_transform(box, corners, size, scale=1.0)
                if j == 0:  # the network sees a subject's left eye: mirror the image-left (right) eye
                    m = np.array([[-1.0, 0.0, size], [0.0, 1.0, 0.0]]) @ np.vstack([m, [0.0, 0.0, 1.0]])
                crop = cv2.warpAffine(rgb, m, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
                batch[2 * i + j] = ((crop.astype(np.float32) - self.card.mean) / self.card.std).transpose(2, 0, 1)
                transforms.append(m)
        contour, iris = self._session.run_all(batch)
        contour = contour.reshape(2 * n, 71, 3)[:, :, :2].astype(np.float64)
        iris = iris.reshape(2 * n, 5, 3)[:, :, :2].astype(np.float64)
        out_iris = np.empty((2 * n, 5, 2), np.float32)
        out_contour = np.empty((2 * n, 71, 2), np.float32)
        for k, m in enumerate(transforms):
            inv = cv2.invertAffineTransform(m)
            out_iris[k] = iris[k] @ inv[:, :2].T + inv[:, 2]
            out_contour[k] = contour[k] @ inv[:, :2].T + inv[:, 2]
        return out_iris.reshape(n, 2, 5, 2), out_contour.reshape(n, 2, 71, 2)

    def pupils(self, rgb: np.ndarray, meshes: list[np.ndarray]) -> np.ndarray:
        """(N, 2, 2): the iris centres, image-left eye first."""
        return self.run(rgb, meshes)[0][:, :, 0]
