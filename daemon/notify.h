/* Telling systemd how minetd is doing: readiness, reloads, status, watchdog. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

void notify_ready(const char *status);
void notify_reloading(void);
void notify_stopping(void);
/* Sends STATUS= when it changed since the last time. */
void notify_status(const char *status);
/* Returns the watchdog ping interval in microseconds, 0 when there is no watchdog. */
uint64_t notify_watchdog_interval(void);
void notify_watchdog(void);
/* Whether systemd keeps descriptors for the next start ($FDSTORE, FileDescriptorStoreMax=). */
bool notify_can_store(void);
/* Hands fd to systemd's file descriptor store under name; 0 or -errno. */
int notify_store(int fd, const char *name);
/* Takes name out of the store: the descriptor came back and is ours again. */
void notify_unstore(const char *name);
