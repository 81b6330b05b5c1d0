from datetime import timedelta


def exponential_backoff(attempts: int, *, base_seconds: float, max_seconds: float) -> timedelta:
    """How long to wait after the `attempts`-th failure: base, 2 x base, 4 x base, ... capped."""
    return timedelta(seconds=min(base_seconds * 2 ** (attempts - 1), max_seconds))
