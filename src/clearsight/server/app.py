"""The ASGI application: one POST route speaking AWS JSON 1.1, a health check, an access log.

Inference and image decoding run in a thread pool sized to the cores (the event loop only does
I/O); each request has a time limit; every error is an AWS JSON error body with the status
botocore expects, never a bare 500 page.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ..engine import Engine
from ..errors import ClearSightError, ImageTooLargeException, InvalidParameterException
from . import sigv4
from .keys import KeyStore
from .operations import Operations
from .protocol import TARGET_PREFIX, Validator

access_log = logging.getLogger("clearsight.access")
error_log = logging.getLogger("clearsight.server")
JSON_11 = "application/x-amz-json-1.1"


class ThrottlingException(ClearSightError):
    code = "ThrottlingException"
    http_status = 400


class UnknownOperationException(ClearSightError):
    code = "UnknownOperationException"
    http_status = 400


def _error(exc: ClearSightError, request_id: str) -> Response:
    return Response(json.dumps(exc.to_dict()), status_code=exc.http_status, media_type=JSON_11,
                    headers={"x-amzn-RequestId": request_id, "x-amzn-ErrorType": exc.code})


class Service:
    """Everything a request needs: the engine, the operation table, keys and limits."""

    def __init__(self, engine: Engine, *, auth: bool = True, workers: int | None = None) -> None:
        self.engine = engine
        self.auth = auth
        s = engine.settings
        data_dir = Path(s.data_dir)
        self.keys = KeyStore(data_dir)
        self.operations = Operations(engine, s3_root=Path(s.s3_root) if s.s3_root else data_dir / "s3")
        self.validator = Validator()
        self.pool = ThreadPoolExecutor(max_workers=workers or s.cpu_threads, thread_name_prefix="inference")
        self.max_body = int(s.max_request_bytes)
        self.timeout = float(s.request_timeout)

    async def handle(self, request: Request) -> Response:
        request_id = str(uuid.uuid4())
        started = time.perf_counter()
        key_id = operation = "-"
        status = 500
        try:
            length = int(request.headers.get("content-length") or 0)
            if length > self.max_body:
                raise ImageTooLargeException(f"the request is {length} bytes; the limit is {self.max_body}")
            body = await self._read(request)
            if self.auth:
                key_id = sigv4.verify(request.method, request.url.path, request.url.query,
                                      {k.lower(): v for k, v in request.headers.items()}, body, self.keys.secret)
            target = request.headers.get("x-amz-target", "")
            if not target.startswith(TARGET_PREFIX):
                raise UnknownOperationException(f"X-Amz-Target must be {TARGET_PREFIX}<Operation>, got {target!r}")
            operation = target[len(TARGET_PREFIX):]
            try:
                payload = json.loads(body or b"{}")
            except ValueError as exc:
                raise InvalidParameterException(f"the request body is not JSON: {exc}") from exc
            if operation not in self.operations.table:
                self.operations.handler(operation, {})  # raises the right "not implemented" error
            params = self.validator.request(operation, payload)
            call = self.operations.handler(operation, params)
            loop = asyncio.get_running_loop()
            try:
                result = await asyncio.wait_for(loop.run_in_executor(self.pool, call), self.timeout)
            except TimeoutError as exc:
                raise ThrottlingException(f"{operation} did not finish within {self.timeout:g} s; retry later") from exc
            status = 200
            return Response(json.dumps(result), media_type=JSON_11, headers={"x-amzn-RequestId": request_id})
        except ClearSightError as exc:
            status = exc.http_status
            return _error(exc, request_id)
        except Exception as exc:  # the one place unexpected failures become an AWS error
            error_log.exception("request %s (%s) failed", request_id, operation)
            status = 500
            return _error(ClearSightError(f"internal error (request id {request_id}): {type(exc).__name__}"),
                          request_id)
        finally:
            access_log.info(json.dumps({
                "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "request_id": request_id,
                "operation": operation, "access_key_id": key_id, "status": status,
                "ms": round(1000 * (time.perf_counter() - started), 1),
                "client": request.client.host if request.client else None,
                "bytes_in": int(request.headers.get("content-length") or 0)}))

    async def _read(self, request: Request) -> bytes:
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > self.max_body:
                raise ImageTooLargeException(f"the request exceeds {self.max_body} bytes")
            chunks.append(chunk)
        return b"".join(chunks)

    async def health(self, request: Request) -> Response:
        return JSONResponse({"status": "ok", "faceModelVersion": self.engine.model_version,
                             "operations": self.operations.implemented()})

    def close(self) -> None:
        self.pool.shutdown(wait=True)
        self.engine.close()


def create_app(engine: Engine, *, auth: bool = True, workers: int | None = None) -> Starlette:
    service = Service(engine, auth=auth, workers=workers)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        # load the models and open the collections before the first request, not during it
        await asyncio.get_running_loop().run_in_executor(service.pool, _warm, engine)
        yield
        service.close()

    app = Starlette(routes=[Route("/", service.handle, methods=["POST"]),
                            Route("/health", service.health, methods=["GET"])], lifespan=lifespan)
    app.state.service = service
    return app


def _warm(engine: Engine) -> Any:
    f = engine.faces
    return f.detector, f.verifier, f.mobilefacenet, engine.collections, (
        f.resnet if engine.calibration.recipe.weight_resnet > 0 else None)
