"""Labels and text in a video (StartLabelDetection / StartTextDetection): DetectLabels and DetectText on
every sampled frame, with their request's filters, stored per timestamp. GetLabelDetection's
``AggregateBy=SEGMENTS`` merges a label's consecutive sightings into one segment."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..storage.base import ResultRow
from .decode import Sample

if TYPE_CHECKING:
    from ..labels import LabelAnalyzer
    from ..text import TextReader

__all__ = ["LabelDetection", "TextDetection", "label_segments"]


class _PerSample:
    """An analysis with no state between samples: all of its work can run a sample ahead."""

    every_ms: int | None = None

    def state(self) -> dict[str, Any]:
        return {}

    def restore(self, state: dict[str, Any]) -> None:
        pass

    def flush(self) -> list[ResultRow]:
        return []

    def add(self, sample: Sample, prepared: list[ResultRow]) -> list[ResultRow]:
        return prepared


class LabelDetection(_PerSample):
    def __init__(self, labels: Callable[[], LabelAnalyzer], request: dict[str, Any]) -> None:
        from ..labels import LabelRequest

        self.labels = labels
        self.request = LabelRequest.parse(None, request.get("MinConfidence", 50.0), ["GENERAL_LABELS"],
                                          request.get("Settings"))

    def prepare(self, sample: Sample) -> list[ResultRow]:
        found = self.labels().detect_labels(sample.rgb, self.request)["Labels"]
        return [(sample.timestamp, i, json.dumps({"Timestamp": sample.timestamp, "Label": label}))
                for i, label in enumerate(found)]


class TextDetection(_PerSample):
    def __init__(self, reader: Callable[[], TextReader], request: dict[str, Any]) -> None:
        from ..text import TextFilters

        self.reader = reader
        self.filters = TextFilters.parse(request.get("Filters"))

    def prepare(self, sample: Sample) -> list[ResultRow]:
        from ..text import response

        h, w = sample.rgb.shape[:2]
        found = response(self.reader().read(sample.rgb), w, h, self.filters)["TextDetections"]
        return [(sample.timestamp, i, json.dumps({"Timestamp": sample.timestamp, "TextDetection": d}))
                for i, d in enumerate(found)]


def label_segments(items: list[dict[str, Any]], step_ms: int) -> list[dict[str, Any]]:
    """Each label's runs of sightings no more than one sample apart, as one entry each (the run's
    highest confidence, its start as Timestamp, no Instances), ordered by start then name."""
    runs: dict[str, list[dict[str, Any]]] = {}
    out: list[dict[str, Any]] = []
    for item in sorted(items, key=lambda i: (i["Label"]["Name"], i["Timestamp"])):
        label = item["Label"]
        mine = runs.setdefault(label["Name"], [])
        if mine and item["Timestamp"] - mine[-1]["EndTimestampMillis"] <= 2 * step_ms:
            run = mine[-1]
            run["EndTimestampMillis"] = item["Timestamp"]
            run["Label"]["Confidence"] = max(run["Label"]["Confidence"], label["Confidence"])
        else:
            run = {"Timestamp": item["Timestamp"], "Label": {k: v for k, v in label.items() if k != "Instances"},
                   "StartTimestampMillis": item["Timestamp"], "EndTimestampMillis": item["Timestamp"]}
            mine.append(run)
            out.append(run)
    for run in out:
        run["DurationMillis"] = run["EndTimestampMillis"] - run["StartTimestampMillis"]
    return sorted(out, key=lambda r: (r["StartTimestampMillis"], r["Label"]["Name"]))
