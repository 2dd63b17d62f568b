#include "notify.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <systemd/sd-daemon.h>

#include "loop.h"
#include "server.h"

static char last_status[256];

static void format_status(struct server *const *servers, size_t n_servers, char *buf, size_t len)
{
	struct counters t;
	size_t n;

	server_totals(servers, n_servers, &t, &n);
	snprintf(buf, len,
		 "%zu services; tcp %" PRIu64 " active, %" PRIu64 " accepted; udp %" PRIu64 " datagrams; %" PRIu64
		 " refused", n, t.tcp_active, t.tcp_accepted, t.udp_received, t.tcp_refused + t.udp_refused);
}

void notify_ready(struct server *const *servers, size_t n)
{
	format_status(servers, n, last_status, sizeof(last_status));
	sd_notifyf(0, "READY=1\nSTATUS=%s", last_status);
}

void notify_reloading(void)
{
	sd_notifyf(0, "RELOADING=1\nMONOTONIC_USEC=%" PRIu64, now_usec());
}

void notify_stopping(void)
{
	sd_notify(0, "STOPPING=1\nSTATUS=stopping");
}

void notify_status(struct server *const *servers, size_t n)
{
	char status[sizeof(last_status)];

	format_status(servers, n, status, sizeof(status));
	if (strcmp(status, last_status) == 0)
		return;
	memcpy(last_status, status, sizeof(status));
	sd_notifyf(0, "STATUS=%s", status);
}

uint64_t notify_watchdog_interval(void)
{
	uint64_t usec = 0;

	if (sd_watchdog_enabled(0, &usec) <= 0)
		return 0;
	return usec / 2;
}

void notify_watchdog(void)
{
	sd_notify(0, "WATCHDOG=1");
}
