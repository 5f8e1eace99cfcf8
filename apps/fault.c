/* fault: touches one address and reports what happened, for the tests of how an app's
 * fault is handled. Usage: fault read|write ADDRESS. When the access faults the app does
 * not get to print "survived": the kernel (or Linux) ends it with SIGSEGV. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
	if (argc != 3 || (strcmp(argv[1], "read") && strcmp(argv[1], "write"))) {
		printf("usage: fault read|write ADDRESS\n");
		return 2;
	}
	volatile unsigned char *p = (volatile unsigned char *)strtoull(argv[2], NULL, 0);

	printf("fault: %s at %p\n", argv[1], (void *)p);
	fflush(stdout);
	if (argv[1][0] == 'r')
		printf("fault: survived, read %u\n", *p);
	else
		*p = 0x5a, printf("fault: survived the write\n");
	return 0;
}
