import asyncio
import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from scheduling_service import health, metrics
from scheduling_service.admission import ApiAdmission
from scheduling_service.applications.router import router as applications_router
from scheduling_service.auth import TokenVerifier
from scheduling_service.config import Settings, get_settings
from scheduling_service.db import create_engine, create_sessionmaker, resolve_database_url
from scheduling_service.limits import RequestLimits, document_limits
from scheduling_service.notifications.dispatcher import Dispatcher
from scheduling_service.notifications.sender import create_sender
from scheduling_service.organizations.router import router as organizations_router
from scheduling_service.orphans.router import router as orphans_router
from scheduling_service.problems import Problem, install_problem_handlers
from scheduling_service.reconciliation.router import router as reconciliation_router
from scheduling_service.reconciliation.service import Reconciler
from scheduling_service.schemas import restore_example_nulls
from scheduling_service.telemetry import RequestTelemetry
from scheduling_service.webhooks.journal import Journal
from scheduling_service.webhooks.recovery import Recovery
from scheduling_service.webhooks.router import router as webhooks_router
from scheduling_service.webhooks.service import Intake

DESCRIPTION = """Interview scheduling for cohort-based application programs.

Cal.com posts signed booking webhooks to `/webhooks/calcom/{cohort_id}`; the service matches
each booking to an application of the cohort by the applicant's email, moves the application
through its interview rounds, and keeps bookings that match nobody as orphaned interviews.
The `/v1` API (bearer JWT) serves the admin single-page app and integrators. Errors are
`application/problem+json` (RFC 9457) with a stable `type`.
"""


def create_app(settings: Settings | None = None, database_url: str | None = None) -> FastAPI:
    """The ASGI app. The database URL is resolved at startup unless given."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = create_engine(database_url or resolve_database_url(settings), settings)
        app.state.engine = engine
        metrics.instrument_pool(engine, settings.database_pool_size)
        app.state.sessionmaker = create_sessionmaker(engine)
        app.state.intake = Intake(
            app.state.sessionmaker,
            settings,
            Journal(settings.journal_dir, settings.journal_max_bytes),
        )
        stop = asyncio.Event()
        background = []
        if settings.run_recovery:
            background.append(asyncio.create_task(Recovery(app.state.intake).run(stop)))
        if settings.run_dispatcher:
            dispatcher = Dispatcher(app.state.sessionmaker, settings, create_sender(settings))
            background.append(asyncio.create_task(dispatcher.run(stop)))
        if settings.run_reconciler:
            reconciler = Reconciler(app.state.sessionmaker, settings)
            background.append(asyncio.create_task(reconciler.run(stop)))
        # What startup built (modules, the app, the ORM's mappers) lives as long as the app:
        # frozen, the collector no longer walks it in every full collection.
        gc.collect()
        gc.freeze()
        try:
            yield
        finally:
            gc.unfreeze()
            stop.set()
            await asyncio.gather(*background)
            await engine.dispose()
            metrics.release_pool(settings.database_pool_size)
            metrics.forget_this_process()

    app = FastAPI(
        title="scheduling-service",
        version="0.1.0",
        description=DESCRIPTION,
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.token_verifier = TokenVerifier(settings)
    install_problem_handlers(app)
    app.add_middleware(RequestLimits, max_body_bytes=settings.api_max_body_bytes)
    # Before the limits read a body: a request shed at capacity costs next to nothing.
    app.add_middleware(
        ApiAdmission,
        max_concurrent=settings.api_max_concurrent_requests,
        queue_timeout=settings.api_queue_timeout_seconds,
    )
    # Added last, so outermost: even a request refused by the limits is logged and counted.
    app.add_middleware(RequestTelemetry)
    for router in (
        organizations_router,
        applications_router,
        orphans_router,
        reconciliation_router,
        webhooks_router,
        health.router,
    ):
        app.include_router(router)
    _register_problem_schema(app)
    return app


def _register_problem_schema(app: FastAPI) -> None:
    """Problem responses refer to one shared schema in the OpenAPI document."""
    build = app.openapi

    def openapi() -> dict[str, object]:
        if app.openapi_schema is None:
            document = build()
            document_limits(document)
            restore_example_nulls(document)
            components = document.setdefault("components", {})
            schemas = components.setdefault("schemas", {})
            schemas["Problem"] = Problem.model_json_schema()
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
