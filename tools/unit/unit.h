/* A minimal host unit-test harness: TEST(name) { ... CHECK(expr); } registers itself;
 * unit.c runs every test and ends with "N passed, N failed". */
#ifndef TOOLS_UNIT_H
#define TOOLS_UNIT_H

#include <stdio.h>

struct unit_test {
	const char *name;
	void (*fn)(void);
	struct unit_test *next;
};

void unit_register(struct unit_test *t);
extern int unit_failures;

#define TEST(id)                                                        \
	static void id(void);                                           \
	static struct unit_test id##_reg = { #id, id, NULL };           \
	__attribute__((constructor)) static void id##_ctor(void)        \
	{                                                               \
		unit_register(&id##_reg);                               \
	}                                                               \
	static void id(void)

#define CHECK(e)                                                                   \
	do {                                                                       \
		if (!(e)) {                                                        \
			printf("  %s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #e); \
			unit_failures++;                                           \
		}                                                                  \
	} while (0)

#define CHECK_EQ(a, b)                                                                  \
	do {                                                                            \
		long long a_ = (long long)(a), b_ = (long long)(b);                     \
		if (a_ != b_) {                                                         \
			printf("  %s:%d: CHECK_EQ failed: %s == %lld, expected %s == %lld\n", \
			       __FILE__, __LINE__, #a, a_, #b, b_);                     \
			unit_failures++;                                                \
		}                                                                       \
	} while (0)

#define CHECK_STR(a, b)                                                                \
	do {                                                                           \
		const char *a_ = (a), *b_ = (b);                                       \
		if (strcmp(a_, b_)) {                                                  \
			printf("  %s:%d: CHECK_STR failed: %s is \"%s\", expected \"%s\"\n", \
			       __FILE__, __LINE__, #a, a_, b_);                        \
			unit_failures++;                                               \
		}                                                                      \
	} while (0)

#endif
