"""Ranking the applications that may belong to the booker of an orphaned interview.

Signals, strongest first: the same email once dots and `+tags` are ignored in the local part
(jane.doe+fall@x and janedoe@x), a similar name, a similar email (trigram similarity from
PostgreSQL's pg_trgm, 0 to 1; of the emails' local parts so ignored, since every address of a
domain shares the domain's trigrams). The score is the strongest weighted signal, so one clear
signal ranks above several faint ones. A candidate is found by the same email, or by a name or
an email at least SEARCH_SIMILARITY similar; its signals count from MIN_SIMILARITY.
"""

import uuid
from dataclasses import dataclass

SAME_CANONICAL_EMAIL = 0.95
NAME_WEIGHT = 0.85
EMAIL_WEIGHT = 0.8
# Below this a signal is noise: names and emails share a few trigrams by chance.
MIN_SIMILARITY = 0.3
# What a name or an email must reach to find a candidate on its own (once found, every signal
# above MIN_SIMILARITY counts). Stricter than noise because a trigram search rechecks every
# row its index lets through: at 0.3 that is everyone who shares the booker's first or last
# name (a shared last name alone is 0.38-0.47), 81,000 rows and about 1.1 s at 1,000,000
# applications; at 0.5 it still finds the same name, its typos (0.5-0.8), an email's local
# part with a letter or two changed, in about 0.3 s (bench/RESULTS.md).
SEARCH_SIMILARITY = 0.5
MAX_CANDIDATES = 10


@dataclass(frozen=True)
class Signals:
    application_id: uuid.UUID
    same_canonical_email: bool
    name_similarity: float
    email_similarity: float


@dataclass(frozen=True)
class Ranked:
    application_id: uuid.UUID
    score: float
    reasons: tuple[str, ...]


def rank(signals: list[Signals]) -> list[Ranked]:
    ranked = [r for r in (_score(s) for s in signals) if r.reasons]
    ranked.sort(key=lambda r: (-r.score, str(r.application_id)))
    return ranked[:MAX_CANDIDATES]


def _score(signals: Signals) -> Ranked:
    weighted: list[tuple[float, str]] = []
    if signals.same_canonical_email:
        weighted.append((SAME_CANONICAL_EMAIL, "same email ignoring dots and +tags"))
    if signals.name_similarity >= MIN_SIMILARITY:
        weighted.append(
            (NAME_WEIGHT * signals.name_similarity, f"similar name ({signals.name_similarity:.2f})")
        )
    if signals.email_similarity >= MIN_SIMILARITY:
        weighted.append(
            (
                EMAIL_WEIGHT * signals.email_similarity,
                f"similar email ({signals.email_similarity:.2f})",
            )
        )
    score = max((w for w, _ in weighted), default=0.0)
    return Ranked(signals.application_id, round(score, 3), tuple(reason for _, reason in weighted))
