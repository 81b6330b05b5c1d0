# syntax=docker/dockerfile:1
# Build: docker build -t scheduling-service .
# Run:   docker run -e DATABASE_URL=postgresql+asyncpg://... -e JWT_SECRET=... -p 8000:8000 scheduling-service
FROM python:3.11-slim AS build
WORKDIR /app
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
RUN python -m venv /venv
COPY requirements/main.txt requirements/main.txt
RUN /venv/bin/pip install --require-hashes -r requirements/main.txt
COPY pyproject.toml README.md alembic.ini ./
COPY src src
COPY migrations migrations
RUN /venv/bin/pip install --no-deps --no-build-isolation .

FROM python:3.11-slim
RUN useradd --system --uid 10001 --home-dir /app app
WORKDIR /app
COPY --from=build /venv /venv
COPY --from=build /app/alembic.ini /app/alembic.ini
COPY --from=build /app/migrations /app/migrations
ENV PATH=/venv/bin:$PATH PYTHONUNBUFFERED=1
USER app
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=3s CMD python -c "import urllib.request,sys; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2)" || exit 1
CMD ["scheduling-service", "serve", "--host", "0.0.0.0", "--port", "8000"]
