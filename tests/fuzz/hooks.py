"""Schemathesis hooks for `tests/fuzz/run.py`.

Webhook deliveries are signed with the seeded cohort's secret, as Cal.com signs them, so fuzzed
bodies get past the signature check and reach the Cal.com parser and the booking rules.
Unsigned deliveries only ever meet the 401, which the security tests cover.
"""

import json
import os
from typing import Any

import schemathesis

from scheduling_service.calcom.signature import sign

_SECRET = os.environ["FUZZ_WEBHOOK_SECRET"]


@schemathesis.hook
def before_call(context: Any, case: Any, kwargs: dict[str, Any]) -> None:
    if not case.path.startswith("/webhooks/") or case.media_type != "application/json":
        return
    if isinstance(case.body, bytes):
        raw = case.body
    elif isinstance(case.body, (dict, list, str, int, float, bool)) or case.body is None:
        # Sent as these exact bytes, so the signature covers what the server receives.
        raw = json.dumps(case.body).encode()
        case.body = raw
    else:
        return  # no body at all: nothing to sign
    case.headers = {**(case.headers or {}), "X-Cal-Signature-256": sign(raw, _SECRET)}
