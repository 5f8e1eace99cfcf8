/* Guest self-tests, chosen with test=NAME on the command line. Each reports exactly one
 * line the test runner parses: "TEST <name> PASS|FAIL <detail>". */
#ifndef COMMON_SELFTEST_H
#define COMMON_SELFTEST_H

#include "arch_x86_64/bootinfo.h"

#include "lib/format.h"

/* Runs test `name`; returns true when it passed. */
bool selftest_run(const char *name, const struct boot_info *bi);

/* What a test reports: PASS unless an EXPECT failed; the first failure explains it. */
struct result {
	bool ok;
	char detail[200];
	size_t len;
};

void result_note(struct result *r, const char *fmt, ...) __printf(2, 3);

#define EXPECT(r, cond, ...)                              \
	do {                                              \
		if (!(cond)) {                            \
			if ((r)->ok)                      \
				(r)->len = 0;             \
			(r)->ok = false;                  \
			result_note(r, __VA_ARGS__);      \
			result_note(r, "; ");             \
		}                                         \
	} while (0)

/* the tests other folders own */
void selftest_mm(struct result *r, const struct boot_info *bi);
void selftest_mm_wx(struct result *r, const struct boot_info *bi);
void selftest_mm_badfree(struct result *r, const struct boot_info *bi);
void selftest_smap(struct result *r, const struct boot_info *bi);
void selftest_clock(struct result *r, const struct boot_info *bi);
void selftest_timer(struct result *r, const struct boot_info *bi);
void selftest_sched(struct result *r, const struct boot_info *bi);
void selftest_smp(struct result *r, const struct boot_info *bi);
void selftest_balance(struct result *r, const struct boot_info *bi);
void selftest_net_raw(struct result *r, const struct boot_info *bi);
void selftest_reconnect(struct result *r, const struct boot_info *bi);
void selftest_tx_stall(struct result *r, const struct boot_info *bi);
void selftest_net_lie(struct result *r, const struct boot_info *bi);
void selftest_blk(struct result *r, const struct boot_info *bi);
void selftest_blk_reconnect(struct result *r, const struct boot_info *bi);
void selftest_blk_lie(struct result *r, const struct boot_info *bi);
void selftest_udp_echo(struct result *r, const struct boot_info *bi);
void selftest_tcp(struct result *r, const struct boot_info *bi);
void selftest_http(struct result *r, const struct boot_info *bi);
void selftest_malformed(struct result *r, const struct boot_info *bi);
void selftest_soak(struct result *r, const struct boot_info *bi);

#endif
