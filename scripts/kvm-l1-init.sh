#!/bin/sh
# PID 1 of the L1 guest scripts/kvm-harness.sh boots (busybox sh from the initramfs it builds). Loads the
# modules the harness listed (in dependency order: the Debian package ships no modules.dep), mounts the host's
# root (9p, read-only) under a tmpfs overlay, mounts the writable results share, and runs the harness's job
# (/results/job.sh) chrooted into that view of the host. The job's exit status goes to /results/status; the
# harness treats a missing status file as "L1 did not come up". Then the guest resets (-no-reboot ends QEMU).
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
say() { echo "kvm-l1: $*" >/dev/ttyS0; }
finish() {
  sync
  echo b >/proc/sysrq-trigger
  reboot -f
}
# The kernel's own messages would interleave with the job's output on the same serial line.
echo 1 >/proc/sys/kernel/printk
while read -r mod; do
  insmod "/modules/$mod" || say "insmod $mod failed"
done </modules/order
mkdir -p /host /ov /newroot
mount -t 9p host /host -o trans=virtio,version=9p2000.L,ro,msize=512000,cache=loose || {
  say "cannot mount the host's root over 9p"
  finish
}
mount -t tmpfs -o size=3g,mode=0755 ov /ov
mkdir -p /ov/upper /ov/work
mount -t overlay overlay -o lowerdir=/host,upperdir=/ov/upper,workdir=/ov/work /newroot || {
  say 'cannot mount the overlay'
  finish
}
mount -t proc proc /newroot/proc
mount -t sysfs sys /newroot/sys
mount -t cgroup2 cgroup2 /newroot/sys/fs/cgroup 2>/dev/null
mount -t devtmpfs dev /newroot/dev
mkdir -p /newroot/dev/pts /newroot/dev/shm
mount -t devpts devpts /newroot/dev/pts
mount -t tmpfs shm /newroot/dev/shm
# No tmpfs over /tmp: the checkout under test may live there (a CI clone); the overlay's tmpfs upper already
# makes it writable.
mount -t tmpfs run /newroot/run
mkdir -p /newroot/results
mount -t 9p results /newroot/results -o trans=virtio,version=9p2000.L,msize=512000 || {
  say 'cannot mount the results share'
  finish
}
ip link set lo up 2>/dev/null
say "ready after $(cut -d' ' -f1 /proc/uptime) s of guest uptime"
chroot /newroot /usr/bin/env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root \
  TERM=dumb /bin/bash /results/job.sh </dev/null >/dev/ttyS0 2>&1
echo $? >/newroot/results/status
say "job exited with status $(cat /newroot/results/status)"
finish
