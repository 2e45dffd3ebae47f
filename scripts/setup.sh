#!/usr/bin/env bash
# One-shot set-up on a fresh Debian machine (run as root): Debian packages, npm ci (builds the native
# parts from source), the TypeScript build, the bundled demo image and the guest kernel. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."

# Every tool tvctl or a test runs. The tests fail, not skip, when one is missing under scripts/test.sh or CI
# (test/helpers/prereq.ts), so a tool a test starts to use belongs here too.
#   tvctl:  util-linux (unshare, nsenter), mount, iproute2 (ip), nftables (nft), procps (sysctl), tar, gzip, zstd,
#           qemu-system-x86 (vm run), apt + dpkg (vm kernel install, always there on Debian),
#           bochs + bochsbios + vgabios (vm run --engine bochs: the interpreter, its BIOS and VGA BIOS images;
#           bochs-term satisfies the bochs package's need for a display plugin without pulling in a GUI
#           toolkit, tvctl itself uses the built-in headless rfb display), isolinux + syslinux-common +
#           xorriso (its boot CD)
#   build:  make, gcc, g++, binutils, libc6-dev, libssl-dev (native/), busybox-static and cpio (the demo image,
#           the guest initramfs)
#   tests:  umoci, skopeo (image interop), python3 (xattr read-back), bsdutils (script: a terminal for the tty
#           tests), procps (pgrep, pkill), findutils, binutils (as, ld: the tiny KVM guests), chromium (compare's
#           HTML report), runc (bench/run-vs-runc); qemu-system-x86, busybox-static, cpio and dpkg-deb also build
#           and boot scripts/kvm-harness.sh's L1 guest
APT_PACKAGES=(
  busybox-static zstd gzip tar runc qemu-system-x86 umoci skopeo iproute2 nftables cpio util-linux mount bsdutils
  procps findutils make gcc g++ binutils python3 libc6-dev libssl-dev chromium
  bochs bochs-term bochsbios vgabios isolinux syslinux-common xorriso
)
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
# The kernel packages scripts/kvm-harness.sh boots (its L1 guest) and installs offline inside it, cached in build/.
bash scripts/kvm-harness.sh --fetch
echo "setup: done"
