# syntax=docker/dockerfile:1
#
# The agentobs service image: one entry point, `agentobs`, whose subcommands are
# run (the default), receiver, operator and migrate.
#
#   docker build -t agentobs:dev .

ARG PYTHON_IMAGE=python:3.13-slim

# Builds wheels of the client library and the service, then installs them and
# their dependencies into a virtual environment that the final stage copies.
FROM ${PYTHON_IMAGE} AS builder

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1

WORKDIR /src
COPY sdk_client/ sdk_client/
COPY pyproject.toml README.md ./
COPY operator/ operator/

# Both local projects in one call, so the service's requirement on
# agentobs-client resolves to ./sdk_client and never to a package of that
# name on an index.
RUN pip wheel --wheel-dir /wheels ./sdk_client .

# --no-index: the environment gets exactly the wheels built above.
RUN python -m venv /opt/agentobs \
    && /opt/agentobs/bin/pip install --no-index --find-links /wheels agentobs agentobs-client \
    && /opt/agentobs/bin/pip uninstall --yes pip \
    && /opt/agentobs/bin/agentobs --help > /dev/null

# The runtime image: the interpreter and the virtual environment, no compilers,
# no pip, no sources.
FROM ${PYTHON_IMAGE}

LABEL org.opencontainers.image.title="agentobs" \
      org.opencontainers.image.description="Token usage of AI agents on Kubernetes" \
      org.opencontainers.image.licenses="Apache-2.0"

# A numeric user, so that Kubernetes can check runAsNonRoot without reading
# /etc/passwd. The Helm chart runs the pods as the same user and group.
RUN groupadd --system --gid 10001 agentobs \
    && useradd --system --uid 10001 --gid 10001 --no-create-home \
       --home-dir /nonexistent --shell /usr/sbin/nologin agentobs

COPY --from=builder /opt/agentobs /opt/agentobs

ENV PATH=/opt/agentobs/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1

USER 10001:10001
EXPOSE 8080
ENTRYPOINT ["agentobs"]
CMD ["run"]
