/* udp_echo: echoes UDP datagrams on one or more ports, through poll(2). Ends once it has
 * echoed COUNT datagrams and then seen none for 3 s (clients retransmit what they lost,
 * so it cannot stop at exactly COUNT), or after 30 s without any (2 minutes before the
 * first), or at once on SIGINT (a Ctrl-C on the console: make bench's, once its client
 * is done). Usage: udp_echo PORT[,PORT...] COUNT */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static volatile sig_atomic_t interrupted;

static void on_sigint(int sig)
{
	(void)sig;
	interrupted = 1;
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		printf("usage: udp_echo PORT[,PORT...] COUNT\n");
		return 2;
	}
	struct pollfd p[8];
	int n = 0;
	long want = atol(argv[2]), echoed = 0;
	char ports[64], *save = NULL;

	snprintf(ports, sizeof(ports), "%s", argv[1]);
	for (char *t = strtok_r(ports, ",", &save); t && n < 8; t = strtok_r(NULL, ",", &save)) {
		struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(atoi(t)) };
		int s = socket(AF_INET, SOCK_DGRAM, 0);

		if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof(a))) {
			printf("udp_echo: cannot bind port %s\n", t);
			return 1;
		}
		p[n++] = (struct pollfd){ .fd = s, .events = POLLIN };
	}
	/* (no SA_RESTART: poll ends with EINTR) */
	sigaction(SIGINT, &(struct sigaction){ .sa_handler = on_sigint }, NULL);
	printf("udp_echo: udp echo ready on ports %s\n", argv[1]);
	fflush(stdout);
	while (!interrupted) {
		int r = poll(p, n, echoed >= want ? 3000 : echoed ? 30000 : 120000);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			printf("udp_echo: poll failed\n");
			return 1;
		}
		if (r == 0)
			break;
		for (int i = 0; i < n; i++) {
			if (!(p[i].revents & POLLIN))
				continue;
			char buf[2048];
			struct sockaddr_in from;
			socklen_t fl = sizeof(from);
			ssize_t k = recvfrom(p[i].fd, buf, sizeof(buf), 0, (struct sockaddr *)&from, &fl);

			if (k >= 0 && sendto(p[i].fd, buf, k, 0, (struct sockaddr *)&from, fl) == k)
				echoed++;
		}
	}
	printf("udp_echo: %s\n", echoed >= want ? "done" : "too few datagrams");
	printf("bench: %ld datagrams echoed\n", echoed);
	return echoed >= want ? 0 : 1;
}
