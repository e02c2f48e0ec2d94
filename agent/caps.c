// SPDX-License-Identifier: MIT
#include "caps.h"

#include <bpf/bpf.h>
#include <errno.h>
#include <linux/capability.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "cleanup.h"
#include "log.h"

/* Names as in capabilities(7), indexed by number (CAP_LAST_CAP of the headers). */
static const char *const cap_names[] = {
	"cap_chown",
	"cap_dac_override",
	"cap_dac_read_search",
	"cap_fowner",
	"cap_fsetid",
	"cap_kill",
	"cap_setgid",
	"cap_setuid",
	"cap_setpcap",
	"cap_linux_immutable",
	"cap_net_bind_service",
	"cap_net_broadcast",
	"cap_net_admin",
	"cap_net_raw",
	"cap_ipc_lock",
	"cap_ipc_owner",
	"cap_sys_module",
	"cap_sys_rawio",
	"cap_sys_chroot",
	"cap_sys_ptrace",
	"cap_sys_pacct",
	"cap_sys_admin",
	"cap_sys_boot",
	"cap_sys_nice",
	"cap_sys_resource",
	"cap_sys_time",
	"cap_sys_tty_config",
	"cap_mknod",
	"cap_lease",
	"cap_audit_write",
	"cap_audit_control",
	"cap_setfcap",
	"cap_mac_override",
	"cap_mac_admin",
	"cap_syslog",
	"cap_wake_alarm",
	"cap_block_suspend",
	"cap_audit_read",
	"cap_perfmon",
	"cap_bpf",
	"cap_checkpoint_restore",
};
_Static_assert(PSC_ARRAY_SIZE(cap_names) == CAP_LAST_CAP + 1, "a name for every capability");

uint64_t psc_caps_needed(bool manage, bool bpf)
{
	uint64_t set = 0;

	if (bpf)
		set |= PSC_CAP_BIT(CAP_BPF);
	if (manage)
		set |= PSC_CAP_BIT(CAP_NET_ADMIN) | PSC_CAP_BIT(CAP_DAC_OVERRIDE);
	return set;
}

int psc_caps_format(uint64_t set, char *buf, size_t size)
{
	size_t n = 0;

	if (size)
		buf[0] = '\0';
	if (!set)
		return snprintf(buf, size, "none");
	for (unsigned c = 0; c < 64; c++) {
		char unknown[16];
		const char *name = unknown;
		int w;

		if (!(set & PSC_CAP_BIT(c)))
			continue;
		if (c < PSC_ARRAY_SIZE(cap_names))
			name = cap_names[c];
		else
			snprintf(unknown, sizeof(unknown), "cap_%u", c);
		w = snprintf(n < size ? buf + n : NULL, n < size ? size - n : 0, "%s%s",
			     n ? "," : "", name);
		if (w < 0)
			return w;
		n += (size_t)w;
	}
	return (int)n;
}

static unsigned last_cap(void)
{
	FILE *f = fopen("/proc/sys/kernel/cap_last_cap", "re");
	unsigned v = CAP_LAST_CAP;

	if (f) {
		if (fscanf(f, "%u", &v) != 1 || v > 63)
			v = CAP_LAST_CAP;
		fclose(f);
	}
	return v;
}

int psc_caps_drop(uint64_t keep, uint64_t *kept)
{
	struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3};
	struct __user_cap_data_struct d[2];
	unsigned last = last_cap();
	uint64_t prm;

	memset(d, 0, sizeof(d));
	if (syscall(SYS_capget, &h, d) < 0)
		return -errno;
	prm = (uint64_t)d[0].permitted | (uint64_t)d[1].permitted << 32;
	/* The bounding set first, while CAP_SETPCAP is still effective. */
	if (prm & PSC_CAP_BIT(CAP_SETPCAP)) {
		for (unsigned c = 0; c <= last; c++) {
			if (keep & PSC_CAP_BIT(c))
				continue;
			if (prctl(PR_CAPBSET_DROP, c, 0, 0, 0) < 0 && errno != EINVAL)
				return -errno;
		}
	}
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
		return -errno;
	prm &= keep;
	memset(d, 0, sizeof(d));
	d[0].permitted = d[0].effective = (uint32_t)prm;
	d[1].permitted = d[1].effective = (uint32_t)(prm >> 32);
	if (syscall(SYS_capset, &h, d) < 0)
		return -errno;
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return -errno;
	if (kept)
		*kept = prm;
	return 0;
}

/* Effective = @eff & permitted, permitted unchanged. */
static int set_effective(uint64_t eff)
{
	struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3};
	struct __user_cap_data_struct d[2];

	memset(d, 0, sizeof(d));
	if (syscall(SYS_capget, &h, d) < 0)
		return -errno;
	d[0].effective = d[0].permitted & (uint32_t)eff;
	d[1].effective = d[1].permitted & (uint32_t)(eff >> 32);
	return syscall(SYS_capset, &h, d) < 0 ? -errno : 0;
}

/* Does a command on an open map need CAP_BPF on this kernel? A feature probe, not a
 * version check: the answer depends on the kernel and on unprivileged_bpf_disabled. */
static bool bpf_needs_cap(int map_fd)
{
	struct bpf_map_info info;
	uint32_t len = sizeof(info);
	bool refused;

	if (set_effective(~PSC_CAP_BIT(CAP_BPF) & ~PSC_CAP_BIT(CAP_SYS_ADMIN)) < 0)
		return true;
	memset(&info, 0, sizeof(info));
	refused = bpf_obj_get_info_by_fd(map_fd, &info, &len) < 0 && errno == EPERM;
	(void)set_effective(~UINT64_C(0));
	return refused;
}

int psc_caps_restrict_agent(bool manage, int map_fd)
{
	uint64_t kept = 0;
	char names[512];
	int r = psc_caps_drop(psc_caps_needed(manage, bpf_needs_cap(map_fd)), &kept);

	if (r < 0)
		return psc_log_err_r(r, "cannot drop capabilities");
	psc_caps_format(kept, names, sizeof(names));
	psc_info("AGENT-CAPS", "capabilities kept: %s%s; no_new_privs set", names,
		 manage ? " (--manage: cgroup writes and egress limits)" : "");
	return 0;
}
