"""Video: start face detection and face search jobs on local bucket objects, follow them, and
show their results as tracks on a time axis over the ``<video>``, served with HTTP Range."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from .web import Console


def routes(console: Console) -> list[BaseRoute]:
    async def page(request: Request) -> Response:
        visitor = console.visitor(request)
        return console.page(visitor, "video", "Stored video", '<p class="empty">Coming next.</p>')

    return [Route("/video", page)]
