/* The default HTTP server: GET / answers with the platform and the uptime. */
#ifndef NET_HTTP_H
#define NET_HTTP_H

#include "lib/compiler.h"

/* Serves on port until max requests were answered (0: for ever). Returns how many were
 * answered, or a negative error when it could not listen. Prints the URL first. */
long http_serve(uint16_t port, unsigned long max);

#endif
