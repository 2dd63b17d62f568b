/* Telling systemd how minetd is doing: readiness, reloads, status, watchdog. */
#pragma once

#include <stdint.h>

void notify_ready(const char *status);
void notify_reloading(void);
void notify_stopping(void);
/* Sends STATUS= when it changed since the last time. */
void notify_status(const char *status);
/* Returns the watchdog ping interval in microseconds, 0 when there is no watchdog. */
uint64_t notify_watchdog_interval(void);
void notify_watchdog(void);
