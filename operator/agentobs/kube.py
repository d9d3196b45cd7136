"""Connections to the Kubernetes API with kubernetes_asyncio.

In a pod the ServiceAccount is used; elsewhere a kubeconfig file (given, or from
KUBECONFIG, or ~/.kube/config).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from kubernetes_asyncio import client, config

logger = logging.getLogger(__name__)


async def connect(kubeconfig: Path | None = None) -> client.ApiClient:
    """Return an API client for the given kubeconfig, the pod's ServiceAccount or the default."""
    return client.ApiClient(await load_configuration(kubeconfig))


async def load_configuration(kubeconfig: Path | None = None) -> client.Configuration:
    """Load the connection settings from a kubeconfig, the pod's ServiceAccount or the default."""
    configuration = client.Configuration()
    if kubeconfig is not None:
        await config.load_kube_config(
            config_file=str(kubeconfig), client_configuration=configuration
        )
        logger.debug("using kubeconfig path=%s", kubeconfig)
    elif "KUBERNETES_SERVICE_HOST" in os.environ:
        config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
        logger.debug("using the in-cluster service account")
    else:
        await config.load_kube_config(client_configuration=configuration)
        logger.debug("using the default kubeconfig")
    return configuration


def bearer_token(configuration: client.Configuration) -> str | None:
    """Return the bearer token of a loaded configuration, without its scheme prefix."""
    token = configuration.api_key.get("BearerToken") or configuration.api_key.get("authorization")
    if not token:
        return None
    scheme, _, value = str(token).partition(" ")
    return value if scheme.lower() == "bearer" and value else str(token)
