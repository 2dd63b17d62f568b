/* Telling systemd how minetd is doing: readiness, reloads, status, watchdog. */
#pragma once

#include <stddef.h>
#include <stdint.h>

struct server;

void notify_ready(struct server *const *servers, size_t n);
void notify_reloading(void);
void notify_stopping(void);
/* Sends STATUS= when the counters changed since the last time. */
void notify_status(struct server *const *servers, size_t n);
/* Returns the watchdog ping interval in microseconds, 0 when there is no watchdog. */
uint64_t notify_watchdog_interval(void);
void notify_watchdog(void);
