"""`scheduling-service worker`: the outbox dispatcher and the reconciler, without the API."""

import asyncio
import logging
import signal

from scheduling_service.config import Settings
from scheduling_service.db import create_engine, create_sessionmaker
from scheduling_service.notifications.dispatcher import Dispatcher
from scheduling_service.notifications.sender import create_sender
from scheduling_service.reconciliation.service import Reconciler

logger = logging.getLogger(__name__)


async def run_worker(settings: Settings, database_url: str) -> None:
    """Run the dispatcher and the reconciler until SIGINT or SIGTERM, then finish the message
    (and the reconciliation) in hand."""
    engine = create_engine(database_url, settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    sessionmaker = create_sessionmaker(engine)
    dispatcher = Dispatcher(sessionmaker, settings, create_sender(settings))
    reconciler = Reconciler(sessionmaker, settings)
    logger.info("outbox worker started")
    try:
        await asyncio.gather(dispatcher.run(stop), reconciler.run(stop))
    finally:
        await engine.dispose()
    logger.info("outbox worker stopped")
