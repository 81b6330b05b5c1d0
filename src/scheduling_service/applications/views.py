from datetime import UTC, datetime

from scheduling_service import pipeline
from scheduling_service.applications.schemas import ApplicationOut, Interview, PipelineView
from scheduling_service.applications.service import current_interview
from scheduling_service.models import Application


def application_out(application: Application, now: datetime | None = None) -> ApplicationOut:
    now = now or datetime.now(UTC)
    status_ = application.status
    slot = current_interview(application)
    state = pipeline.pipeline_state_of(status_)
    scheduled = state is pipeline.PipelineState.SCHEDULED and slot is not None
    return ApplicationOut(
        id=application.id,
        cohort_id=application.cohort_id,
        applicant_name=application.applicant_name,
        contact_email=application.contact_email,
        status=status_,
        current_stage=pipeline.stage_of(status_),
        interview=Interview(**slot.as_json()) if slot else None,
        pipeline=PipelineView(
            state=state,
            round=pipeline.round_of(status_),
            start_time=slot.start_time if scheduled and slot else None,
            end_time=slot.end_time if scheduled and slot else None,
            is_past=bool(scheduled and slot and slot.end_time <= now),
            no_show=bool(slot and slot.no_show),
        ),
        created_at=application.created_at,
        updated_at=application.updated_at,
    )
