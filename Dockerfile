# syntax=docker/dockerfile:1
# Storefront BFF: a multi-stage build. Migrations run as their own command, never on start:
#   docker run --rm -e DATABASE_URL=... -e SECRET_KEY=... storefront-bff storefront migrate
#   docker run -p 8000:8000 -e DATABASE_URL=... -e SECRET_KEY=... storefront-bff

# 1. GraphiQL's assets, built from the locked npm packages (never fetched from a CDN at run time).
FROM node:20-bookworm-slim AS playground
WORKDIR /build/playground
COPY playground/package.json playground/package-lock.json playground/.npmrc ./
RUN npm ci --omit=dev --no-audit --no-fund
COPY playground/build.mjs playground/bootstrap.js ./
RUN mkdir -p /build/app/static && node build.mjs

# 2. The locked Python dependencies and the project, in a virtualenv.
FROM python:3.11-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
RUN python -m venv /opt/venv
COPY requirements.lock ./
RUN /opt/venv/bin/pip install --require-hashes -r requirements.lock
COPY pyproject.toml README.md ./
COPY app app
COPY schema schema
COPY resolvers resolvers
COPY --from=playground /build/app/static/graphiql app/static/graphiql
RUN /opt/venv/bin/pip install --no-deps .

# 3. The runtime: no compilers, no sources, a non-root user.
FROM python:3.11-slim-bookworm AS runtime
RUN useradd --system --uid 10001 --create-home --home-dir /srv storefront
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    STOREFRONT_ENV=production
WORKDIR /srv
USER storefront
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --start-period=15s --retries=3 \
  CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2).status != 200)"]
CMD ["storefront", "serve", "--host", "0.0.0.0", "--port", "8000", "--workers", "2"]
