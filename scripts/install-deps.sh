#!/usr/bin/env bash
# Installs the Debian packages Saker needs to build and test (Debian 12).
# Build: clang/llvm (BPF programs), libelf/zlib/pkg-config/make (vendored libbpf).
# Tests: runc + busybox-static (real containers), iproute2 (network namespaces),
#        login/passwd (setuid binaries the exec test runs), gcc and sudo (the benign-activity suite).
# Server: postgresql (the store and API tests run against a real server, started by scripts/postgres.sh),
#         chromium + chromium-driver (the console is tested in headless Chromium),
#         protobuf-compiler (protoc: the agent↔server gRPC schema, crates/proto).
# Bench: auditd (`saker bench` compares the agent with auditd watching the same syscalls; docs/performance.md).
set -euo pipefail
packages=(clang llvm libelf-dev zlib1g-dev pkg-config make runc busybox-static iproute2 login passwd procps gcc sudo
  postgresql chromium chromium-driver protobuf-compiler auditd)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "install-deps: need root to apt-get install: ${missing[*]}" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${missing[@]}"
fi
echo "install-deps: all packages present"
