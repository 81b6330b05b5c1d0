"""ORM tables, one module per aggregate. Importing this package registers them all."""

from scheduling_service.models.alias import ApplicationEmailAlias
from scheduling_service.models.application import Application, ApplicationSearchTerms
from scheduling_service.models.base import Base
from scheduling_service.models.booking import Booking, BookingState
from scheduling_service.models.calcom_connection import CalcomConnection
from scheduling_service.models.history import HistoryCause, HistoryEntry, HistoryKind
from scheduling_service.models.organization import Cohort, Organization
from scheduling_service.models.orphan import OrphanedInterview, OrphanState
from scheduling_service.models.outbox import MessageKind, MessageState, OutboxMessage
from scheduling_service.models.webhook_event import EventSource, WebhookEvent, WebhookOutcome

__all__ = [
    "Application",
    "ApplicationEmailAlias",
    "ApplicationSearchTerms",
    "Base",
    "Booking",
    "BookingState",
    "CalcomConnection",
    "Cohort",
    "EventSource",
    "HistoryCause",
    "HistoryEntry",
    "HistoryKind",
    "MessageKind",
    "MessageState",
    "Organization",
    "OrphanState",
    "OrphanedInterview",
    "OutboxMessage",
    "WebhookEvent",
    "WebhookOutcome",
]
