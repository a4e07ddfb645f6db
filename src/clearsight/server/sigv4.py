"""AWS Signature Version 4 verification for the JSON protocol (header-signed requests).

The server recomputes the signature from the request and the caller's secret and compares in
constant time. Errors carry the codes AWS itself returns, so botocore raises the same
``ClientError`` codes: MissingAuthenticationTokenException, UnrecognizedClientException,
InvalidSignatureException (bad signature or a clock more than 5 minutes off).

What AWS refuses, this refuses too: a header the signature covers that was sent twice is
joined into the canonical request the way AWS joins it (``a,b``), so a prepended duplicate
breaks the signature; ``X-Amz-Target`` must be signed and sent once; the payload must be
signed (no ``UNSIGNED-PAYLOAD``); the credential scope must name the service ``rekognition``
and one of the configured regions; session tokens are refused (ClearSight issues none).

Replays of a captured request inside the 5-minute window are accepted, as on AWS, unless the
opt-in :class:`ReplayCache` is on (setting ``replay_cache``): it remembers the signatures of
non-idempotent requests for the whole window and refuses a second use.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Collection, Iterable, Mapping
from urllib.parse import quote

from ..errors import (
    InvalidSignatureException,
    MissingAuthenticationTokenException,
    ThrottlingException,
    UnrecognizedClientException,
)

MAX_SKEW = dt.timedelta(minutes=5)
SERVICE = "rekognition"
# headers that must be covered by the signature: they choose what the request does
MUST_SIGN = ("host", "x-amz-date", "x-amz-target")
_AUTH = re.compile(
    r"AWS4-HMAC-SHA256\s+Credential=(?P<cred>[^,\s]+),\s*SignedHeaders=(?P<signed>[^,\s]+),\s*Signature=(?P<sig>[0-9a-f]{64})"
)


def _hmac(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


def signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    k = _hmac(("AWS4" + secret).encode(), date)
    k = _hmac(k, region)
    k = _hmac(k, service)
    return _hmac(k, "aws4_request")


def header_map(raw: Iterable[tuple[str, str]]) -> tuple[dict[str, str], set[str]]:
    """Lower-cased header names -> values, repeated headers joined with "," as AWS's canonical
    request joins them; and the set of names that were repeated."""
    out: dict[str, str] = {}
    repeated: set[str] = set()
    for name, value in raw:
        key = name.lower()
        if key in out:
            repeated.add(key)
            out[key] = out[key] + "," + value.strip()
        else:
            out[key] = value.strip()
    return out, repeated


def canonical_request(method: str, path: str, query: str, headers: Mapping[str, str], signed: list[str],
                      payload_hash: str) -> str:
    canon_headers = "".join(f"{h}:{' '.join(headers.get(h, '').strip().split())}\n" for h in signed)
    pairs = sorted(p.split("=", 1) if "=" in p else [p, ""] for p in query.split("&") if p)
    canon_query = "&".join(f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}" for k, v in pairs)
    return "\n".join([method, quote(path or "/", safe="/-_.~"), canon_query, canon_headers, ";".join(signed),
                      payload_hash])


def verify(method: str, path: str, query: str, headers: Mapping[str, str], body: bytes,
           secret_for: Callable[[str], str | None], now: dt.datetime | None = None, *,
           regions: Collection[str] = ("us-east-1",), repeated: Collection[str] = ()) -> str:
    """Check the request's signature; return the caller's access key id.

    ``headers`` maps lower-cased names to values with repeated headers already joined (see
    :func:`header_map`); ``repeated`` names the headers that were sent more than once."""
    auth = headers.get("authorization")
    if not auth:
        raise MissingAuthenticationTokenException("Missing Authentication Token: sign requests with SigV4")
    if "authorization" in repeated:
        raise InvalidSignatureException("the Authorization header was sent more than once")
    m = _AUTH.fullmatch(auth.strip())
    if not m:
        raise InvalidSignatureException("the Authorization header is not an AWS4-HMAC-SHA256 signature")
    try:
        key_id, date, region, service, terminator = m["cred"].split("/")
    except ValueError as exc:
        raise InvalidSignatureException("the credential scope is malformed") from exc
    if terminator != "aws4_request":
        raise InvalidSignatureException("the credential scope must end in aws4_request")
    if service != SERVICE:
        raise InvalidSignatureException(f"Credential should be scoped to correct service: '{SERVICE}'. ")
    if region not in regions:
        raise InvalidSignatureException(
            f"Credential should be scoped to a valid region. This server accepts {', '.join(sorted(regions))} "
            "(set the client's region, e.g. AWS_DEFAULT_REGION, or the server's CLEARSIGHT_REGIONS)")
    if not re.fullmatch(r"\d{8}", date):
        raise InvalidSignatureException("the credential scope's date must be YYYYMMDD")
    if "x-amz-security-token" in headers:
        # ClearSight issues long-term keys only: a session token cannot be verified, so it is refused
        raise UnrecognizedClientException("The security token included in the request is invalid.")
    secret = secret_for(key_id)
    if secret is None:
        raise UnrecognizedClientException("The security token included in the request is invalid.")
    amz_date = headers.get("x-amz-date", "")
    try:
        when = dt.datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=dt.UTC)
    except ValueError as exc:
        raise InvalidSignatureException("X-Amz-Date is missing or malformed") from exc
    now = now or dt.datetime.now(dt.UTC)
    if abs(now - when) > MAX_SKEW:
        raise InvalidSignatureException(
            f"Signature expired: {amz_date} is now earlier than {(now - MAX_SKEW):%Y%m%dT%H%M%SZ} "
            f"or later than {(now + MAX_SKEW):%Y%m%dT%H%M%SZ} (check the client's clock)")
    if not amz_date.startswith(date):
        raise InvalidSignatureException("the credential date does not match X-Amz-Date")
    signed = m["signed"].split(";")
    if signed != sorted(set(signed)):
        raise InvalidSignatureException("SignedHeaders must be lower-case, sorted and without repeats")
    missing = [h for h in MUST_SIGN if h not in signed]
    if missing:
        raise InvalidSignatureException(f"the signature must cover the {', '.join(missing)} header(s)")
    absent = [h for h in signed if h not in headers]
    if absent:
        raise InvalidSignatureException(f"signed header(s) {', '.join(absent)} are missing from the request")
    if "x-amz-target" in repeated:
        raise InvalidSignatureException("X-Amz-Target was sent more than once")
    body_hash = hashlib.sha256(body).hexdigest()
    payload_hash = headers.get("x-amz-content-sha256", body_hash)
    if payload_hash == "UNSIGNED-PAYLOAD":
        raise InvalidSignatureException("Rekognition requires a signed payload; UNSIGNED-PAYLOAD is not accepted")
    if payload_hash != body_hash:
        raise InvalidSignatureException("the payload hash does not match the body")
    creq = canonical_request(method, path, query, headers, signed, payload_hash)
    scope = f"{date}/{region}/{service}/aws4_request"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(creq.encode()).hexdigest()])
    expected = hmac.new(signing_key(secret, date, region, service), to_sign.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, m["sig"]):
        raise InvalidSignatureException(
            "The request signature we calculated does not match the signature you provided. "
            "Check your AWS Secret Access Key and signing method.")
    return key_id


def signature_of(headers: Mapping[str, str]) -> str:
    """The hex signature of a request (already verified), the replay cache's key."""
    m = _AUTH.fullmatch(headers.get("authorization", "").strip())
    return m["sig"] if m else ""


class ReplayCache:
    """Signatures of non-idempotent requests seen in the last ``2 * MAX_SKEW`` (a request signed
    at ``t`` is accepted from ``t - MAX_SKEW`` to ``t + MAX_SKEW``), bounded in size: when full,
    new non-idempotent requests are shed with ThrottlingException rather than forgetting an entry
    early, which would reopen the window."""

    def __init__(self, *, max_entries: int = 200_000) -> None:
        self._seen: OrderedDict[str, dt.datetime] = OrderedDict()
        self._lock = threading.Lock()
        self.max_entries = max_entries

    def check(self, signature: str, now: dt.datetime | None = None) -> None:
        """Remember ``signature``; raise InvalidSignatureException if it was used before."""
        now = now or dt.datetime.now(dt.UTC)
        with self._lock:
            while self._seen:
                oldest, at = next(iter(self._seen.items()))
                if now - at <= 2 * MAX_SKEW:
                    break
                del self._seen[oldest]
            if signature in self._seen:
                raise InvalidSignatureException(
                    "this signed request was already received (the server's replay cache is on): "
                    "sign every request anew")
            if len(self._seen) >= self.max_entries:
                raise ThrottlingException("too many signed requests in the last 10 minutes; retry later")
            self._seen[signature] = now
