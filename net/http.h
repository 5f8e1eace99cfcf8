/* The default HTTP server: GET / answers with the platform and the uptime. */
#ifndef NET_HTTP_H
#define NET_HTTP_H

#include "lib/compiler.h"

/* Serves on port until max requests were answered (0: for ever). Returns how many were
 * answered, or a negative error when it could not listen. Prints the URL first. */
long http_serve(uint16_t port, unsigned long max);

/* For a server another thread watches and stops (test=soak): it looks at stop at least
 * once a second, and counts as it goes. */
struct http_ctl {
	bool stop;	  /* set by the other thread: return */
	bool ready;	  /* set once it listens */
	int fd;		  /* its listening socket, once ready */
	uint64_t served;  /* requests answered */
	uint64_t dropped; /* connections closed without a whole request (4 KiB, 5 s) */
};
long http_serve_ctl(uint16_t port, unsigned long max, struct http_ctl *ctl);

#endif
