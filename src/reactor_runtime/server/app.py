"""The HTTP app: WIRE.md session and transport routes, plus page, schema, health, metrics.

Signalling never blocks on WebRTC: an offer starts answering in the background and
returns 202 at once; clients poll `GET …/sdp_params` (202 until the answer is ready,
then 200 with it on every later GET, or a 4xx if the offer could not be answered).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI, Header, Request, Response
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST

from .. import __version__
from .auth import TokenSet
from .cors import CorsMiddleware, CorsPolicy
from .errors import ApiError
from .limits import LimitExceeded
from .metrics import health_report, metrics_text, registry_for
from .pages import fallback_index, schema_document, web_file
from .replica import SESSION_ID_HEADER, Replica, parse_session_id
from .requests import (
    check_api_version,
    client_address,
    json_body,
    parse_candidates,
    parse_cid,
    parse_offer,
)
from .runtime import Runtime
from .uploads import install as install_uploads

log = logging.getLogger(__name__)

T = "/sessions/{sid}/transport/webrtc"


def _api_version(reactor_api_version: str | None = Header(default=None)) -> None:
    check_api_version(reactor_api_version)


def _log_load_failure(task: Any) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("the model failed to load: %s", task.exception())


def create_app(
    runtime: Runtime,
    *,
    tokens: TokenSet | None = None,
    cors: CorsPolicy | None = None,
    replica: Replica | None = None,
) -> FastAPI:
    """Build the app serving `runtime`.

    Starting the app (its lifespan) begins loading the model in the background;
    stopping it shuts the runtime down (viewers told, model stopped). With `tokens`,
    every route but `/health`, `/ready` and the page's files needs one of them
    (`Authorization: Bearer`); `cors` says which origins browsers may call it from
    (default: any while unguarded, none but its own page once guarded). `replica`
    (default: a fresh one) adds readiness, idleness and drain (`server/replica.py`).
    """
    tokens = tokens or TokenSet()
    replica = replica or Replica(runtime)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        runtime.begin_loading().add_done_callback(_log_load_failure)
        try:
            yield
        finally:
            await runtime.stop()

    app = FastAPI(
        title="reactor_runtime",
        version=__version__,
        description="Serves one model over WebRTC to Reactor clients.",
        lifespan=lifespan,
    )
    app.add_middleware(CorsMiddleware, policy=cors or CorsPolicy(guarded=bool(tokens)))
    registry = registry_for(runtime)
    guarded = [Depends(tokens.dependency)]
    versioned = [*guarded, Depends(_api_version)]
    registry.register(replica.collector())
    replica.install(app, guarded)

    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> JSONResponse:
        if isinstance(exc, LimitExceeded):
            runtime.limit_counts.refused[exc.limit] += 1
        return JSONResponse({"detail": exc.detail}, status_code=exc.status, headers=exc.headers)

    # session routes (WIRE.md §2.2-2.4) -------------------------------------------------------

    @app.post("/start_session", dependencies=versioned)
    async def start_session(request: Request) -> JSONResponse:
        body = await json_body(request, required=False, limits=runtime.limits)
        extra_args = body.get("extra_args")
        if extra_args is not None and not isinstance(extra_args, dict):
            raise ApiError(400, "extra_args: expected an object of model arguments")
        session_id = parse_session_id(request.headers.get(SESSION_ID_HEADER), body)
        return JSONResponse(await replica.start_session(extra_args, session_id))

    @app.post("/stop_session", dependencies=guarded)
    async def stop_session(request: Request) -> Response:
        # Always 200 (clients ignore the answer): an unreadable body only loses the reason.
        reason = None
        try:
            candidate = (await json_body(request, required=False, limits=runtime.limits)).get(
                "reason"
            )
        except ApiError as exc:
            if isinstance(exc, LimitExceeded):
                runtime.limit_counts.refused[exc.limit] += 1
            candidate = None
        if isinstance(candidate, str) and candidate.strip():
            reason = candidate.strip()[:64]
        await runtime.stop_session(reason)
        return Response(status_code=200)

    @app.get("/session", dependencies=versioned)
    async def session() -> JSONResponse:
        return JSONResponse(runtime.descriptor())

    # transport routes (WIRE.md §2.5-2.8) -----------------------------------------------------

    @app.get(T + "/ice_servers", dependencies=versioned)
    async def ice_servers(sid: str) -> JSONResponse:
        runtime.require_session(sid)
        return JSONResponse({"ice_servers": runtime.ice_servers})

    async def offer(sid: str, cid: int | None, request: Request) -> None:
        runtime.require_session(sid)
        body = await json_body(request, required=True, limits=runtime.limits)
        sdp, mapping = parse_offer(body, runtime.tracks(), runtime.limits)
        runtime.offer(cid, sdp, mapping, client_address(request))

    def answer(cid: int | None) -> Response:
        sdp = runtime.signalling.answer(cid)
        if sdp is None:
            return Response(status_code=202)
        body: dict[str, Any] = {"sdp_answer": sdp}
        if cid is not None:
            body["connection_id"] = cid
        return JSONResponse(body)

    async def candidates(sid: str, cid: int | None, request: Request) -> JSONResponse:
        runtime.require_session(sid)
        body = await json_body(request, required=True, limits=runtime.limits)
        found, is_final = parse_candidates(body, runtime.limits)
        await runtime.signalling.add_candidates(cid, found, is_final, client_address(request))
        return JSONResponse({}, status_code=202)

    @app.post(T + "/sdp_params", dependencies=versioned)
    @app.put(T + "/sdp_params", dependencies=versioned)
    async def flat_offer(sid: str, request: Request) -> JSONResponse:
        await offer(sid, None, request)
        return JSONResponse({}, status_code=202)

    @app.get(T + "/sdp_params", dependencies=versioned)
    async def flat_answer(sid: str) -> Response:
        runtime.require_session(sid)
        return answer(None)

    @app.post(T + "/ice_candidates", dependencies=versioned)
    async def flat_candidates(sid: str, request: Request) -> JSONResponse:
        return await candidates(sid, None, request)

    @app.post(T + "/connections", dependencies=versioned)
    async def new_connection(sid: str, request: Request) -> JSONResponse:
        runtime.require_session(sid)
        await json_body(request, required=False, limits=runtime.limits)
        cid = runtime.signalling.mint(client_address(request))
        return JSONResponse({"connection_id": cid}, status_code=201)

    @app.post(T + "/connections/{cid}/sdp_params", dependencies=versioned)
    @app.put(T + "/connections/{cid}/sdp_params", dependencies=versioned)
    async def connection_offer(sid: str, cid: str, request: Request) -> JSONResponse:
        runtime.require_session(sid)
        number = parse_cid(cid)
        await offer(sid, number, request)
        return JSONResponse({"connection_id": number}, status_code=202)

    @app.get(T + "/connections/{cid}/sdp_params", dependencies=versioned)
    async def connection_answer(sid: str, cid: str) -> Response:
        runtime.require_session(sid)
        return answer(parse_cid(cid))

    @app.post(T + "/connections/{cid}/ice_candidates", dependencies=versioned)
    async def connection_candidates(sid: str, cid: str, request: Request) -> JSONResponse:
        runtime.require_session(sid)
        return await candidates(sid, parse_cid(cid), request)

    install_uploads(app, runtime, versioned)

    # ours -----------------------------------------------------------------------------------

    @app.get("/health")
    async def health() -> JSONResponse:
        report = {**health_report(runtime), **replica.health()}
        return JSONResponse(report, status_code=503 if report["status"] == "error" else 200)

    @app.get("/metrics", dependencies=guarded)
    async def metrics() -> Response:
        return Response(metrics_text(registry), media_type=CONTENT_TYPE_LATEST)

    @app.get("/schema", dependencies=guarded)
    async def schema() -> JSONResponse:
        return JSONResponse(schema_document(runtime))

    @app.get("/", response_model=None)
    async def index() -> Response:
        page = web_file("index.html")
        if page is not None:
            return FileResponse(page)
        return HTMLResponse(fallback_index(runtime))

    @app.get("/{path:path}", response_model=None, include_in_schema=False)
    async def page_file(path: str) -> Response:
        found = web_file(path)
        if found is None:
            raise ApiError(404, f"not found: /{path}")
        return FileResponse(found)

    return app
