"""Certificates and keys for the local control plane, made with the openssl command.

One CA signs the kube-apiserver serving certificate and the admin client
certificate; a separate RSA key pair signs and verifies ServiceAccount tokens,
which is what the TokenRequest and TokenReview APIs need.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from devenv import processes

# Names a client inside a cluster would use, plus loopback, which the tests use.
SERVING_NAMES = (
    "DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,"
    "DNS:kubernetes.default.svc.cluster.local,IP:127.0.0.1,IP:10.0.0.1"
)


@dataclass(frozen=True)
class Pki:
    """Paths of the files `create` writes into one folder."""

    folder: Path

    @property
    def ca_cert(self) -> Path:
        return self.folder / "ca.crt"

    @property
    def ca_key(self) -> Path:
        return self.folder / "ca.key"

    @property
    def serving_cert(self) -> Path:
        return self.folder / "apiserver.crt"

    @property
    def serving_key(self) -> Path:
        return self.folder / "apiserver.key"

    @property
    def admin_cert(self) -> Path:
        return self.folder / "admin.crt"

    @property
    def admin_key(self) -> Path:
        return self.folder / "admin.key"

    @property
    def service_account_key(self) -> Path:
        return self.folder / "sa.key"

    @property
    def service_account_public_key(self) -> Path:
        return self.folder / "sa.pub"


def create(folder: Path) -> Pki:
    """Write a CA, a serving and an admin certificate, and the token signing keys."""
    folder.mkdir(parents=True, exist_ok=True)
    pki = Pki(folder)

    _openssl(
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "30",
        "-subj",
        "/CN=agentobs-local-ca",
        "-keyout",
        pki.ca_key,
        "-out",
        pki.ca_cert,
    )

    _signed_certificate(
        pki,
        key=pki.serving_key,
        cert=pki.serving_cert,
        subject="/CN=kube-apiserver",
        extensions=f"subjectAltName={SERVING_NAMES}\nextendedKeyUsage=serverAuth\n",
    )

    # system:masters is the group the API server's default RBAC binds to cluster-admin.
    _signed_certificate(
        pki,
        key=pki.admin_key,
        cert=pki.admin_cert,
        subject="/O=system:masters/CN=agentobs-admin",
        extensions="extendedKeyUsage=clientAuth\n",
    )

    _openssl("genrsa", "-out", pki.service_account_key, "2048")
    _openssl(
        "rsa", "-in", pki.service_account_key, "-pubout", "-out", pki.service_account_public_key
    )
    return pki


def _signed_certificate(pki: Pki, *, key: Path, cert: Path, subject: str, extensions: str) -> None:
    request = cert.with_suffix(".csr")
    extensions_file = cert.with_suffix(".ext")
    extensions_file.write_text(extensions)
    _openssl(
        "req",
        "-new",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        subject,
        "-keyout",
        key,
        "-out",
        request,
    )
    _openssl(
        "x509",
        "-req",
        "-in",
        request,
        "-CA",
        pki.ca_cert,
        "-CAkey",
        pki.ca_key,
        "-CAcreateserial",
        "-days",
        "30",
        "-extfile",
        extensions_file,
        "-out",
        cert,
    )


def _openssl(*args: str | Path) -> None:
    argv = ["openssl", *map(str, args)]
    result = subprocess.run(argv, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise processes.ServiceError(
            f"openssl {args[0]} failed with code {result.returncode}: {result.stderr.strip()}"
        )
