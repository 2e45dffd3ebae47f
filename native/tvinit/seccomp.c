/* Docker-like default seccomp filter as hand-written classic BPF (no libseccomp).
 * Layout: arch check → x32 deny → clone flag check → clone3 ENOSYS → deny list (EPERM) → allow.
 * Denied calls return EPERM (as Docker's profile does) so programs see "Operation not permitted". */
#include "tvinit.h"

#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef SYS_open_tree_attr
#define SYS_open_tree_attr 467
#endif

#define X32_SYSCALL_BIT 0x40000000u
/* CLONE_NEWNS|NEWCGROUP|NEWUTS|NEWIPC|NEWUSER|NEWPID|NEWNET (Docker's mask). */
#define CLONE_NS_FLAGS 0x7E020000u

static const unsigned denied[] = {
    SYS_mount,           SYS_umount2,           SYS_pivot_root,      SYS_unshare,         SYS_setns,
    SYS_kexec_load,      SYS_kexec_file_load,   SYS_init_module,     SYS_finit_module,    SYS_delete_module,
    SYS_create_module,   SYS_bpf,               SYS_perf_event_open, SYS_keyctl,          SYS_add_key,
    SYS_request_key,     SYS_reboot,            SYS_swapon,          SYS_swapoff,         SYS_settimeofday,
    SYS_clock_settime,   SYS_clock_adjtime,     SYS_adjtimex,        SYS_acct,            SYS_open_by_handle_at,
    SYS_name_to_handle_at, SYS_userfaultfd,     SYS_lookup_dcookie,  SYS_quotactl,        SYS_quotactl_fd,
    SYS_syslog,          SYS_vhangup,           SYS_iopl,            SYS_ioperm,          SYS_uselib,
    SYS_fsopen,          SYS_fsconfig,          SYS_fsmount,         SYS_fspick,          SYS_move_mount,
    SYS_open_tree,       SYS_open_tree_attr,    SYS_mount_setattr,   SYS_io_uring_setup,  SYS_io_uring_enter,
    SYS_io_uring_register, SYS_nfsservctl,      SYS_get_kernel_syms, SYS_query_module,    SYS__sysctl,
};

#define NDENIED (sizeof denied / sizeof denied[0])
#define RET_ERRNO(e) (SECCOMP_RET_ERRNO | ((e) & SECCOMP_RET_DATA))

int install_default_seccomp(void) {
  /* 4 (arch) + 2 (nr, x32) + 2 (clone) + 2 (clone3) + 2*NDENIED + 1 allow + 3 clone arg check + 2 returns */
  struct sock_filter f[16 + 2 * NDENIED];
  size_t n = 0;
#define EMIT(x) (f[n++] = (struct sock_filter)x)
  EMIT(BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)));
  EMIT(BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0));
  EMIT(BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS));
  EMIT(BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)));
  EMIT(BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, X32_SYSCALL_BIT, 0, 1));
  EMIT(BPF_STMT(BPF_RET | BPF_K, RET_ERRNO(EPERM)));
  /* clone: jump to the flag check placed after the final ALLOW. */
  size_t clone_jump = n;
  EMIT(BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_clone, 0, 0)); /* jt patched below */
  EMIT(BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_clone3, 0, 1));
  EMIT(BPF_STMT(BPF_RET | BPF_K, RET_ERRNO(ENOSYS))); /* libc falls back to clone(2), whose flags we can see */
  for (size_t i = 0; i < NDENIED; i++) {
    EMIT(BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, denied[i], 0, 1));
    EMIT(BPF_STMT(BPF_RET | BPF_K, RET_ERRNO(EPERM)));
  }
  EMIT(BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW));
  size_t clone_check = n;
  /* args[0] low 32 bits (little endian). */
  EMIT(BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[0])));
  EMIT(BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, CLONE_NS_FLAGS, 0, 1));
  EMIT(BPF_STMT(BPF_RET | BPF_K, RET_ERRNO(EPERM)));
  EMIT(BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW));
#undef EMIT
  f[clone_jump].jt = (unsigned char)(clone_check - clone_jump - 1);
  if (clone_check - clone_jump - 1 > 255) abort(); /* jump offsets are 8-bit */
  struct sock_fprog prog = {.len = (unsigned short)n, .filter = f};
  return (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog);
}
