# syntax=docker/dockerfile:1
# Build:    make image  (docker build --build-arg PYTHON_IMAGE=python:3.11-slim -t scheduling-service .)
# Migrate:  docker run --rm -e DATABASE_URL=... scheduling-service scheduling-service migrate
# Run:      docker run -e DATABASE_URL=... -e JWT_SECRET=... -e PUBLIC_BASE_URL=https://... \
#             -v scheduling-journal:/var/lib/scheduling-service -p 8000:8000 scheduling-service

# An exact Python release, one whose email library refuses unsafely folded headers
# (CVE-2024-6923; 3.11.15 has the whole fix). The alerts keep booker text out of headers anyway.
# The build stage installs the locked, hash-checked dependencies and the service into a
# virtualenv; only that virtualenv and the migrations reach the final image.
# The base of both stages: the official image unless given (a mirror, a pinned digest).
ARG PYTHON_IMAGE=python:3.11.15-slim

FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
WORKDIR /src
RUN python -m venv /venv
COPY requirements/main.txt requirements/main.txt
RUN /venv/bin/pip install --require-hashes -r requirements/main.txt
COPY pyproject.toml README.md ./
COPY src src
RUN /venv/bin/pip install --no-deps --no-build-isolation .

FROM ${PYTHON_IMAGE}
# A fixed numeric user, so `runAsNonRoot` policies can verify it without reading /etc/passwd;
# its group has the same number and a name, so the journal's files show an owner and group.
RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --no-create-home --home-dir /app app \
    && install --directory --owner app --group app /var/lib/scheduling-service
WORKDIR /app
COPY --from=build /venv /venv
COPY alembic.ini alembic.ini
COPY migrations migrations
# The image is for production: it refuses a weak JWT_SECRET, a non-https PUBLIC_BASE_URL, or
# a missing SECRETS_ENCRYPTION_KEY.
# The journal keeps deliveries that arrive while the database is down: mount a volume there.
ENV PATH=/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    ENVIRONMENT=production \
    JOURNAL_DIR=/var/lib/scheduling-service/journal
USER 10001
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=3)"]
# Workers: WEB_CONCURRENCY, else one per CPU the container may use.
CMD ["scheduling-service", "serve", "--host", "0.0.0.0", "--port", "8000"]
