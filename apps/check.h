/* The apps' checks: CHECK(cond, fmt, ...) counts a check, and a failed one prints
 * "FAIL (line N): " and what fmt says, through CHECK_SAY (printf unless the app has its
 * own line writer). The matrix compares every line with Linux's, so a failure shows, and
 * the app ends with "NAME: N checks, M failed". */
#ifndef APPS_CHECK_H
#define APPS_CHECK_H

#include <stdio.h>

#ifndef CHECK_SAY
#define CHECK_SAY printf
#endif

static int checks, failed;

#define CHECK(cond, ...)                                                                    \
	do {                                                                                \
		checks++;                                                                   \
		if (!(cond)) {                                                              \
			failed++;                                                           \
			CHECK_SAY("FAIL (line %d): ", __LINE__);                           \
			CHECK_SAY(__VA_ARGS__);                                             \
			CHECK_SAY("\n");                                                    \
		}                                                                           \
	} while (0)

#endif
