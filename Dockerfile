# NeuroNest container image: one image for `neuronest serve`, `neuronest worker` and
# `neuronest migrate` (see docker-compose.yml).
#
#   docker build -t neuronest .                       # online, official python base image
#
# Offline build (no package index reachable): put wheels of every dependency, plus
# setuptools and wheel, into ./wheels/ and tell pip not to look at an index:
#
#   python3 -m pip wheel --wheel-dir wheels . "setuptools>=68" wheel
#   docker build --build-arg PIP_NO_INDEX=1 -t neuronest .
#
# BASE_IMAGE may be any Debian-like image with python3 (3.11+), its venv module and
# useradd, e.g. the debootstrap image made by scripts/build-images.sh.

ARG BASE_IMAGE=python:3.11-slim-bookworm

# --------------------------------------------------------------------------- builder
FROM ${BASE_IMAGE} AS builder

# "1" (or "true") installs only from ./wheels/; pip reads PIP_NO_INDEX from the environment.
ARG PIP_NO_INDEX=0
ENV PIP_NO_INDEX=${PIP_NO_INDEX} \
    PIP_FIND_LINKS=/wheels \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1

RUN python3 -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH

# The optional wheelhouse. `wheel[s]` is a pattern, so the build also works when there is no
# ./wheels directory (pyproject.toml keeps the source list non-empty; it is harmless in /wheels).
COPY pyproject.toml wheel[s] /wheels/

# Dependencies first, in their own layer: editing the code does not reinstall them.
COPY pyproject.toml /tmp/pyproject.toml
RUN python3 -c "import tomllib; p = tomllib.load(open('/tmp/pyproject.toml', 'rb')); \
print('\n'.join(p['project']['dependencies']))" > /tmp/requirements.txt \
 && pip install -r /tmp/requirements.txt

# The project itself (a regular, non-editable install into the venv). Its browser files for /docs
# and /graphql come along from neuronest/static/vendor/: fetch them first (scripts/static-assets.sh,
# which `make setup` runs). README.md is optional
# (a pattern again), for when pyproject.toml names it as the readme.
COPY pyproject.toml README.m[d] /src/
COPY neuronest/ /src/neuronest/
COPY migrations/ /src/migrations/
RUN pip install --no-deps /src \
 && neuronest --help >/dev/null

# --------------------------------------------------------------------------- runtime
FROM ${BASE_IMAGE} AS runtime

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    NEURONEST_DATA_DIR=/data \
    NEURONEST_PORT=8000

RUN groupadd --system --gid 10001 neuronest \
 && useradd --system --uid 10001 --gid 10001 --home-dir /data --no-create-home \
      --shell /usr/sbin/nologin neuronest \
 && mkdir -p /data \
 && chown neuronest:neuronest /data \
 && chmod 0750 /data

COPY --from=builder /opt/venv /opt/venv
# The web console, built before the image (scripts/console.sh, which `make run` runs).
COPY console/dist/ /opt/neuronest/console/
ENV NEURONEST_CONSOLE_DIR=/opt/neuronest/console

USER neuronest
WORKDIR /data
EXPOSE 8000

# Liveness of the API process. NEURONEST_PORT follows `--port` when you override CMD with
# another port (set both).
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python3", "-c", "import os, sys, urllib.request; r = urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('NEURONEST_PORT', '8000'), timeout=4); sys.exit(0 if r.status == 200 else 1)"]

ENTRYPOINT ["neuronest"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8000"]
