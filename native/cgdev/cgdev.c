/*
 * cgdev: attach a device allowlist to a cgroup v2 directory as a BPF_PROG_TYPE_CGROUP_DEVICE program —
 * the cgroup v2 replacement for v1's devices.allow/devices.deny (v2 has no devices controller).
 *
 *   cgdev attach CGROUP_DIR RULE...     RULE is the devices.allow syntax: "c 1:3 rwm", "b *:* m", "a *:* rwm"
 *
 * Everything not matched by a rule is denied. The program is attached with BPF_F_ALLOW_MULTI and stays
 * attached (the kernel holds it) after this process exits; it is freed when the cgroup is removed.
 * Static, no libbpf: the program is a few instructions per rule, assembled here.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#define MAX_RULES 256
#define MAX_INSNS (8 + MAX_RULES * 8)

struct rule {
	int type;      /* 0 = any ('a'), else BPF_DEVCG_DEV_BLOCK / BPF_DEVCG_DEV_CHAR */
	long major;    /* -1 = any */
	long minor;    /* -1 = any */
	unsigned acc;  /* BPF_DEVCG_ACC_* bits */
};

static struct bpf_insn insns[MAX_INSNS];
static int n_insns;

static void emit(uint8_t code, uint8_t dst, uint8_t src, int16_t off, int32_t imm)
{
	struct bpf_insn i = {.code = code, .dst_reg = dst, .src_reg = src, .off = off, .imm = imm};
	insns[n_insns++] = i;
}

#define LDX_W(dst, src, off) emit(BPF_LDX | BPF_MEM | BPF_W, dst, src, off, 0)
#define ALU32_K(op, dst, imm) emit(BPF_ALU | (op) | BPF_K, dst, 0, 0, imm)
#define MOV64_K(dst, imm) emit(BPF_ALU64 | BPF_MOV | BPF_K, dst, 0, 0, imm)
#define MOV64_X(dst, src) emit(BPF_ALU64 | BPF_MOV | BPF_X, dst, src, 0, 0)
#define JNE_K(dst, imm, off) emit(BPF_JMP | BPF_JNE | BPF_K, dst, 0, off, imm)
#define EXIT() emit(BPF_JMP | BPF_EXIT, 0, 0, 0, 0)

static int parse_num(const char *s, long *out)
{
	if (strcmp(s, "*") == 0) {
		*out = -1;
		return 0;
	}
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || *end || end == s || v < 0 || v > 0xFFFFFFFFL)
		return -1;
	*out = v;
	return 0;
}

/* "c 1:3 rwm" */
static int parse_rule(const char *text, struct rule *r)
{
	char type, nums[64], acc[8];
	if (sscanf(text, " %c %63s %7s", &type, nums, acc) != 3)
		return -1;
	switch (type) {
	case 'a': r->type = 0; break;
	case 'b': r->type = BPF_DEVCG_DEV_BLOCK; break;
	case 'c': r->type = BPF_DEVCG_DEV_CHAR; break;
	default: return -1;
	}
	char *colon = strchr(nums, ':');
	if (!colon)
		return -1;
	*colon = 0;
	if (parse_num(nums, &r->major) || parse_num(colon + 1, &r->minor))
		return -1;
	r->acc = 0;
	for (const char *p = acc; *p; p++) {
		if (*p == 'r') r->acc |= BPF_DEVCG_ACC_READ;
		else if (*p == 'w') r->acc |= BPF_DEVCG_ACC_WRITE;
		else if (*p == 'm') r->acc |= BPF_DEVCG_ACC_MKNOD;
		else return -1;
	}
	return r->acc ? 0 : -1;
}

/* Registers after the prologue: r2 = device type, r3 = requested access, r4 = major, r5 = minor. */
static void assemble(const struct rule *rules, int n)
{
	const unsigned all = BPF_DEVCG_ACC_READ | BPF_DEVCG_ACC_WRITE | BPF_DEVCG_ACC_MKNOD;
	LDX_W(2, 1, 0);
	ALU32_K(BPF_AND, 2, 0xFFFF);
	LDX_W(3, 1, 0);
	ALU32_K(BPF_RSH, 3, 16);
	LDX_W(4, 1, 4);
	LDX_W(5, 1, 8);
	for (int i = 0; i < n; i++) {
		const struct rule *r = &rules[i];
		/* block length: type jne (1) + access (3) + major (1) + minor (1) + allow (2) */
		int len = (r->type != 0) + ((r->acc & all) != all ? 3 : 0) + (r->major >= 0) + (r->minor >= 0) + 2;
		int pos = 0; /* instructions of this block emitted so far */
#define SKIP() ((int16_t)(len - pos - 1))
		if (r->type != 0) {
			JNE_K(2, r->type, SKIP());
			pos++;
		}
		if ((r->acc & all) != all) {
			/* every requested bit must be allowed: (access & ~allowed) == 0 */
			MOV64_X(1, 3);
			pos++;
			ALU32_K(BPF_AND, 1, (int32_t)(~r->acc & all));
			pos++;
			JNE_K(1, 0, SKIP());
			pos++;
		}
		if (r->major >= 0) {
			JNE_K(4, (int32_t)r->major, SKIP());
			pos++;
		}
		if (r->minor >= 0) {
			JNE_K(5, (int32_t)r->minor, SKIP());
			pos++;
		}
		MOV64_K(0, 1);
		EXIT();
#undef SKIP
	}
	MOV64_K(0, 0);
	EXIT();
}

static long sys_bpf(int cmd, union bpf_attr *attr)
{
	return syscall(__NR_bpf, cmd, attr, sizeof(*attr));
}

int main(int argc, char **argv)
{
	if (argc < 3 || strcmp(argv[1], "attach") != 0) {
		fprintf(stderr, "usage: cgdev attach CGROUP_DIR RULE...   (RULE like \"c 1:3 rwm\")\n");
		return 2;
	}
	int n = argc - 3;
	if (n > MAX_RULES) {
		fprintf(stderr, "cgdev: too many rules (max %d)\n", MAX_RULES);
		return 2;
	}
	static struct rule rules[MAX_RULES];
	for (int i = 0; i < n; i++) {
		if (parse_rule(argv[3 + i], &rules[i])) {
			fprintf(stderr, "cgdev: bad rule \"%s\" (want TYPE MAJOR:MINOR ACCESS, e.g. \"c 1:3 rwm\")\n", argv[3 + i]);
			return 2;
		}
	}
	assemble(rules, n);

	static char log[65536];
	union bpf_attr load;
	memset(&load, 0, sizeof(load));
	load.prog_type = BPF_PROG_TYPE_CGROUP_DEVICE;
	load.insns = (uint64_t)(uintptr_t)insns;
	load.insn_cnt = (uint32_t)n_insns;
	load.license = (uint64_t)(uintptr_t)"GPL";
	load.log_buf = (uint64_t)(uintptr_t)log;
	load.log_size = sizeof(log);
	load.log_level = 1;
	int prog = (int)sys_bpf(BPF_PROG_LOAD, &load);
	if (prog < 0) {
		fprintf(stderr, "cgdev: loading the device program failed: %s\n%s", strerror(errno), log);
		return 1;
	}

	int cg = open(argv[2], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (cg < 0) {
		fprintf(stderr, "cgdev: cannot open cgroup %s: %s\n", argv[2], strerror(errno));
		return 1;
	}
	union bpf_attr att;
	memset(&att, 0, sizeof(att));
	att.target_fd = (uint32_t)cg;
	att.attach_bpf_fd = (uint32_t)prog;
	att.attach_type = BPF_CGROUP_DEVICE;
	att.attach_flags = BPF_F_ALLOW_MULTI;
	if (sys_bpf(BPF_PROG_ATTACH, &att) < 0) {
		fprintf(stderr, "cgdev: attaching the device program to %s failed: %s\n", argv[2], strerror(errno));
		return 1;
	}
	return 0;
}
