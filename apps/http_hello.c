/* http_hello: a tiny HTTP/1.0 server. Answers every request with "hello from SYSNAME
 * RELEASE (VERSION), up N s" (uname and sysinfo: on Amphi the version names the mode and
 * the platform), and ends after COUNT requests (0: never). A line per request on the console,
 * unless the third word is "quiet" (make bench: the serial console would be what it
 * measures). Usage: http_hello PORT COUNT [quiet] */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/sysinfo.h>
#include <sys/utsname.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	if (argc != 3 && !(argc == 4 && !strcmp(argv[3], "quiet"))) {
		printf("usage: http_hello PORT COUNT [quiet]\n");
		return 2;
	}
	int port = atoi(argv[1]), count = atoi(argv[2]), quiet = argc == 4;
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
	int one = 1, s = socket(AF_INET, SOCK_STREAM, 0);
	struct utsname u;

	uname(&u);
	setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof(a)) || listen(s, 64)) {
		printf("http_hello: cannot listen on port %d\n", port);
		return 1;
	}
	printf("http_hello: http server on port %d\n", port);
	fflush(stdout);
	for (int served = 0; count <= 0 || served < count;) {
		int c = accept(s, NULL, NULL);
		char req[2048], body[256], resp[512];
		size_t got = 0;

		if (c < 0)
			continue;
		/* read up to the end of the request's header */
		while (got < sizeof(req) - 1) {
			ssize_t k = read(c, req + got, sizeof(req) - 1 - got);

			if (k <= 0)
				break;
			got += k;
			req[got] = 0;
			if (strstr(req, "\r\n\r\n"))
				break;
		}
		req[got] = 0;
		char method[16] = "?", path[256] = "?";

		sscanf(req, "%15s %255s", method, path);
		struct sysinfo si = { 0 };

		sysinfo(&si);
		int n = snprintf(body, sizeof(body), "hello from %s %s (%.80s), up %ld s\n", u.sysname,
				 u.release, u.version, si.uptime);
		int m = snprintf(resp, sizeof(resp),
				 "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n"
				 "Connection: close\r\n\r\n%s", n, body);

		if (write(c, resp, m) == m)
			served++;
		close(c);
		if (!quiet)
			printf("http_hello: %s %s -> 200\n", method, path);
	}
	printf("http_hello: served %d requests\n", count);
	return 0;
}
