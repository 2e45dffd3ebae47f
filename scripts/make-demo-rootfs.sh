#!/usr/bin/env bash
# Builds a root file system tarball from Debian's busybox-static: /bin/busybox, an applet link for every
# command it has, and a minimal /etc. Usage: make-demo-rootfs.sh OUT.tar
set -euo pipefail
out=${1:?usage: make-demo-rootfs.sh OUT.tar}
[ -s "$out" ] && [ "$out" -nt /bin/busybox ] && exit 0
mkdir -p "$(dirname "$out")"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
r=$tmp/rootfs
mkdir -p "$r"/{bin,sbin,usr/bin,usr/sbin,etc,root,tmp,proc,sys,dev,home,var/www}
chmod 1777 "$r/tmp"
cp /bin/busybox "$r/bin/busybox"
for a in $(/bin/busybox --list-full); do
  [ "$a" = bin/busybox ] && continue
  mkdir -p "$r/$(dirname "$a")"
  ln -sf /bin/busybox "$r/$a"
done
cat > "$r/etc/passwd" <<'P'
root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/bin/false
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
P
cat > "$r/etc/group" <<'G'
root:x:0:
daemon:x:1:
nogroup:x:65534:
G
echo demo > "$r/etc/hostname"
echo '<h1>hello from tvctl</h1>' > "$r/var/www/index.html"
tar --numeric-owner --owner=0 --group=0 -C "$r" -cf "$out.tmp" .
mv "$out.tmp" "$out"
