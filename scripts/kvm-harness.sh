#!/usr/bin/env bash
# The tests that need hardware-assisted KVM, run where it exists. On a host with VT-x/AMD-V (kvm_intel or
# kvm_amd loaded) they run here directly. Elsewhere (this CI host's /dev/kvm is software PVM) the harness boots
# a guest "L1" under QEMU TCG with an emulated AMD CPU that has SVM and nested paging: inside it kvm_amd loads
# and /dev/kvm is hardware-assisted KVM, on which the addon and QEMU's -accel kvm boot their own guests (L2).
# L1 sees this host's root read-only over virtio-9p under a tmpfs overlay (so the repo, node and every tool are
# the host's own, and nothing L1 writes reaches the host), and a second, writable 9p share carries the job
# script in and the results (exit status, vitest's JSON report) out.
#
#   scripts/kvm-harness.sh              the hardware-KVM test files (KVM_TEST_FILES below)
#   scripts/kvm-harness.sh FILE...      those test files only
#   scripts/kvm-harness.sh --bench      bench/kvm-vs-qemu.mjs instead
#   scripts/kvm-harness.sh --fetch      only download the kernel packages into the cache (set-up does this)
#   scripts/kvm-harness.sh -- CMD...    any command (run by bash in the repo), for diagnosis
#
# Exits non-zero when a test fails, when L1 did not come up or did not finish in time, or when the job failed.
# Needs: root, qemu-system-x86, busybox-static, cpio, apt (the generic Debian kernel, downloaded once into
# build/kvm-harness/ and reused offline after that).
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$(pwd)

# Test files whose subject is hardware-assisted KVM. Inside L1 they must not skip for want of it
# (TVCTL_REQUIRE_HARDWARE_KVM=1); what only software KVM (PVM) can show stays a skip there, out loud.
KVM_TEST_FILES=(
  test/integration/kvm-addon.test.ts
  test/integration/kvm-info.test.ts
  test/integration/kvm-linux.test.ts
  test/integration/vm-kvm.test.ts
)
CACHE=$REPO/build/kvm-harness
# Everything L1 runs is TCG-emulated: its system calls ~13x dearer than this host's, plain loops ~4x (the
# emulation factor of src/vm/probe.ts, which scales the tests' deadlines there). The whole run must stay within
# CI's budget (~6 min here); past this deadline QEMU is killed and the harness fails.
DEADLINE_S=${TVCTL_KVM_HARNESS_DEADLINE_S:-900}
L1_MEMORY=${TVCTL_KVM_HARNESS_MEMORY:-4G}
# One vCPU: with two, L1's kernel was seen to lock up for good (both CPUs' kworkers spinning, each waiting on
# the other) in the middle of the addon's tests, on a loaded host; QEMU's emulation of cross-CPU interrupts
# around nested SVM is the likely cause. One vCPU costs little here: the host has two cores for everything.
L1_CPUS=${TVCTL_KVM_HARNESS_CPUS:-1}
# Modules L1 loads (their dependencies are found from each module's own depends= field).
L1_MODULES=(virtio_pci 9pnet_virtio 9p overlay kvm-amd)

mode=tests
cmd=()
files=()
while [ $# -gt 0 ]; do
  case $1 in
    --bench) mode=bench ;;
    --fetch) mode=fetch ;;
    --) shift; mode=cmd; cmd=("$@"); break ;;
    -h | --help) sed -n '2,19p' "$0"; exit 0 ;;
    test/*.test.ts) files+=("$1") ;;
    *) echo "kvm-harness: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done
[ ${#files[@]} -gt 0 ] && KVM_TEST_FILES=("${files[@]}")

log() { echo "kvm-harness: $*" >&2; }
die() { log "$*"; exit 1; }

# The job: the same on this host and inside L1. $1: the results dir as the job sees it (vitest.json goes
# there in tests mode), $2: the job file to write, $3: 1 inside L1.
write_job() {
  local results=$1 job=$2 inside_l1=$3 files
  files=$(printf ' %q' "${KVM_TEST_FILES[@]}")
  {
    echo 'set -uo pipefail'
    printf 'cd %q\n' "$REPO"
    echo 'export CI=1 TVCTL_REQUIRE_TOOLS=1 TVCTL_REQUIRE_HARDWARE_KVM=1'
    # Node's startup snapshot (dist/tvctl.blob, bin/tvctl's fast path) holds code for the CPU it was built on;
    # V8 refuses it on another CPU model (L1's emulated EPYC), so L1 builds its own, into its overlay.
    if [ "$inside_l1" = 1 ]; then
      echo 'NODE_NO_WARNINGS=1 node --snapshot-blob dist/tvctl.blob --build-snapshot dist/fast.cjs || exit 1'
    fi
    # The guest kernel for L2, installed offline from the .deb the harness fetched, into a data root of the
    # job's own; the test files take it from $TVCTL_TEST_KERNEL.
    printf 'export TVCTL_KERNEL_DEB=%q\n' "$CLOUD_DEB"
    echo 'kdata=$(mktemp -d /tmp/tvctl-kvm-kernel.XXXXXX)'
    echo 'trap '"'"'rm -rf "$kdata"'"'"' EXIT'
    echo 'bin/tvctl.js vm kernel install --data "$kdata" --from "$TVCTL_KERNEL_DEB" || exit 1'
    echo 'export TVCTL_TEST_KERNEL=$kdata/kernels/vmlinuz'
    case $mode in
      tests)
        printf 'npx vitest run --project integration --reporter=default --reporter=./test/helpers/skip-reporter.ts --reporter=json --outputFile.json=%q%s\n' \
          "$results/vitest.json" "$files"
        ;;
      bench) printf 'node bench/kvm-vs-qemu.mjs\n' ;;
      cmd) printf '%q ' "${cmd[@]}"; echo ;;
    esac
  } >"$job"
}

# A .deb from apt for the running Debian release, cached: `$1` is the meta package (linux-image-amd64), the
# versioned package it depends on is downloaded once. Offline, the newest cached one is used.
fetch_kernel_deb() {
  local meta=$1 pkg deb
  pkg=$(apt-cache depends --no-recommends --no-suggests "$meta" 2>/dev/null |
    sed -n 's/^ *|\{0,1\}Depends: \(linux-image-[^ ]*\).*/\1/p' | head -n1 || true)
  if [ -n "$pkg" ]; then
    deb=$(ls "$CACHE"/"${pkg}"_*.deb 2>/dev/null | head -n1 || true)
    if [ -z "$deb" ]; then
      (cd "$CACHE" && apt-get download -q "$pkg" >/dev/null 2>&1) || log "apt-get download $pkg failed"
      deb=$(ls "$CACHE"/"${pkg}"_*.deb 2>/dev/null | head -n1 || true)
    fi
  fi
  if [ -z "${deb:-}" ]; then
    if [ "$meta" = linux-image-cloud-amd64 ]; then
      deb=$(ls -t "$CACHE"/linux-image-*-cloud-amd64_*.deb 2>/dev/null | head -n1 || true)
    else
      deb=$(ls -t "$CACHE"/linux-image-*-amd64_*.deb 2>/dev/null | grep -v -- '-cloud-amd64_' | head -n1 || true)
    fi
  fi
  [ -n "$deb" ] || die "no $meta package: apt-get download failed and none is cached in $CACHE"
  echo "$deb"
}

# Reads a module's depends= field from its .modinfo section (no modinfo/kmod needed).
module_depends() { tr '\0' '\n' <"$1" | sed -n 's/^depends=//p' | head -n1 | tr ',' ' '; }

# L1's initramfs: busybox, the module closure in load order, the init script. Cached per kernel package.
build_initramfs() {
  local deb=$1 out=$2 tree=$3
  local stamp=$tree/.from
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$(basename "$deb")" ]; then
    rm -rf "$tree"
    mkdir -p "$tree"
    dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$tree" --wildcards './boot/vmlinuz-*' './lib/modules/*'
    basename "$deb" >"$stamp"
  fi
  local root
  root=$(mktemp -d "$WORK/initramfs.XXXXXX")
  mkdir -p "$root/bin" "$root/modules" "$root/proc" "$root/sys" "$root/dev"
  cp /bin/busybox "$root/bin/busybox"
  for a in $("$root/bin/busybox" --list); do [ "$a" = busybox ] || ln -sf busybox "$root/bin/$a"; done
  cp scripts/kvm-l1-init.sh "$root/init"
  chmod 755 "$root/init"
  declare -A path=() done=()
  local f n
  while IFS= read -r f; do
    n=${f##*/}
    n=${n%.ko}
    path[${n//-/_}]=$f
  done < <(find "$tree/lib/modules" -name '*.ko')
  : >"$root/modules/order"
  visit() {
    local m=${1//-/_} d
    [ -n "${done[$m]:-}" ] && return 0
    done[$m]=1
    [ -n "${path[$m]:-}" ] || die "module $1 is not in $(basename "$deb")"
    for d in $(module_depends "${path[$m]}"); do visit "$d"; done
    cp "${path[$m]}" "$root/modules/$m.ko"
    echo "$m.ko" >>"$root/modules/order"
  }
  for n in "${L1_MODULES[@]}"; do visit "$n"; done
  (cd "$root" && find . | cpio -o -H newc --quiet) >"$out"
  rm -rf "$root"
}

print_results() {
  local json=$1
  [ -f "$json" ] || { log "no vitest report came back"; return 1; }
  node -e '
    const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
    let bad = 0;
    for (const f of r.testResults) for (const t of f.assertionResults) {
      const mark = t.status === "passed" ? "ok  " : t.status === "failed" ? "FAIL" : "skip";
      console.log(`${mark} ${f.name.replace(/^.*test\/integration\//, "")} > ${t.fullName} (${Math.round(t.duration ?? 0)} ms)`);
      if (t.status === "failed") { bad++; for (const m of t.failureMessages) console.log("     " + m.split("\n").slice(0, 6).join("\n     ")); }
    }
    for (const f of r.testResults) if (f.status === "failed" && f.assertionResults.every((t) => t.status !== "failed")) {
      bad++; console.log(`FAIL ${f.name}: ${f.message}`);
    }
    console.log(`kvm-harness: ${r.numPassedTests} passed, ${r.numFailedTests} failed, ${r.numPendingTests + r.numTodoTests} skipped, ${r.numFailedTestSuites} failed files`);
    process.exit(bad || r.numFailedTests || r.numFailedTestSuites || !r.success ? 1 : 0);
  ' "$json"
}

[ "$(id -u)" = 0 ] || die 'needs root (the KVM tests and 9p share the host root)'
mkdir -p "$CACHE"
chmod 755 "$CACHE" # apt-get download's _apt sandbox writes here
WORK=$(mktemp -d /tmp/tvctl-kvm-harness.XXXXXX)
QEMU_PID=
TAIL_PID=
cleanup() {
  local status=$?
  set +e # every step runs, whatever the one before returned (a killed QEMU's wait returns 137)
  if [ -n "$QEMU_PID" ]; then
    kill -KILL "$QEMU_PID" 2>/dev/null
    wait "$QEMU_PID" 2>/dev/null
  fi
  [ -n "$TAIL_PID" ] && kill "$TAIL_PID" 2>/dev/null
  rm -rf "$WORK"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

t0=$(date +%s)
CLOUD_DEB=$(fetch_kernel_deb linux-image-cloud-amd64)
if [ "$mode" = fetch ]; then
  log "cached: $(basename "$CLOUD_DEB") $(basename "$(fetch_kernel_deb linux-image-amd64)")"
  exit 0
fi

if [ -e /sys/module/kvm_intel ] || [ -e /sys/module/kvm_amd ]; then
  log 'hardware-assisted KVM on this host: running the job here'
  mkdir -p "$WORK/results"
  write_job "$WORK/results" "$WORK/results/job.sh" 0
  set +e
  bash "$WORK/results/job.sh"
  status=$?
  set -e
  [ "$mode" = tests ] && { print_results "$WORK/results/vitest.json" || status=1; }
  exit "$status"
fi

L1_DEB=$(fetch_kernel_deb linux-image-amd64)
log "L1 kernel: $(basename "$L1_DEB"); L2 guest kernel: $(basename "$CLOUD_DEB")"
build_initramfs "$L1_DEB" "$WORK/l1.cpio" "$CACHE/l1-tree"
L1_KERNEL=$(ls "$CACHE"/l1-tree/boot/vmlinuz-* | head -n1)
RESULTS=$WORK/results
mkdir -p "$RESULTS"
# inside L1 the results share is mounted at /results
write_job /results "$RESULTS/job.sh" 1
: >"$WORK/serial.log"
t_boot=$(date +%s)
qemu-system-x86_64 -accel tcg -cpu EPYC,+svm,+npt -smp "$L1_CPUS" -m "$L1_MEMORY" \
  -nodefaults -display none -no-reboot -monitor none \
  -kernel "$L1_KERNEL" -initrd "$WORK/l1.cpio" \
  -append 'console=ttyS0 panic=-1 quiet mitigations=off' \
  -serial "file:$WORK/serial.log" \
  -virtfs local,path=/,mount_tag=host,security_model=none,readonly=on,multidevs=remap \
  -virtfs "local,path=$RESULTS,mount_tag=results,security_model=none,multidevs=remap" \
  </dev/null >"$WORK/qemu.log" 2>&1 &
QEMU_PID=$!
tail -n +1 -f --pid="$QEMU_PID" "$WORK/serial.log" &
TAIL_PID=$!
timed_out=0
while kill -0 "$QEMU_PID" 2>/dev/null; do
  if [ $(($(date +%s) - t_boot)) -ge "$DEADLINE_S" ]; then
    timed_out=1
    log "L1 did not finish within ${DEADLINE_S} s: killing QEMU"
    kill -KILL "$QEMU_PID"
    break
  fi
  sleep 1
done
wait "$QEMU_PID" 2>/dev/null || true
QEMU_PID=
wait "$TAIL_PID" 2>/dev/null || true
TAIL_PID=
t_end=$(date +%s)
# (QEMU's warnings that TCG lacks some of EPYC's CPUID features are expected: nothing here needs them)
grep -v "TCG doesn't support requested feature" "$WORK/qemu.log" >&2 || true
grep -q '^kvm-l1: ready' "$WORK/serial.log" || die 'L1 did not come up (no "ready" line on its serial console)'
[ -f "$RESULTS/status" ] || die "L1's job did not finish (timed out: $timed_out)"
status=$(cat "$RESULTS/status")
log "L1 job exit status $status; wall time $((t_end - t0)) s (L1 boot to power-off $((t_end - t_boot)) s)"
if [ "$mode" = tests ]; then print_results "$RESULTS/vitest.json" || status=1; fi
exit "$status"
