/* Guest self-tests, chosen with test=NAME on the command line. Each reports exactly one
 * line the test runner parses: "TEST <name> PASS|FAIL <detail>". */
#ifndef COMMON_SELFTEST_H
#define COMMON_SELFTEST_H

#include "arch_x86_64/bootinfo.h"

/* Runs test `name`; returns true when it passed. */
bool selftest_run(const char *name, const struct boot_info *bi);

#endif
