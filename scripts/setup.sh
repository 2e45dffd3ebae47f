#!/usr/bin/env bash
# One-shot set-up on a fresh Debian machine (run as root): Debian packages, npm ci (builds the native
# parts from source), the TypeScript build, the bundled demo image and the guest kernel. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(busybox-static zstd runc qemu-system-x86 umoci skopeo iproute2 nftables cpio util-linux make gcc g++ python3 libc6-dev libssl-dev chromium)
missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
else
  node scripts/build-native.mjs
fi
npm run -s build

# The bundled demo image: Debian's busybox-static as a root file system tarball.
bash scripts/make-demo-rootfs.sh build/demo-rootfs.tar
if ! bin/tvctl.js images --quiet --filter reference=demo 2>/dev/null | grep -q .; then
  bin/tvctl.js image import build/demo-rootfs.tar demo:latest >/dev/null
fi

# The guest kernel for VM mode (Debian's linux-image-cloud-amd64), if the vm command is built.
if [ -f dist/lib/commands/vm/kernel/install.js ]; then bin/tvctl.js vm kernel install >/dev/null; fi
echo "setup: done"
