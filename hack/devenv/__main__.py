"""Start the local services by hand.

python -m devenv up             start etcd, kube-apiserver and PostgreSQL; Ctrl-C stops them
python -m devenv startup-time   start them, print how long each took, stop them
"""

from __future__ import annotations

import argparse
import signal
import sys
import time

from devenv.controlplane import ControlPlane
from devenv.postgres import PostgresServer


def up() -> int:
    plane = ControlPlane.start()
    database = PostgresServer.create()
    try:
        plane.apply_crd()
        print(f"kube-apiserver  {plane.server}")
        print(f"kubeconfig      export KUBECONFIG={plane.kubeconfig}")
        print(f"kubectl         {plane.kubectl_path}")
        print(f"postgres        {database.dsn}")
        print("press Ctrl-C to stop and delete everything", flush=True)
        signal.signal(signal.SIGTERM, signal.default_int_handler)
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        database.destroy()
        plane.destroy()
    return 0


def startup_time() -> int:
    # Building the binaries on a first run is measured separately, so it is done first.
    from devenv import binaries

    binaries.path_of("kube-apiserver")

    started = time.monotonic()
    plane = ControlPlane.start()
    control_plane_seconds = time.monotonic() - started

    started = time.monotonic()
    database = PostgresServer.create()
    postgres_seconds = time.monotonic() - started

    database.destroy()
    plane.destroy()
    print(f"etcd + kube-apiserver ready: {control_plane_seconds:.1f} s")
    print(f"postgres initdb + start:     {postgres_seconds:.1f} s")
    print(f"total:                       {control_plane_seconds + postgres_seconds:.1f} s")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(
        prog="python -m devenv",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("command", choices=["up", "startup-time"])
    arguments = parser.parse_args()
    if arguments.command == "up":
        return up()
    return startup_time()


if __name__ == "__main__":
    sys.exit(main())
