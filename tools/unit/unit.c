/* Runs every registered host unit test (optionally only those whose name contains argv[1]). */
#include "tools/unit/unit.h"

#include <string.h>

int unit_failures;
static struct unit_test *tests, **tail = &tests;

void unit_register(struct unit_test *t)
{
	*tail = t;
	tail = &t->next;
}

int main(int argc, char **argv)
{
	int passed = 0, failed = 0;

	for (struct unit_test *t = tests; t; t = t->next) {
		if (argc > 1 && !strstr(t->name, argv[1]))
			continue;
		int before = unit_failures;

		t->fn();
		if (unit_failures == before) {
			passed++;
		} else {
			failed++;
			printf("FAIL %s\n", t->name);
		}
	}
	printf("host unit tests: %d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
