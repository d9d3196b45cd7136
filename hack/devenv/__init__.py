"""Local real services for tests and the demo: PostgreSQL, etcd and kube-apiserver.

Everything listens on 127.0.0.1 on free ports, lives in a temporary folder and is
stopped by the code that started it. Nothing here is a fake: the binaries are the
Debian PostgreSQL server and the kube-apiserver and etcd built by
hack/build-controlplane.sh.
"""
