"""A local Kubernetes control plane: etcd and kube-apiserver on 127.0.0.1.

There is no kubelet, scheduler or controller manager, so pods never run,
namespaces are never finalised and no `default` ServiceAccount appears by
itself. The API server is otherwise real: CRDs, the status subresource, RBAC,
TokenRequest, TokenReview and SubjectAccessReview all work.
"""

from __future__ import annotations

import json
import shutil
import ssl
import subprocess
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from devenv import binaries, pki, processes

REPO = binaries.REPO
CRD_FILE = REPO / "crds" / "agentobservations.yaml"
SERVICE_ACCOUNT_ISSUER = "https://kubernetes.default.svc.cluster.local"


@dataclass
class ControlPlane:
    """etcd and kube-apiserver processes, with an admin kubeconfig for them."""

    root: Path
    certificates: pki.Pki
    api_port: int
    etcd_port: int
    etcd_process: subprocess.Popen[bytes] | None = None
    api_process: subprocess.Popen[bytes] | None = None
    kubectl_path: Path = field(default_factory=lambda: binaries.path_of("kubectl"))

    @property
    def server(self) -> str:
        return f"https://127.0.0.1:{self.api_port}"

    @property
    def ca_file(self) -> Path:
        return self.certificates.ca_cert

    @property
    def kubeconfig(self) -> Path:
        return self.root / "admin.kubeconfig"

    @classmethod
    def start(cls, parent: Path | None = None) -> ControlPlane:
        """Generate certificates, start etcd then kube-apiserver, and wait until ready."""
        root = Path(tempfile.mkdtemp(prefix="agentobs-cp-", dir=parent))
        plane = cls(
            root=root,
            certificates=pki.create(root / "pki"),
            api_port=processes.free_port(),
            etcd_port=processes.free_port(),
        )
        try:
            plane._start_etcd()
            plane._start_apiserver()
            plane._write_admin_kubeconfig()
        except BaseException:
            plane.stop()
            raise
        return plane

    def stop(self) -> None:
        """Stop kube-apiserver, then etcd; the folder stays for `destroy`."""
        for process in (self.api_process, self.etcd_process):
            if process is not None:
                processes.stop(process)
        self.api_process = None
        self.etcd_process = None

    def destroy(self) -> None:
        """Stop both processes and delete the folder with the keys and data."""
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def _start_etcd(self) -> None:
        peer_port = processes.free_port()
        log = self.root / "etcd.log"
        argv = [
            str(binaries.path_of("etcd")),
            "--name",
            "agentobs-test",
            "--data-dir",
            str(self.root / "etcd"),
            "--listen-client-urls",
            f"http://127.0.0.1:{self.etcd_port}",
            "--advertise-client-urls",
            f"http://127.0.0.1:{self.etcd_port}",
            "--listen-peer-urls",
            f"http://127.0.0.1:{peer_port}",
            "--initial-advertise-peer-urls",
            f"http://127.0.0.1:{peer_port}",
            "--initial-cluster",
            f"agentobs-test=http://127.0.0.1:{peer_port}",
            "--listen-metrics-urls",
            f"http://127.0.0.1:{processes.free_port()}",
            "--unsafe-no-fsync",
            "--log-level",
            "warn",
        ]
        self.etcd_process = processes.start("etcd", argv, log=log)
        processes.wait_until(
            "etcd",
            lambda: _http_ok(f"http://127.0.0.1:{self.etcd_port}/health"),
            process=self.etcd_process,
            log=log,
            timeout=60,
        )

    def _start_apiserver(self) -> None:
        certificates = self.certificates
        log = self.root / "kube-apiserver.log"
        argv = [
            str(binaries.path_of("kube-apiserver")),
            "--etcd-servers",
            f"http://127.0.0.1:{self.etcd_port}",
            "--bind-address",
            "127.0.0.1",
            "--advertise-address",
            "127.0.0.1",
            "--secure-port",
            str(self.api_port),
            "--cert-dir",
            str(self.root / "apiserver-certs"),
            "--tls-cert-file",
            str(certificates.serving_cert),
            "--tls-private-key-file",
            str(certificates.serving_key),
            "--client-ca-file",
            str(certificates.ca_cert),
            "--service-account-issuer",
            SERVICE_ACCOUNT_ISSUER,
            "--service-account-key-file",
            str(certificates.service_account_public_key),
            "--service-account-signing-key-file",
            str(certificates.service_account_key),
            "--service-cluster-ip-range",
            "10.0.0.0/24",
            "--authorization-mode",
            "RBAC",
            "--endpoint-reconciler-type",
            "none",
            "--enable-priority-and-fairness=false",
            "--profiling=false",
            "--v",
            "1",
        ]
        self.api_process = processes.start("kube-apiserver", argv, log=log)
        processes.wait_until(
            "kube-apiserver",
            self._apiserver_ready,
            process=self.api_process,
            log=log,
            timeout=120,
        )

    def _apiserver_ready(self) -> bool:
        context = ssl.create_default_context(cafile=str(self.certificates.ca_cert))
        context.load_cert_chain(str(self.certificates.admin_cert), str(self.certificates.admin_key))
        return _http_ok(f"{self.server}/readyz", context=context)

    def _write_admin_kubeconfig(self) -> None:
        certificates = self.certificates
        user = {
            "client-certificate": str(certificates.admin_cert),
            "client-key": str(certificates.admin_key),
        }
        self._write_kubeconfig(self.kubeconfig, user)

    def kubeconfig_for_token(self, token: str, path: Path) -> Path:
        """Write a kubeconfig that authenticates with a bearer token, as a pod would."""
        self._write_kubeconfig(path, {"token": token})
        return path

    def _write_kubeconfig(self, path: Path, user: dict[str, str]) -> None:
        # The file contains a credential, so only its owner may read it.
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": "agentobs-local",
                    "cluster": {"server": self.server, "certificate-authority": str(self.ca_file)},
                }
            ],
            "users": [{"name": "user", "user": user}],
            "contexts": [
                {"name": "agentobs-local", "context": {"cluster": "agentobs-local", "user": "user"}}
            ],
            "current-context": "agentobs-local",
        }
        path.write_text(json.dumps(config, indent=2))
        path.chmod(0o600)

    def kubectl(
        self,
        *args: str,
        input: str | None = None,
        check: bool = True,
        kubeconfig: Path | None = None,
    ) -> str:
        """Run kubectl as the admin (or with `kubeconfig`) and return its standard output."""
        result = subprocess.run(
            [str(self.kubectl_path), "--kubeconfig", str(kubeconfig or self.kubeconfig), *args],
            input=input,
            capture_output=True,
            text=True,
            check=False,
        )
        if check and result.returncode != 0:
            raise subprocess.CalledProcessError(
                result.returncode,
                ["kubectl", *args],
                result.stdout,
                result.stderr,
            )
        return result.stdout

    def create_namespace(self, name: str) -> None:
        """Create a namespace unless it exists."""
        self.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})

    def create_service_account(self, namespace: str, name: str) -> None:
        """Create a ServiceAccount unless it exists."""
        self.apply(
            {
                "apiVersion": "v1",
                "kind": "ServiceAccount",
                "metadata": {"name": name, "namespace": namespace},
            }
        )

    def create_token(
        self,
        namespace: str,
        service_account: str,
        *,
        audience: str | None = "agentobs",
        seconds: int = 3600,
    ) -> str:
        """Mint a ServiceAccount token with the TokenRequest API.

        With `audience=None` the token carries the API server's own audience,
        so it authenticates to the API server as a pod's mounted token does.
        """
        audience_args = [] if audience is None else ["--audience", audience]
        token = self.kubectl(
            "create",
            "token",
            service_account,
            "--namespace",
            namespace,
            *audience_args,
            "--duration",
            f"{seconds}s",
        )
        return token.strip()

    def apply(self, manifest: dict[str, object]) -> str:
        """Apply one object given as a dict, with server-side apply."""
        return self.kubectl(
            "apply",
            "--server-side",
            "--field-manager",
            "agentobs-tests",
            "-f",
            "-",
            input=json.dumps(manifest),
        )

    def apply_crd(self, path: Path = CRD_FILE) -> None:
        """Apply the AgentObservation CRD and wait until the API serves it."""
        self.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(path))
        self.kubectl(
            "wait",
            "--for",
            "condition=Established",
            "--timeout",
            "60s",
            "crd/agentobservations.agentobs.dev",
        )


def _http_ok(url: str, context: ssl.SSLContext | None = None) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2, context=context) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False
