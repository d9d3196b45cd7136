#!/usr/bin/env bash
# Builds the binaries of the local test control plane (kube-apiserver, kubectl,
# etcd) and helm from the Go module proxy, at the versions pinned by the go.mod
# files under hack/controlplane/. Each binary is cached outside the repository,
# keyed by version, so only the first run pays for the build.
#
#   AGENTOBS_CACHE   cache folder (default: ~/.cache/agentobs)
#
# Prints the folder holding the binaries on its last line.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cache="${AGENTOBS_CACHE:-$HOME/.cache/agentobs}"
bin="$cache/bin"
mkdir -p "$bin"

if ! command -v go >/dev/null; then
    echo "build-controlplane: the go command is missing; install Go 1.26 or newer" >&2
    exit 1
fi

# The version a module pins, read from its go.mod require line.
pinned() {
    local dir="$1" module="$2"
    (cd "$here/controlplane/$dir" && go list -m -f '{{.Version}}' "$module")
}

# Builds one command into the cache unless that version is already there, and
# links the unversioned name to it so scripts can find it without the version.
build() {
    local dir="$1" name="$2" package="$3" version="$4" ldflags="$5"
    local target="$bin/$name-$version"
    if [[ ! -x "$target" ]]; then
        echo "build-controlplane: building $name $version (first run only)" >&2
        local started=$SECONDS
        (cd "$here/controlplane/$dir" &&
            CGO_ENABLED=0 go build -trimpath -ldflags "-s -w $ldflags" -o "$target.partial" "$package")
        mv "$target.partial" "$target"
        echo "build-controlplane: built $name $version in $((SECONDS - started)) s" >&2
    fi
    ln -sfn "$name-$version" "$bin/$name"
}

k8s_version="$(pinned kubernetes k8s.io/kubernetes)"
k8s_minor="$(echo "$k8s_version" | cut -d. -f2)"
version_flags=""
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    version_flags+=" -X $pkg.gitVersion=$k8s_version -X $pkg.gitMajor=1 -X $pkg.gitMinor=$k8s_minor"
    version_flags+=" -X $pkg.gitTreeState=clean"
done

build kubernetes kube-apiserver k8s.io/kubernetes/cmd/kube-apiserver "$k8s_version" "$version_flags"
build kubernetes kubectl k8s.io/kubernetes/cmd/kubectl "$k8s_version" "$version_flags"
build etcd etcd go.etcd.io/etcd/server/v3 "$(pinned etcd go.etcd.io/etcd/server/v3)" ""
helm_version="$(pinned helm helm.sh/helm/v4)"
build helm helm helm.sh/helm/v4/cmd/helm "$helm_version" \
    "-X helm.sh/helm/v4/internal/version.version=$helm_version"

echo "$bin"
