import uuid

from scheduling_service.orphans.ranking import MAX_CANDIDATES, Signals, rank


def signals(
    *, canonical: bool = False, name: float = 0.0, email: float = 0.0, id_: int = 1
) -> Signals:
    return Signals(uuid.UUID(int=id_), canonical, name, email)


def test_same_email_ignoring_dots_and_tags_ranks_first() -> None:
    [first, second] = rank([signals(name=0.9, id_=1), signals(canonical=True, name=0.1, id_=2)])

    assert first.application_id == uuid.UUID(int=2)
    assert first.reasons == ("same email ignoring dots and +tags",)
    assert first.score > second.score


def test_reasons_name_every_signal_above_noise() -> None:
    [ranked] = rank([signals(name=0.8, email=0.5)])

    assert ranked.reasons == ("similar name (0.80)", "similar email (0.50)")
    assert ranked.score == 0.68


def test_faint_signals_are_not_candidates() -> None:
    assert rank([signals(name=0.29, email=0.1)]) == []


def test_at_most_ten_candidates_best_first() -> None:
    ranked = rank([signals(name=0.3 + i / 100, id_=i) for i in range(30)])

    assert len(ranked) == MAX_CANDIDATES
    assert [r.score for r in ranked] == sorted((r.score for r in ranked), reverse=True)
