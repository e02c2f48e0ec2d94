// SPDX-License-Identifier: MIT
/* agent/caps.c: the kept sets and their names (the drop itself needs root and is
 * tests/integration/test_agent_caps.sh). */
#include <linux/capability.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "caps.h"

static void test_needed_sets(void **state)
{
	(void)state;
	assert_int_equal(psc_caps_needed(false, false), 0);
	assert_true(psc_caps_needed(false, true) == PSC_CAP_BIT(CAP_BPF));
	assert_true(psc_caps_needed(true, false) ==
		    (PSC_CAP_BIT(CAP_NET_ADMIN) | PSC_CAP_BIT(CAP_DAC_OVERRIDE)));
	uint64_t all = psc_caps_needed(true, true);
	/* What an attacker would want most is never kept. */
	static const int never[] = {CAP_SYS_ADMIN,  CAP_SYS_MODULE, CAP_SETUID,	  CAP_SETGID,
				    CAP_KILL,	    CAP_NET_RAW,    CAP_SYS_BOOT, CAP_SETPCAP,
				    CAP_SYS_PTRACE, CAP_PERFMON,    CAP_SYS_RAWIO};
	for (size_t i = 0; i < sizeof(never) / sizeof(never[0]); i++)
		assert_false(all & PSC_CAP_BIT(never[i]));
}

static void test_format(void **state)
{
	char buf[256];

	(void)state;
	assert_int_equal(psc_caps_format(0, buf, sizeof(buf)), 4);
	assert_string_equal(buf, "none");
	psc_caps_format(PSC_CAP_BIT(CAP_DAC_OVERRIDE) | PSC_CAP_BIT(CAP_NET_ADMIN) |
				PSC_CAP_BIT(CAP_BPF) | PSC_CAP_BIT(CAP_CHECKPOINT_RESTORE),
			buf, sizeof(buf));
	assert_string_equal(buf, "cap_dac_override,cap_net_admin,cap_bpf,cap_checkpoint_restore");
	/* A capability newer than our table gets its number. */
	psc_caps_format(PSC_CAP_BIT(CAP_CHOWN) | PSC_CAP_BIT(45), buf, sizeof(buf));
	assert_string_equal(buf, "cap_chown,cap_45");
	/* Truncation: always terminated, the full length returned. */
	int n = psc_caps_format(PSC_CAP_BIT(CAP_SYS_PTRACE) | PSC_CAP_BIT(CAP_BPF), buf, 8);
	assert_int_equal(n, (int)strlen("cap_sys_ptrace,cap_bpf"));
	assert_string_equal(buf, "cap_sys");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_needed_sets),
		cmocka_unit_test(test_format),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
