"""Stream processors (Create/Start/Stop/Describe/List/Update/DeleteStreamProcessor) with
Rekognition's shapes, over the store's ``stream_processors`` and the operator's own cameras.

A processor is created STOPPED; StartStreamProcessor makes it STARTING and the
:class:`~.runner.StreamRunner` (started by ``clearsight serve``) claims it, follows its camera and
makes it RUNNING; StopStreamProcessor makes it STOPPING, then STOPPED; UpdateStreamProcessor on a
running processor makes it UPDATING until the runner has applied the change. Its state lives in
the store, so a processor survives a restart (the next server resumes it). Accountability as
for stored video: a face search processor passes the same gates as SearchFacesByImage when it
is created and whenever it starts (scope and collection of the key, the collection's threshold
floor, required purpose and result cap; the policy is re-checked every few seconds while it
runs), it carries its creator's purpose, and the audit trail gets one record when it is
created, started, stopped, updated or deleted and one per identification it emits. Nothing is
ever shared with anyone: DataSharingPreference is accepted and kept, and changes nothing.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import params
from ..errors import AccessDeniedException, InvalidParameterException, ResourceInUseException, ResourceNotFoundException
from ..policy.audit import AuditRecord, audited, current_record
from ..policy.context import Caller, acting_as, current
from ..policy.scopes import may_use
from ..storage.base import ProcessorRow
from ..video.jobs import claimable
from ..video.notify import ROLE
from ..video.notify import Sinks as Notices
from .analysis import CONNECTED_HOME, MATCHES_PER_FACE
from .config import RecordWriter, Sinks, Sources
from .runner import StreamRunner

if TYPE_CHECKING:
    from concurrent.futures import Executor

    from ..calibration import Calibration
    from ..collections.service import Collections
    from ..faces import FaceAnalyzer
    from ..labels import LabelAnalyzer
    from ..settings import Settings

__all__ = ["DATA_SHARING", "StreamProcessors"]

NAME = re.compile(r"^[a-zA-Z0-9_.\-]{1,128}$")
LATENCY_TAG = "clearsight:latency-ms"
DATA_SHARING = ("ClearSight never shares anything: no frame, face or result leaves this server for anyone but the "
                "sinks you configured, whatever DataSharingPreference.OptIn says (it is kept, and changes nothing)")
ACTIVE = ("STARTING", "RUNNING", "UPDATING")


def _regions(value: Any, member: str) -> list[dict[str, Any]] | None:
    """RegionsOfInterest: at most 10, each a BoundingBox or a Polygon (3+ points), ratios of the frame."""
    if value is None:
        return None
    if not isinstance(value, list) or len(value) > 10:
        raise InvalidParameterException(f"{member} must be a list of at most 10 regions")
    for r in value:
        if not isinstance(r, dict) or not r or set(r) - {"BoundingBox", "Polygon"}:
            raise InvalidParameterException(f"each of {member} needs a BoundingBox or a Polygon")
        box = r.get("BoundingBox")
        if box is not None:
            for key in ("Left", "Top", "Width", "Height"):
                params.number(f"{member} BoundingBox.{key}", box.get(key) if isinstance(box, dict) else None, 0, 1)
        polygon = r.get("Polygon")
        if polygon is not None:
            if not isinstance(polygon, list) or len(polygon) < 3:
                raise InvalidParameterException(f"a {member} Polygon needs at least 3 Points")
            for p in polygon:
                for key in ("X", "Y"):
                    params.number(f"{member} Polygon Point.{key}", p.get(key) if isinstance(p, dict) else None, 0, 1)
    return value


def _connected_home(value: Any, member: str) -> dict[str, Any]:
    if not isinstance(value, dict) or set(value) - {"Labels", "MinConfidence"}:
        raise InvalidParameterException(f"{member} has Labels and MinConfidence")
    labels = value.get("Labels")
    allowed = [*CONNECTED_HOME, "ALL"]
    if not isinstance(labels, list) or not labels or any(label not in allowed for label in labels):
        raise InvalidParameterException(f"{member}.Labels must be a non-empty list of {', '.join(allowed)}")
    out: dict[str, Any] = {"Labels": labels}
    if value.get("MinConfidence") is not None:
        out["MinConfidence"] = params.threshold(f"{member}.MinConfidence", value["MinConfidence"])
    return out


class StreamProcessors:
    """Built by the Engine; ``runner`` runs the processors (``clearsight serve`` starts it)."""

    def __init__(self, *, settings: Settings, collections: Collections, faces: FaceAnalyzer,
                 calibration: Calibration, executor: Executor, s3_root: Path,
                 labels: Callable[[], LabelAnalyzer]) -> None:
        self.settings, self.collections, self.faces, self.calibration = settings, collections, faces, calibration
        self.store, self.audit, self.paginator = collections.store, collections.audit, collections.paginator
        self.executor, self.s3_root, self.labels = executor, s3_root, labels
        self.sources = Sources.parse(str(settings.stream_sources))
        self.sinks = Sinks.parse(str(settings.stream_sinks))
        self.notices = Notices.parse(str(settings.video_notification_sinks))
        self.runner = StreamRunner(self)

    # --- helpers the runner and sessions use ---------------------------------------------------
    @staticmethod
    def request_of(row: ProcessorRow) -> dict[str, Any]:
        out: dict[str, Any] = json.loads(row.request)
        return out

    @staticmethod
    def session_of(row: ProcessorRow) -> dict[str, Any]:
        out: dict[str, Any] = json.loads(row.session) if row.session else {}
        return out

    def budget_ms(self, request: dict[str, Any]) -> float:
        tag = (request.get("Tags") or {}).get(LATENCY_TAG)
        return float(tag) if tag is not None else float(self.settings.stream_latency_ms)

    def writer(self, request: dict[str, Any], name: str, session_id: str) -> RecordWriter:
        return self.sinks.writer(request["Output"], name, session_id, self.s3_root)

    def notify(self, name: str, request: dict[str, Any], session: dict[str, Any], event: str, message: str | None,
               labels: list[dict[str, Any]] | None = None) -> None:
        """A notice to the processor's NotificationChannel (labels detected, or the session's end)."""
        channel = request.get("NotificationChannel")
        if not channel:
            return
        body: dict[str, Any] = {
            "eventNamespace": {"type": event if labels is not None else "STREAM_PROCESSING_COMPLETE"},
            "eventId": str(uuid.uuid4()), "sessionId": session.get("SessionId"),
            "startStreamProcessorSessionId": session.get("SessionId"), "tags": request.get("Tags") or {},
            "rekognitionContext": {"streamProcessorArn": self.arn(request, name), "sessionId": session.get("SessionId"),
                                   "inputInformation": {"kinesisVideo": {
                                       "streamArn": request["Input"]["KinesisVideoStream"]["Arn"]}}}}
        if labels is not None:
            body["labels"] = labels
        else:
            body["streamProcessingResults"] = {"status": event, "message": message}
        self.notices.deliver(channel, body, name=f"{name}-{body['eventId']}")

    def arn(self, request: dict[str, Any], name: str) -> str:
        region = next((r.strip() for r in str(self.settings.regions).split(",") if r.strip()), "us-east-1")
        account = str(request["RoleArn"]).split(":")[4] or "000000000000"
        return f"arn:aws:rekognition:{region}:{account}:streamprocessor/{name}"

    def row(self, name: Any) -> ProcessorRow:
        """The processor, if it exists and the caller's key covers its collection."""
        if not isinstance(name, str) or not NAME.match(name):
            raise InvalidParameterException("Name must be 1-128 letters, digits, '_', '.' or '-'")
        row = self.store.processor(name)
        if row is None:
            raise ResourceNotFoundException(f"no stream processor named {name!r}")
        if row.collection_id is not None and not may_use(current(), row.collection_id):
            raise AccessDeniedException(f"this access key may not use collection {row.collection_id!r}")
        return row

    def _gate(self, rec: AuditRecord, settings: dict[str, Any], caller: Caller) -> None:
        """A face search processor's gates, as its caller (the processor's purpose)."""
        fs = settings.get("FaceSearch")
        if fs is None:
            return
        rec.collection, rec.threshold = fs["CollectionId"], float(fs["FaceMatchThreshold"])
        if not may_use(current(), fs["CollectionId"]):
            raise AccessDeniedException(f"access key {current().access_key_id} may not use collection "
                                        f"{fs['CollectionId']!r}")
        with acting_as(caller):
            self.collections.checked_search(rec, fs["CollectionId"], rec.threshold, None, MATCHES_PER_FACE)

    def _settings(self, value: Any) -> dict[str, Any]:
        if not isinstance(value, dict) or len(value) != 1 or set(value) - {"FaceSearch", "ConnectedHome"}:
            raise InvalidParameterException("Settings needs exactly one of FaceSearch and ConnectedHome")
        if "ConnectedHome" in value:
            return {"ConnectedHome": _connected_home(value["ConnectedHome"], "Settings.ConnectedHome")}
        fs = value["FaceSearch"]
        if not isinstance(fs, dict) or set(fs) - {"CollectionId", "FaceMatchThreshold"}:
            raise InvalidParameterException("Settings.FaceSearch has CollectionId and FaceMatchThreshold")
        return {"FaceSearch": {"CollectionId": params.collection_id(fs.get("CollectionId")),
                               "FaceMatchThreshold": params.threshold("FaceMatchThreshold",
                                                                      fs.get("FaceMatchThreshold"), 80.0)}}

    # --- the operations -------------------------------------------------------------------------
    @audited("CreateStreamProcessor", collection=None)
    def create_stream_processor(self, *, input: dict[str, Any], output: dict[str, Any], name: str,
                                settings: dict[str, Any], role_arn: str, tags: dict[str, str] | None = None,
                                notification_channel: dict[str, Any] | None = None, kms_key_id: str | None = None,
                                regions_of_interest: list[dict[str, Any]] | None = None,
                                data_sharing_preference: dict[str, Any] | None = None) -> dict[str, Any]:
        rec = current_record()
        if not isinstance(name, str) or not NAME.match(name):
            raise InvalidParameterException("Name must be 1-128 letters, digits, '_', '.' or '-'")
        rec.results = [{"StreamProcessor": name}]
        if not isinstance(input, dict) or set(input) != {"KinesisVideoStream"} or not isinstance(
                input["KinesisVideoStream"], dict):
            raise InvalidParameterException("Input needs KinesisVideoStream {Arn}")
        self.sources.resolve(input["KinesisVideoStream"].get("Arn"))
        self.sinks.check(output)
        if output.get("S3Destination") and not (self.s3_root / output["S3Destination"]["Bucket"]).is_dir():
            raise InvalidParameterException(f"Output.S3Destination.Bucket {output['S3Destination']['Bucket']!r} does "
                                            "not exist (a bucket is a folder under the setting s3_root)")
        self.sinks.writer(output, name, "session", self.s3_root)  # a KeyPrefix that leaves its bucket is refused
        chosen = self._settings(settings)
        if not isinstance(role_arn, str) or not ROLE.match(role_arn):
            raise InvalidParameterException(f"RoleArn {role_arn!r} is not an IAM role ARN")
        if notification_channel is not None:
            if not isinstance(notification_channel, dict) or set(notification_channel) != {"SNSTopicArn"}:
                raise InvalidParameterException("NotificationChannel needs SNSTopicArn (and nothing else)")
            self.notices.check_topic(notification_channel["SNSTopicArn"])
        if tags is not None and (not isinstance(tags, dict) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in tags.items())):
            raise InvalidParameterException("Tags must map names to values (strings)")
        if tags is not None and LATENCY_TAG in tags:
            params.number(f"tag {LATENCY_TAG}", _number(tags[LATENCY_TAG]), 0, 3_600_000)
        if data_sharing_preference is not None and (not isinstance(data_sharing_preference, dict) or not isinstance(
                data_sharing_preference.get("OptIn"), bool)):
            raise InvalidParameterException("DataSharingPreference needs OptIn (true or false)")
        request = {k: v for k, v in {
            "Input": input, "Output": output, "Settings": chosen, "RoleArn": role_arn, "Tags": tags,
            "NotificationChannel": notification_channel, "KmsKeyId": kms_key_id,
            "RegionsOfInterest": _regions(regions_of_interest, "RegionsOfInterest"),
            "DataSharingPreference": data_sharing_preference}.items() if v is not None}
        caller = current()
        self._gate(rec, chosen, caller)
        now = self.store.clock()
        arn = self.arn(request, name)
        self.store.create_processor(ProcessorRow(
            name=name, arn=arn, status="STOPPED", request=json.dumps(request),
            collection_id=chosen.get("FaceSearch", {}).get("CollectionId"), caller=caller.to_json(), created=now,
            updated=now), max_processors=int(self.settings.stream_max_processors), audit=self.audit.hook(rec))
        return {"StreamProcessorArn": arn}

    @audited("StartStreamProcessor", collection=None)
    def start_stream_processor(self, *, name: str, start_selector: dict[str, Any] | None = None,
                               stop_selector: dict[str, Any] | None = None) -> dict[str, Any]:
        rec = current_record()
        row = self.row(name)
        rec.results = [{"StreamProcessor": name}]
        if row.status not in ("STOPPED", "FAILED"):
            raise ResourceInUseException(f"stream processor {name!r} is {row.status}; stop it first")
        for member, selector in (("StartSelector", start_selector), ("StopSelector", stop_selector)):
            if selector is not None and not isinstance(selector, dict):
                raise InvalidParameterException(f"{member} must be an object")
        if stop_selector is not None:
            params.int_range("StopSelector.MaxDurationInSeconds", stop_selector.get("MaxDurationInSeconds"),
                             1, 120, 120)
        request = self.request_of(row)
        self._gate(rec, request["Settings"], Caller.from_json(row.caller))
        session = {"SessionId": str(uuid.uuid4()), "StartSelector": start_selector, "StopSelector": stop_selector}
        rec.results.append({"SessionId": session["SessionId"]})
        if not self.store.update_processor(name, {"status": "STARTING", "status_message": None,
                                                  "session": json.dumps(session), "stats": None, "owner": None},
                                           expected={"status": row.status, "owner": row.owner},
                                           audit=self.audit.hook(rec)):
            raise ResourceInUseException(f"stream processor {name!r} changed meanwhile; describe it and retry")
        self.runner.wake()
        return {"SessionId": session["SessionId"]}

    @audited("StopStreamProcessor", collection=None)
    def stop_stream_processor(self, *, name: str) -> dict[str, Any]:
        rec = current_record()
        row = self.row(name)
        rec.collection, rec.results = row.collection_id, [{"StreamProcessor": name}]
        if row.status not in ACTIVE:
            raise ResourceInUseException(f"stream processor {name!r} is {row.status}, not running")
        nobody = claimable(row.owner, row.updated, me="", now=self.store.clock(), lease=self.runner.lease)
        status = "STOPPED" if nobody else "STOPPING"  # nobody runs it (any more): stopped at once
        if not self.store.update_processor(name, {"status": status, "status_message": None},
                                           expected={"status": row.status, "owner": row.owner},
                                           audit=self.audit.hook(rec)):
            raise ResourceInUseException(f"stream processor {name!r} changed meanwhile; describe it and retry")
        self.runner.wake()
        return {}

    def describe_stream_processor(self, *, name: str) -> dict[str, Any]:
        return self.describe(self.row(name))

    def describe(self, row: ProcessorRow) -> dict[str, Any]:
        request = self.request_of(row)
        out: dict[str, Any] = {"Name": row.name, "StreamProcessorArn": row.arn, "Status": row.status}
        if row.status_message:
            out["StatusMessage"] = row.status_message
        out.update({"CreationTimestamp": row.created, "LastUpdateTimestamp": row.updated})
        out.update({k: request[k] for k in ("Input", "Output", "RoleArn", "Settings", "NotificationChannel",
                                            "KmsKeyId", "RegionsOfInterest", "DataSharingPreference")
                    if k in request})
        caller = Caller.from_json(row.caller)
        out["ClearSightStreamProcessor"] = {
            **(json.loads(row.stats) if row.stats else {}), "SessionId": self.session_of(row).get("SessionId"),
            "Purpose": caller.purpose, "CreatedBy": caller.access_key_id,
            "LatencyBudgetMillis": self.budget_ms(request), "SampleMillis": int(self.settings.stream_sample_ms),
            "DataSharing": DATA_SHARING}
        return out

    def list_stream_processors(self, *, next_token: str | None = None, max_results: int | None = None
                               ) -> dict[str, Any]:
        limit = params.int_range("MaxResults", max_results, 1, 1_000_000, 1000)
        caller = current()

        def visible(after: str, n: int) -> list[ProcessorRow]:
            rows: list[ProcessorRow] = []
            while len(rows) < n:
                batch = self.store.processors(after=after, limit=1000)
                if not batch:
                    break
                rows += [r for r in batch if r.collection_id is None or may_use(caller, r.collection_id)]
                after = batch[-1].name
            return rows[:n]

        rows, token = self.paginator.page("stream-processors", next_token, min(limit, 1000), visible,
                                          lambda r: r.name)
        out: dict[str, Any] = {"StreamProcessors": [{"Name": r.name, "Status": r.status} for r in rows]}
        if token is not None:
            out["NextToken"] = token
        return out

    @audited("UpdateStreamProcessor", collection=None)
    def update_stream_processor(self, *, name: str, settings_for_update: dict[str, Any] | None = None,
                                regions_of_interest_for_update: list[dict[str, Any]] | None = None,
                                data_sharing_preference_for_update: dict[str, Any] | None = None,
                                parameters_to_delete: list[str] | None = None) -> dict[str, Any]:
        rec = current_record()
        row = self.row(name)
        rec.collection, rec.results = row.collection_id, [{"StreamProcessor": name}]
        if row.status in ("STARTING", "STOPPING", "UPDATING"):
            raise ResourceInUseException(f"stream processor {name!r} is {row.status}; retry when it is not")
        request = self.request_of(row)
        changed = []
        if settings_for_update is not None:
            if not isinstance(settings_for_update, dict) or set(settings_for_update) != {"ConnectedHomeForUpdate"}:
                raise InvalidParameterException("SettingsForUpdate has ConnectedHomeForUpdate")
            if "ConnectedHome" not in request["Settings"]:
                raise InvalidParameterException(f"stream processor {name!r} searches faces: its FaceSearch settings "
                                                "cannot be updated (delete it and create another)")
            update = settings_for_update["ConnectedHomeForUpdate"]
            merged = {**request["Settings"]["ConnectedHome"], **(update if isinstance(update, dict) else {})}
            request["Settings"] = {"ConnectedHome": _connected_home(merged, "SettingsForUpdate.ConnectedHomeForUpdate")}
            changed.append("Settings")
        if regions_of_interest_for_update is not None:
            request["RegionsOfInterest"] = _regions(regions_of_interest_for_update, "RegionsOfInterestForUpdate")
            changed.append("RegionsOfInterest")
        if data_sharing_preference_for_update is not None:
            if not isinstance(data_sharing_preference_for_update, dict) or not isinstance(
                    data_sharing_preference_for_update.get("OptIn"), bool):
                raise InvalidParameterException("DataSharingPreferenceForUpdate needs OptIn (true or false)")
            request["DataSharingPreference"] = data_sharing_preference_for_update
            changed.append("DataSharingPreference")
        if parameters_to_delete is not None and not isinstance(parameters_to_delete, list):
            raise InvalidParameterException("ParametersToDelete must be a list")
        for p in parameters_to_delete or []:
            if p == "RegionsOfInterest":
                request.pop("RegionsOfInterest", None)
            elif p == "ConnectedHomeMinConfidence" and "ConnectedHome" in request["Settings"]:
                request["Settings"]["ConnectedHome"].pop("MinConfidence", None)
            elif p != "ConnectedHomeMinConfidence":
                raise InvalidParameterException("ParametersToDelete may name ConnectedHomeMinConfidence and "
                                                "RegionsOfInterest")
            changed.append(f"-{p}")
        rec.detail = f"changed: {', '.join(changed) or 'nothing'}"
        status = "UPDATING" if row.status == "RUNNING" else row.status
        if not self.store.update_processor(name, {"request": json.dumps(request), "status": status},
                                           expected={"status": row.status, "request": row.request},
                                           audit=self.audit.hook(rec)):
            raise ResourceInUseException(f"stream processor {name!r} changed meanwhile; describe it and retry")
        self.runner.wake()
        return {}

    @audited("DeleteStreamProcessor", collection=None)
    def delete_stream_processor(self, *, name: str) -> dict[str, Any]:
        rec = current_record()
        row = self.row(name)
        rec.collection, rec.results = row.collection_id, [{"StreamProcessor": name}]
        if row.status not in ("STOPPED", "FAILED"):
            raise ResourceInUseException(f"stream processor {name!r} is {row.status}; stop it first")
        if not self.store.delete_processor(name, expected={"status": row.status}, audit=self.audit.hook(rec)):
            raise ResourceInUseException(f"stream processor {name!r} changed meanwhile; describe it and retry")
        return {}


def _number(raw: Any) -> float | None:
    try:
        return float(raw)
    except (TypeError, ValueError):
        return None
