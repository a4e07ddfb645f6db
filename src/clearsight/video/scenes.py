"""Shots and black frames (StartSegmentDetection / GetSegmentDetection), from every frame.

A shot ends where the colour histogram of consecutive frames jumps (a hard cut; dissolves and fades
are not detected as such). Its Confidence grows with the jump: 50 at the cut threshold, 100 once the
jump is 0.1 beyond it. A TECHNICAL_CUE ``BlackFrames`` segment is a run of frames whose share of
pixels at or below ``MaxPixelThreshold`` (of the luminance range; default 0.2) reaches
``MinCoveragePercentage`` (default 99). Timecodes are SMPTE HH:MM:SS:FF at the nominal frame rate
(non-drop-frame). A segment is stored when it closes, so partial results grow while the job runs.
"""

from __future__ import annotations

import json
from typing import Any

import cv2
import numpy as np

from .. import params
from ..errors import InvalidParameterException
from ..storage.base import ResultRow
from .decode import Sample
from .tracking import CUT, colour_histogram, vector_from, vector_text

__all__ = ["SEGMENT_MODEL_VERSION", "SegmentDetection", "SegmentRequest"]

SEGMENT_MODEL_VERSION = "clearsight-segments-1"
TYPES = ("TECHNICAL_CUE", "SHOT")


def _confidence(distance: float) -> float:
    return round(50.0 + 50.0 * min(1.0, max(0.0, (distance - CUT) / 0.1)), 3)


class SegmentRequest:
    """SegmentTypes and Filters (TechnicalCueFilter with BlackFrame, ShotFilter), checked."""

    def __init__(self, segment_types: Any, filters: Any) -> None:
        if not isinstance(segment_types, list) or not segment_types or set(segment_types) - set(TYPES):
            raise InvalidParameterException("SegmentTypes must be a non-empty list of TECHNICAL_CUE and SHOT")
        filters = filters or {}
        if not isinstance(filters, dict) or set(filters) - {"TechnicalCueFilter", "ShotFilter"}:
            raise InvalidParameterException("Filters may only have TechnicalCueFilter and ShotFilter")
        cue = filters.get("TechnicalCueFilter") or {}
        shot = filters.get("ShotFilter") or {}
        black = cue.get("BlackFrame") or {}
        self.types = tuple(t for t in TYPES if t in segment_types)
        self.min_cue = params.number("TechnicalCueFilter.MinSegmentConfidence", cue.get("MinSegmentConfidence"),
                                     50, 100, 80)
        self.min_shot = params.number("ShotFilter.MinSegmentConfidence", shot.get("MinSegmentConfidence"), 50, 100, 80)
        self.max_pixel = params.number("BlackFrame.MaxPixelThreshold", black.get("MaxPixelThreshold"), 0, 1, 0.2)
        self.coverage = params.number("BlackFrame.MinCoveragePercentage", black.get("MinCoveragePercentage"),
                                      0, 100, 99)


def timecode(ms: float, fps: float) -> str:
    nominal = max(1, round(fps))
    frames = round(ms / 1000.0 * fps)
    seconds, ff = divmod(frames, nominal)
    minutes, ss = divmod(seconds, 60)
    hh, mm = divmod(minutes, 60)
    return f"{hh:02d}:{mm:02d}:{ss:02d}:{ff:02d}"


class SegmentDetection:
    every_ms: int | None = 1  # every frame

    def __init__(self, request: dict[str, Any], metadata: dict[str, Any]) -> None:
        self.request = SegmentRequest(request.get("SegmentTypes"), request.get("Filters"))
        self.fps = float(metadata.get("FrameRate") or 30.0)
        self.frame_ms = 1000.0 / self.fps
        self.frame = -1  # the last frame's number
        self.last_ms = 0
        self.histogram: np.ndarray | None = None
        self.shot: dict[str, Any] | None = None  # the open shot: start ms, start frame, confidence
        self.shots = 0
        self.black: dict[str, Any] | None = None  # the open black run: start ms, start frame, coverage sum, frames

    def prepare(self, sample: Sample) -> tuple[np.ndarray, float]:
        grey = cv2.cvtColor(cv2.resize(sample.rgb, (160, 90), interpolation=cv2.INTER_AREA), cv2.COLOR_RGB2GRAY)
        dark = float(np.mean(grey <= self.request.max_pixel * 255.0)) * 100.0
        return colour_histogram(sample.rgb), dark

    def add(self, sample: Sample, prepared: tuple[np.ndarray, float]) -> list[ResultRow]:
        histogram, dark = prepared
        self.frame += 1
        rows: list[ResultRow] = []
        distance = 1.0 if self.histogram is None else 0.5 * float(np.abs(self.histogram - histogram).sum())
        if distance >= CUT:
            rows += self._close_shot(sample.timestamp, self.frame - 1)
            self.shot = {"ms": sample.timestamp, "frame": self.frame, "confidence": 100.0 if self.histogram is None
                         else _confidence(distance)}
        if dark >= self.request.coverage:
            if self.black is None:
                self.black = {"ms": sample.timestamp, "frame": self.frame, "coverage": 0.0, "frames": 0}
            self.black["coverage"] += dark
            self.black["frames"] += 1
        else:
            rows += self._close_black(sample.timestamp)
        self.histogram = histogram
        self.last_ms = sample.timestamp
        return rows

    def flush(self) -> list[ResultRow]:
        end = round(self.last_ms + self.frame_ms)
        return self._close_shot(end, self.frame) + self._close_black(end)

    def _segment(self, kind: str, start_ms: int, end_ms: int, start_frame: int, end_frame: int) -> dict[str, Any]:
        return {"Type": kind, "StartTimestampMillis": start_ms, "EndTimestampMillis": end_ms,
                "DurationMillis": end_ms - start_ms, "StartTimecodeSMPTE": timecode(start_ms, self.fps),
                "EndTimecodeSMPTE": timecode(end_ms, self.fps), "DurationSMPTE": timecode(end_ms - start_ms, self.fps),
                "StartFrameNumber": start_frame, "EndFrameNumber": end_frame,
                "DurationFrames": end_frame - start_frame + 1}

    def _close_shot(self, end_ms: int, end_frame: int) -> list[ResultRow]:
        shot, self.shot = self.shot, None
        if shot is None:
            return []
        index = self.shots
        self.shots += 1
        if "SHOT" not in self.request.types or shot["confidence"] < self.request.min_shot:
            return []
        seg = self._segment("SHOT", shot["ms"], end_ms, shot["frame"], end_frame)
        seg["ShotSegment"] = {"Index": index, "Confidence": shot["confidence"]}
        return [(shot["ms"], 1, json.dumps(seg))]

    def _close_black(self, end_ms: int) -> list[ResultRow]:
        black, self.black = self.black, None
        if black is None or "TECHNICAL_CUE" not in self.request.types:
            return []
        confidence = round(black["coverage"] / black["frames"], 3)
        if confidence < self.request.min_cue:
            return []
        seg = self._segment("TECHNICAL_CUE", black["ms"], end_ms, black["frame"],
                            black["frame"] + black["frames"] - 1)
        seg["TechnicalCueSegment"] = {"Type": "BlackFrames", "Confidence": confidence}
        return [(black["ms"], 0, json.dumps(seg))]

    def state(self) -> dict[str, Any]:
        return {"frame": self.frame, "last_ms": self.last_ms, "shot": self.shot, "shots": self.shots,
                "black": self.black, "histogram": None if self.histogram is None else vector_text(self.histogram)}

    def restore(self, state: dict[str, Any]) -> None:
        self.frame, self.last_ms, self.shot = state["frame"], state["last_ms"], state["shot"]
        self.shots, self.black = state["shots"], state["black"]
        self.histogram = None if state["histogram"] is None else vector_from(state["histogram"])
