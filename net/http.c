/* A tiny HTTP/1.0 server over the socket API: one request per connection, served in
 * turn. GET / (or any path) answers 200 with the platform and the uptime; anything that
 * is not a GET gets 405; a request that does not end within 4 KiB or 5 s is dropped. */
#include "net/http.h"

#include "common/console.h"
#include "common/hal.h"
#include "lib/errno.h"
#include "lib/format.h"
#include "lib/string.h"
#include "net/net.h"
#include "net/socket.h"
#include "sched/sched.h"

#define REQ_MAX 4096

static void answer(int c, const char *req)
{
	char body[192], head[160];
	uint64_t ms = uptime_ns() / 1000000;
	bool get = !strncmp(req, "GET ", 4);

	if (get)
		ksnprintf(body, sizeof(body),
			  "Amphi 0.1 on %s: up %lu.%03lu s, %u vCPUs\n", hal->name, ms / 1000,
			  ms % 1000, hal_info.vcpus);
	else
		ksnprintf(body, sizeof(body), "only GET is served here\n");
	int n = ksnprintf(head, sizeof(head),
			  "HTTP/1.0 %s\r\nContent-Type: text/plain\r\nContent-Length: %u\r\n"
			  "Connection: close\r\nServer: amphi\r\n\r\n",
			  get ? "200 OK" : "405 Method Not Allowed", (unsigned)strlen(body));

	sock_send(c, head, (size_t)n);
	sock_send(c, body, strlen(body));
}

long http_serve(uint16_t port, unsigned long max)
{
	return http_serve_ctl(port, max, NULL);
}

long http_serve_ctl(uint16_t port, unsigned long max, struct http_ctl *ctl)
{
	static char req[REQ_MAX + 1];
	int s = sock_socket(SOCK_STREAM);
	unsigned long served = 0;
	int rc;

	if (s < 0)
		return s;
	if ((rc = sock_bind(s, 0, port)) || (rc = sock_listen(s, 8))) {
		sock_close(s);
		return rc;
	}
	if (ctl) { /* accept gives up after 1 s, so that stop is seen */
		sock_set_timeout(s, 1000);
		ctl->fd = s;
		__atomic_store_n(&ctl->ready, true, __ATOMIC_RELEASE);
	}
	uint32_t a = net_addr();

	kprintf("net: http server on http://%u.%u.%u.%u:%u/\n", a & 255, a >> 8 & 255,
		a >> 16 & 255, a >> 24, port);
	while ((!max || served < max) && !(ctl && __atomic_load_n(&ctl->stop, __ATOMIC_ACQUIRE))) {
		int c = sock_accept(s, NULL, NULL);

		if (c < 0)
			continue;
		sock_set_timeout(c, 5000);
		size_t len = 0;
		long n;

		while (len < REQ_MAX && (n = sock_recv(c, req + len, REQ_MAX - len)) > 0) {
			len += (size_t)n;
			req[len] = 0;
			if (strstr(req, "\r\n\r\n") || strstr(req, "\n\n"))
				break;
		}
		req[len] = 0;
		if (len && (strstr(req, "\r\n\r\n") || strstr(req, "\n\n"))) {
			answer(c, req);
			served++;
		} else if (ctl) {
			__atomic_add_fetch(&ctl->dropped, 1, __ATOMIC_RELAXED);
		}
		if (ctl)
			__atomic_store_n(&ctl->served, served, __ATOMIC_RELAXED);
		sock_close(c);
	}
	sock_close(s);
	return (long)served;
}
