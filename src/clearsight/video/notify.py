"""NotificationChannel without SNS: a job's completion delivered to sinks configured per topic ARN.

Setting ``video_notification_sinks``: ``ARN=SINK[|SINK...]`` entries separated by ``;``. A sink is an
``http://`` or ``https://`` URL (POSTed Rekognition's notification JSON, the SNS message body
Rekognition publishes) or a folder (one ``<JobId>.json`` file per completion, written atomically).
A Start* naming a topic with no sink is refused, naming the setting: never silently dropped. A
sink that fails is logged; the job's result does not depend on it (poll Get*).
"""

from __future__ import annotations

import json
import logging
import os
import re
import tempfile
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import InvalidParameterException

__all__ = ["Sinks", "parse_map", "post_json"]

log = logging.getLogger("clearsight.video")
TOPIC = re.compile(r"^arn:aws:sns:[^:]*:\w{12}:.+$")  # botocore's SNSTopicArn pattern
ROLE = re.compile(r"^arn:aws:iam::\d{12}:role/?[a-zA-Z_0-9+=,.@\-_/]+$")  # and RoleArn's
SETTING = "video_notification_sinks (CLEARSIGHT_VIDEO_NOTIFICATION_SINKS)"


def parse_map(text: str, pattern: re.Pattern[str], setting: str, what: str) -> dict[str, tuple[str, ...]]:
    """``ARN=TARGET[|TARGET...]`` entries separated by ``;`` (the form of every ARN-keyed setting)."""
    targets: dict[str, tuple[str, ...]] = {}
    for entry in filter(None, (e.strip() for e in text.split(";"))):
        arn, sep, values = entry.partition("=")
        arn = arn.strip()
        if not sep or not pattern.match(arn) or not values.strip():
            raise ValueError(f"{setting}: {entry!r} is not ARN=TARGET[|TARGET...] with {what}")
        targets[arn] = tuple(v.strip() for v in values.split("|") if v.strip())
    return targets


def post_json(url: str, body: bytes, timeout: float = 10.0) -> None:
    """POST a JSON body (OSError or ValueError when it fails)."""
    req = urllib.request.Request(url, data=body, method="POST", headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        resp.read()


@dataclass(frozen=True)
class Sinks:
    targets: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    @classmethod
    def parse(cls, text: str) -> Sinks:
        return cls(parse_map(text, TOPIC, SETTING, "an SNS topic ARN"))

    def check(self, channel: Any) -> None:
        """Refuse a NotificationChannel whose ARNs are malformed or whose topic has no sink."""
        if channel is None:
            return
        if not isinstance(channel, dict) or set(channel) != {"SNSTopicArn", "RoleArn"}:
            raise InvalidParameterException("NotificationChannel needs SNSTopicArn and RoleArn (and nothing else)")
        topic, role = channel["SNSTopicArn"], channel["RoleArn"]
        if not isinstance(topic, str) or not TOPIC.match(topic):
            raise InvalidParameterException(f"NotificationChannel.SNSTopicArn {topic!r} is not an SNS topic ARN")
        if not isinstance(role, str) or not ROLE.match(role):
            raise InvalidParameterException(f"NotificationChannel.RoleArn {role!r} is not an IAM role ARN")
        self.check_topic(topic)

    def check_topic(self, topic: str) -> None:
        """Refuse a topic with no sink (a stream processor's NotificationChannel has no RoleArn)."""
        if topic not in self.targets:
            raise InvalidParameterException(
                f"no notification sink is configured for {topic}: ClearSight does not emulate SNS; list the topic "
                f"in the setting {SETTING} as {topic}=http://host/hook or {topic}=/a/spool/folder, or leave "
                "NotificationChannel out and poll Get*")

    def deliver(self, channel: Any, message: dict[str, Any], *, name: str | None = None) -> None:
        """Send the message to the topic's sinks (a folder gets ``<name or JobId>.json``)."""
        if not isinstance(channel, dict):
            return
        body = json.dumps(message).encode()
        for sink in self.targets.get(str(channel.get("SNSTopicArn")), ()):
            try:
                if sink.startswith(("http://", "https://")):
                    post_json(sink, body)
                else:
                    folder = Path(sink)
                    folder.mkdir(parents=True, exist_ok=True)
                    fd, tmp = tempfile.mkstemp(dir=folder, suffix=".tmp")
                    with os.fdopen(fd, "wb") as fh:
                        fh.write(body)
                    os.replace(tmp, folder / f"{name or message['JobId']}.json")
            except (OSError, ValueError) as exc:
                log.warning("notification of job %s to %s failed: %s", message.get("JobId"), sink, exc)
