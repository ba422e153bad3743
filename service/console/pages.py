"""The console's pages and its decision route (server-rendered HTML, one self-hosted module).

GET /console shows the sign-in page without a session and the owner's queue with one; a
revision page shows everything the owner approves, and embeds the packet exactly as stored
so the page's script can hash it before it signs (service/console/static/console.js).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from importlib import resources
from typing import Any

import jinja2
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from service.adapters.errors import TRANSIENT_ERRORS
from service.console import decisions, queries
from service.console.sessions import COOKIE, Session, Sessions
from service.console.views import packet_view
from service.domain import vocab
from service.domain.governance import Governance
from service.gate.context import GateContext

STATIC = {
    "console.js": "text/javascript; charset=utf-8",
    "jcs.js": "text/javascript; charset=utf-8",
    "console.css": "text/css; charset=utf-8",
}


def left(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    if seconds <= 0:
        return "due now"
    days, rest = divmod(int(seconds), 86_400)
    hours, rest = divmod(rest, 3600)
    return f"{days} d {hours} h" if days else f"{hours} h {rest // 60} min"


def _local(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")


@dataclass
class Console:
    context: Callable[[], GateContext]
    governance: Callable[[], Governance]
    sessions: Sessions
    templates: jinja2.Environment
    assets: dict[str, bytes]

    @staticmethod
    def build(
        context: Callable[[], GateContext], governance: Callable[[], Governance], sessions: Sessions
    ) -> Console:
        """Templates and static files are read here, at app creation, never at import."""
        env = jinja2.Environment(
            loader=jinja2.PackageLoader("service.console", "templates"),
            autoescape=jinja2.select_autoescape(default=True),
            undefined=jinja2.StrictUndefined,
        )
        env.globals["left"] = left
        folder = resources.files("service.console") / "static"
        assets = {name: (folder / name).read_bytes() for name in STATIC}
        return Console(context, governance, sessions, env, assets)

    def session(self, request: Request) -> Session | None:
        return self.sessions.open(request.cookies.get(COOKIE))

    def page(self, name: str, status: int = 200, **values: Any) -> HTMLResponse:
        html = self.templates.get_template(name).render(**values)
        return HTMLResponse(html, status_code=status)

    async def root(self, _: Request) -> Response:
        return RedirectResponse("/console", status_code=303)

    async def static(self, request: Request) -> Response:
        name = request.url.path.rsplit("/", 1)[-1]
        return Response(self.assets[name], media_type=STATIC[name])

    async def home(self, request: Request) -> Response:
        session = self.session(request)
        if session is None:
            return self.page("sign_in.html", session=None)
        now = datetime.now(UTC)
        try:
            queue = await queries.queue(self.context(), session, self.governance(), now)
        except TRANSIENT_ERRORS:
            return self.page("sign_in.html", status=503, session=session)
        return self.page("queue.html", session=session, queue=queue)

    async def history(self, request: Request) -> Response:
        session = self.session(request)
        if session is None:
            return RedirectResponse("/console", status_code=303)
        packet_id = request.path_params["packet_id"]
        view = (
            await packet_view(self.context(), packet_id) if len(packet_id) <= vocab.ID_MAX else None
        )
        lanes = view["lanes"] if view else []
        if view is None or not any(session.may_see(lane) for lane in lanes or [None]):
            return self.page("history.html", status=404, session=session, view=_nothing(packet_id))
        return self.page("history.html", session=session, view=view)

    async def revision(self, request: Request) -> Response:
        session = self.session(request)
        if session is None:
            return RedirectResponse("/console", status_code=303)
        found = await self._revision(request, session)
        if found is None:
            return HTMLResponse(
                "<!doctype html><title>Not found</title><p>No such revision in your lanes.</p>", 404
            )
        lane = found.lane
        longest = lane.max_validity if lane else timedelta(0)
        start = datetime.now(UTC).replace(microsecond=0)
        window = {
            "start": _local(start),
            "end": _local(start + min(longest, timedelta(days=3))),
            "longest": left(longest.total_seconds()),
        }
        data = {
            "packet_id": found.rev.packet_id,
            "revision": found.rev.revision,
            "lane_id": found.rev.lane_id,
            "packet": dict(found.packet),
            "packet_hash": found.packet["packet_hash"],
            "option_set_hash": found.packet["option_set_hash"],
            "authorized_recipients": list(lane.authorized_recipients) if lane else [],
            "max_validity_seconds": int(longest.total_seconds()),
        }
        return self.page("revision.html", session=session, page=found, window=window, data=data)

    async def _revision(self, request: Request, session: Session) -> queries.RevisionPage | None:
        packet_id = request.path_params["packet_id"]
        number = int(request.path_params["revision"])
        if len(packet_id) > vocab.ID_MAX or number < 1:
            return None
        return await queries.revision_page(
            self.context(), session, self.governance(), packet_id, number
        )

    async def status(self, request: Request) -> Response:
        """The revision's state now and, given ?event=, what the gate did with that event."""
        session = self.session(request)
        if session is None:
            return JSONResponse({"error": "sign in first"}, status_code=401)
        found = await self._revision(request, session)
        if found is None:
            return JSONResponse({"error": "no such revision in your lanes"}, status_code=404)
        event_id = request.query_params.get("event", "")
        outcome = (
            queries.outcome_of(found.facts, found.rev.revision, event_id) if event_id else None
        )
        state = found.rev.state.value if found.rev.state else None
        return JSONResponse({"state": state, "outcome": outcome})

    async def decide(self, request: Request) -> Response:
        session = self.session(request)
        if session is None:
            return JSONResponse({"error": "sign in first"}, status_code=401)
        if request.headers.get("x-csrf-token") != session.csrf:
            return JSONResponse({"error": "missing or wrong CSRF token"}, status_code=403)
        try:
            data = json.loads(await request.body())
            if not isinstance(data, dict):
                raise ValueError("not an object")
            decision = decisions.check(session, self.governance(), data)
            event_id = await decisions.publish(self.context(), decision, data)
        except ValueError:
            return JSONResponse({"error": "expected a JSON object"}, status_code=400)
        except decisions.DecisionRefused as refused:
            return JSONResponse({"error": refused.reason}, status_code=refused.status)
        return JSONResponse({"event_id": event_id}, status_code=202)


def _nothing(packet_id: str) -> dict[str, Any]:
    return {"packet_id": packet_id, "lanes": [], "revisions": []}


def console_routes(console: Console) -> list[Route]:
    pages = [
        Route("/", console.root, methods=["GET"]),
        Route("/console", console.home, methods=["GET"]),
        Route("/console/packets/{packet_id}", console.history, methods=["GET"]),
        Route("/console/packets/{packet_id}/r/{revision:int}", console.revision, methods=["GET"]),
        Route(
            "/console/packets/{packet_id}/r/{revision:int}/status",
            console.status,
            methods=["GET"],
        ),
        Route("/console/decisions", console.decide, methods=["POST"]),
    ]
    assets = [Route(f"/console/static/{name}", console.static, methods=["GET"]) for name in STATIC]
    return pages + assets
