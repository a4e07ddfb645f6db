"""Per-collection policies, enforced on every search: a floor under the match threshold, a
required purpose, a cap on results, a retention period for enrolled faces, and whether images
may be stored. Policies are set at CreateCollection through tags (``clearsight:min-threshold``
...) or by an admin with ``clearsight collection policy``; every change is audited.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from typing import Any

from .. import params
from ..errors import AccessDeniedException, InvalidParameterException

TAG_PREFIX = "clearsight:"


class PolicyRefusal(AccessDeniedException):
    """A request the collection's policy does not allow (audited as refused)."""


@dataclass(frozen=True)
class CollectionPolicy:
    min_threshold: float = 0.0  # floor under FaceMatchThreshold / UserMatchThreshold
    require_purpose: bool = False
    max_results: int = 4096
    retention_days: float = 0.0  # 0: keep until deleted
    store_images: bool = False

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str | None) -> CollectionPolicy:
        return cls(**json.loads(text)) if text else cls()

    def with_changes(self, **changes: Any) -> CollectionPolicy:
        values = asdict(self)
        for k, v in changes.items():
            if v is not None:
                values[k] = v
        return validate(CollectionPolicy(**values))

    @classmethod
    def from_tags(cls, tags: dict[str, str] | None) -> CollectionPolicy:
        names = {f.name.replace("_", "-"): f for f in fields(cls)}
        values: dict[str, Any] = {}
        for key, raw in (tags or {}).items():
            if not key.startswith(TAG_PREFIX):
                continue
            name = key[len(TAG_PREFIX):]
            if name not in names:
                raise InvalidParameterException(
                    f"unknown policy tag {key}; use {', '.join(TAG_PREFIX + n for n in sorted(names))}")
            f = names[name]
            try:
                values[f.name] = params.boolean(f"policy tag {key}", raw) if f.type in (bool, "bool") \
                    else (int(raw) if f.type in (int, "int") else float(raw))
            except ValueError as exc:
                raise InvalidParameterException(f"policy tag {key}={raw!r} is not a valid value") from exc
        return validate(cls(**values))


def validate(p: CollectionPolicy) -> CollectionPolicy:
    if not 0 <= p.min_threshold <= 100:
        raise InvalidParameterException("min-threshold must be from 0 to 100")
    if not 1 <= p.max_results <= 4096:
        raise InvalidParameterException("max-results must be from 1 to 4096")
    if p.retention_days < 0:
        raise InvalidParameterException("retention-days must be 0 (keep) or more")
    return p


def enforce(policy: CollectionPolicy, *, collection: str, threshold: float, max_results: int,
            purpose: str | None) -> None:
    """Refuse (never silently adjust) a search the policy does not allow."""
    if threshold < policy.min_threshold:
        raise PolicyRefusal(
            f"refused by the policy of collection {collection!r}: threshold {threshold:g} is below its floor "
            f"{policy.min_threshold:g}; ask again with a threshold of at least {policy.min_threshold:g}")
    if policy.require_purpose and not purpose:
        raise PolicyRefusal(
            f"refused by the policy of collection {collection!r}: searches must state a purpose "
            "(HTTP header X-ClearSight-Purpose, or a key created with --purpose)")
    if max_results > policy.max_results:
        raise PolicyRefusal(
            f"refused by the policy of collection {collection!r}: at most {policy.max_results} results per "
            f"search, {max_results} were asked for")
