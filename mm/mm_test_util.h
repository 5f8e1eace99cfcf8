/* Host-test support for mm/: catches mm_fail() so a test can check that a bad free is
 * detected (and with which message) and carry on. */
#ifndef MM_TEST_UTIL_H
#define MM_TEST_UTIL_H

#include <setjmp.h>

extern jmp_buf mm_test_jump;
extern char mm_test_msg[256];
extern int mm_test_armed;

/* Evaluates `stmt`; true when it called mm_fail (message in mm_test_msg). */
#define MM_FAILS(stmt)                                          \
	({                                                      \
		int failed_ = 0;                                \
		mm_test_msg[0] = 0;                             \
		mm_test_armed = 1;                              \
		if (setjmp(mm_test_jump) == 0) {                \
			stmt;                                   \
		} else {                                        \
			failed_ = 1;                            \
		}                                               \
		mm_test_armed = 0;                              \
		failed_;                                        \
	})

#endif
