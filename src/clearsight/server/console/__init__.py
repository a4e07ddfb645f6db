"""The web console at ``/console/``: pages that are thin views over ``operations.dispatch``.

Every page runs the operations the AWS API runs, as the logged-in access key, so its scopes,
collection patterns, policy floors, required purposes and the audit trail apply identically.
Each page has a JSON twin (the same path ending in ``.json``); image pages post the AWS JSON
request to ``/console/api/<Operation>`` and draw its answer. Served offline: the CSS and JS are
files in this package; nothing is fetched from elsewhere. docs/console.md shows it in use."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from starlette.routing import BaseRoute, Mount, Route

from .session import Sessions, console_key, login_token

if TYPE_CHECKING:
    from ..app import Service

__all__ = ["console_routes", "login_token"]


def console_routes(service: Service) -> list[BaseRoute]:
    """The console's routes, mounted at /console."""
    from . import audit, collections, pages, video
    from .web import Console, guard

    settings = service.engine.settings
    sessions = Sessions(console_key(Path(settings.data_dir)), idle_seconds=float(settings.console_idle_timeout))
    console = Console(service, sessions)
    routes = pages.routes(console) + collections.routes(console) + audit.routes(console) + video.routes(console)
    wrapped = [Route(r.path, guard(r.endpoint), methods=list(r.methods or ())) for r in routes
               if isinstance(r, Route)]
    from starlette.responses import RedirectResponse

    async def bare(request: object) -> RedirectResponse:
        return RedirectResponse("/console/", status_code=308)

    return [Route("/console", bare), Mount("/console", routes=wrapped)]
