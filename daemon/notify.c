#include "notify.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-daemon.h>

#include "loop.h"

static char last_status[256];

void notify_ready(const char *status)
{
	snprintf(last_status, sizeof(last_status), "%s", status);
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

void notify_status(const char *status)
{
	if (strncmp(status, last_status, sizeof(last_status) - 1) == 0)
		return;
	snprintf(last_status, sizeof(last_status), "%s", status);
	sd_notifyf(0, "STATUS=%s", last_status);
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

bool notify_can_store(void)
{
	const char *max = getenv("FDSTORE");

	return getenv("NOTIFY_SOCKET") && max && strtoul(max, NULL, 10) > 0;
}

int notify_store(int fd, const char *name)
{
	char message[128];
	int r;

	snprintf(message, sizeof(message), "FDSTORE=1\nFDNAME=%s", name);
	r = sd_pid_notify_with_fds(0, 0, message, &fd, 1);

	return r > 0 ? 0 : r < 0 ? r : -ENOTCONN;
}

void notify_unstore(const char *name)
{
	sd_notifyf(0, "FDSTOREREMOVE=1\nFDNAME=%s", name);
}
