"""AWS Signature Version 4 verification for the JSON protocol (header-signed requests).

The server recomputes the signature from the request and the caller's secret and compares in
constant time. Errors carry the codes AWS itself returns, so botocore raises the same
``ClientError`` codes: MissingAuthenticationTokenException, UnrecognizedClientException,
InvalidSignatureException (bad signature or a clock more than 5 minutes off).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
from collections.abc import Callable, Mapping
from urllib.parse import quote

from ..errors import InvalidSignatureException, MissingAuthenticationTokenException, UnrecognizedClientException

MAX_SKEW = dt.timedelta(minutes=5)
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


def canonical_request(method: str, path: str, query: str, headers: Mapping[str, str], signed: list[str],
                      payload_hash: str) -> str:
    canon_headers = "".join(f"{h}:{' '.join(headers.get(h, '').strip().split())}\n" for h in signed)
    pairs = sorted(p.split("=", 1) if "=" in p else [p, ""] for p in query.split("&") if p)
    canon_query = "&".join(f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}" for k, v in pairs)
    return "\n".join([method, quote(path or "/", safe="/-_.~"), canon_query, canon_headers, ";".join(signed),
                      payload_hash])


def verify(method: str, path: str, query: str, headers: Mapping[str, str], body: bytes,
           secret_for: Callable[[str], str | None], now: dt.datetime | None = None) -> str:
    """Check the request's signature; return the caller's access key id."""
    auth = headers.get("authorization")
    if not auth:
        raise MissingAuthenticationTokenException("Missing Authentication Token: sign requests with SigV4")
    m = _AUTH.match(auth)
    if not m:
        raise InvalidSignatureException("the Authorization header is not an AWS4-HMAC-SHA256 signature")
    try:
        key_id, date, region, service, terminator = m["cred"].split("/")
    except ValueError as exc:
        raise InvalidSignatureException("the credential scope is malformed") from exc
    if terminator != "aws4_request":
        raise InvalidSignatureException("the credential scope must end in aws4_request")
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
    if "host" not in signed:
        raise InvalidSignatureException("the signature must cover the Host header")
    payload_hash = headers.get("x-amz-content-sha256") or hashlib.sha256(body).hexdigest()
    if payload_hash != hashlib.sha256(body).hexdigest() and payload_hash != "UNSIGNED-PAYLOAD":
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
