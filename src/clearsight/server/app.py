"""The ASGI application: one POST route speaking AWS JSON 1.1, a health check, an access log.

Inference and image decoding run in the engine's executor, sized to the cores (the event loop only does
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
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from .. import operations
from ..engine import Engine
from ..errors import (
    ClearSightError,
    ImageTooLargeException,
    InvalidParameterException,
    ThrottlingException,
    UnknownOperationException,
)
from ..policy.context import Caller
from . import protocol, sigv4
from .keys import KeyStore
from .limits import BodyBudget, Ticket
from .protocol import TARGET_PREFIX, Validator

access_log = logging.getLogger("clearsight.access")
error_log = logging.getLogger("clearsight.server")
JSON_11 = "application/x-amz-json-1.1"
PURPOSE_HEADER = "x-clearsight-purpose"


def _error(exc: ClearSightError, request_id: str) -> Response:
    return Response(json.dumps(exc.to_dict()), status_code=exc.http_status, media_type=JSON_11,
                    headers={"x-amzn-RequestId": request_id, "x-amzn-ErrorType": exc.code})


class Service:
    """Everything a request needs: the engine, the operation table, keys and limits."""

    def __init__(self, engine: Engine, *, auth: bool = True) -> None:
        self.engine = engine
        self.auth = auth
        s = engine.settings
        data_dir = Path(s.data_dir)
        self.keys = KeyStore(data_dir, storage_url=s.storage_url)
        self.validator = Validator()
        self.pool = engine.executor  # the engine's one executor
        self.max_body = int(s.max_request_bytes)
        self.timeout = float(s.request_timeout)
        self.regions = frozenset(r.strip() for r in str(s.regions).split(",") if r.strip())
        self.replays = sigv4.ReplayCache() if s.replay_cache else None
        self.budget = BodyBudget(int(s.max_inflight_bytes))
        self.body_timeout = float(s.idle_timeout)

    async def handle(self, request: Request) -> Response:
        request_id = str(uuid.uuid4())
        started = time.perf_counter()
        key_id = operation = "-"
        status = 500
        ticket = self.budget.ticket()
        try:
            length = int(request.headers.get("content-length") or 0)
            if length > self.max_body:
                raise ImageTooLargeException(f"the request is {length} bytes; the limit is {self.max_body}")
            ticket.grow(length)  # refused before the body is read when the server holds too much already
            body = await self._read(request, ticket)
            headers, repeated = sigv4.header_map(
                (k.decode("latin-1"), v.decode("latin-1")) for k, v in request.headers.raw)
            caller = Caller(access_key_id="anonymous", request_id=request_id, purpose=headers.get(PURPOSE_HEADER))
            if self.auth:
                key_id = sigv4.verify(request.method, request.url.path, request.url.query, headers, body,
                                      self.keys.secret, regions=self.regions, repeated=repeated)
                key = self.keys.get(key_id)
                assert key is not None
                caller = Caller(access_key_id=key_id, request_id=request_id, scopes=key.scopes,
                                collections=key.collections, purpose=headers.get(PURPOSE_HEADER) or key.purpose)
            key_id = caller.access_key_id
            target = headers.get("x-amz-target", "")
            if "x-amz-target" in repeated:
                raise UnknownOperationException("X-Amz-Target was sent more than once")
            if not target.startswith(TARGET_PREFIX):
                raise UnknownOperationException(f"X-Amz-Target must be {TARGET_PREFIX}<Operation>, got {target!r}")
            operation = target[len(TARGET_PREFIX):]
            payload = protocol.parse_body(body)
            op = operations.lookup(operation)  # an unserved operation is refused, saying why
            params = self.validator.request(operation, payload)
            if self.replays is not None and self.auth and not op.idempotent:
                self.replays.check(sigv4.signature_of(headers))
            call = operations.prepare(self.engine, caller, operation, params)
            del body, payload
            result = await self._run(operation, call, idempotent=op.idempotent)
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
            ticket.release()
            access_log.info(json.dumps({
                "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "request_id": request_id,
                "operation": operation, "access_key_id": key_id, "status": status,
                "ms": round(1000 * (time.perf_counter() - started), 1),
                "client": request.client.host if request.client else None,
                "bytes_in": int(request.headers.get("content-length") or 0)}))

    async def _run(self, operation: str, call: Callable[[], dict[str, Any]], *, idempotent: bool) -> dict[str, Any]:
        """Run the call in the pool within the request's time limit.

        A call still waiting for a worker when time runs out is cancelled and answered
        ThrottlingException (nothing ran: retrying is safe). A running idempotent call is answered
        ThrottlingException too (the worker finishes and its answer is dropped). A running call that
        writes (IndexFaces, deletions...) is never answered "retry": it may still commit, so the
        answer waits for it, whatever the limit."""
        future = self.pool.submit(call)
        try:
            return await asyncio.wait_for(asyncio.shield(asyncio.wrap_future(future)), self.timeout)
        except TimeoutError as exc:
            if future.cancel():
                raise ThrottlingException(
                    f"{operation} waited {self.timeout:g} s for a free worker and did not start; retry later") from exc
            if idempotent:
                raise ThrottlingException(f"{operation} did not finish within {self.timeout:g} s; retry later") from exc
            error_log.warning("%s is past the %g s limit; waiting for it to commit or fail", operation, self.timeout)
            return await asyncio.wrap_future(future)

    async def _read(self, request: Request, ticket: Ticket) -> bytes:
        """The body, within the size limit, the in-flight budget and the idle timeout."""
        chunks: list[bytes] = []
        size = 0
        declared = int(request.headers.get("content-length") or 0)

        async def read() -> None:
            nonlocal size
            async for chunk in request.stream():
                size += len(chunk)
                if size > self.max_body:
                    raise ImageTooLargeException(f"the request exceeds {self.max_body} bytes")
                if size > declared:  # a body without (or beyond) Content-Length is budgeted as it arrives
                    ticket.grow(len(chunk))
                chunks.append(chunk)

        try:
            await asyncio.wait_for(read(), self.body_timeout)
        except TimeoutError as exc:
            raise InvalidParameterException(
                f"the request body did not arrive within {self.body_timeout:g} s") from exc
        return b"".join(chunks)

    async def health(self, request: Request) -> Response:
        return JSONResponse({"status": "ok", "faceModelVersion": self.engine.model_version,
                             "operations": sorted(operations.OPERATIONS)})

    def close(self) -> None:
        self.engine.close()  # finishes the executor's work, snapshots the indexes


def create_app(engine: Engine, *, auth: bool = True, console: bool | None = None) -> Starlette:
    """The ASGI app; ``console`` (default: the ``console`` setting) mounts the web console at /console/."""
    service = Service(engine, auth=auth)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        loop = asyncio.get_running_loop()
        # load the models and open the collections before the first request, not during it
        await loop.run_in_executor(service.pool, _warm, engine)
        await loop.run_in_executor(service.pool, _maintain, engine)  # retention purge at startup
        task = asyncio.create_task(_maintenance_loop(service))
        engine.video.runner.start()  # stored-video jobs, those left by a previous process first
        engine.streams.runner.start()  # stream processors, resuming those left RUNNING by a previous process
        yield
        task.cancel()
        service.close()

    async def not_an_operation(request: Request, exc: Exception) -> Response:
        """Other paths and methods (Starlette's 404/405) answer an AWS JSON error too."""
        return _error(UnknownOperationException(
            f"{request.method} {request.url.path}: Rekognition's API is POST / with X-Amz-Target"), str(uuid.uuid4()))

    routes: list[BaseRoute] = [Route("/", service.handle, methods=["POST"]),
                               Route("/health", service.health, methods=["GET"])]
    if engine.settings.console if console is None else console:
        from .console import console_routes

        routes += console_routes(service)
    app = Starlette(routes=routes, lifespan=lifespan,
                    exception_handlers={404: not_an_operation, 405: not_an_operation})
    app.state.service = service
    return app


def _maintain(engine: Engine) -> None:
    """Purge faces past their retention period and video job results past theirs, finish any pending
    erasure (audited) and refresh the signed audit checkpoint."""
    c = engine.collections
    c.purge_expired()
    engine.video.purge_expired()  # job results past video_result_days (or their collection's retention)
    if c.erasure_pending:
        c.complete_erasure()
    c.audit.write_checkpoint()  # an idle server's chain head is pinned too, not only after a burst


async def _maintenance_loop(service: Service) -> None:
    interval = float(service.engine.settings.maintenance_interval)
    while True:
        await asyncio.sleep(interval)
        try:
            await asyncio.get_running_loop().run_in_executor(service.pool, _maintain, service.engine)
        except Exception:  # keep serving; the failure is logged and retried next time
            error_log.exception("maintenance failed")


def _warm(engine: Engine) -> Any:
    """The models the configured face model version needs (from their cards), then the collections.
    DetectLabels' and DetectText's models stay lazy: they load on their first request."""
    return engine.models.warm(engine.faces.model_names), engine.collections
