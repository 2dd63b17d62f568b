/* Included by exactly one file of a test binary: in tests, host names are never looked
 * up over the network (traffic stays on this machine). Numeric addresses resolve as
 * usual, "localhost" as 127.0.0.1, any other name fails as an unknown one would. */
#pragma once

#include <dlfcn.h>
#include <netdb.h>
#include <string.h>

int getaddrinfo(const char *node, const char *service, const struct addrinfo *hints, struct addrinfo **res)
{
	static int (*real)(const char *, const char *, const struct addrinfo *, struct addrinfo **);
	struct addrinfo h = { 0 };

	if (!real)
		*(void **)&real = dlsym(RTLD_NEXT, "getaddrinfo");
	if (hints)
		h = *hints;
	if (node && strcmp(node, "localhost") == 0)
		node = "127.0.0.1";
	h.ai_flags |= AI_NUMERICHOST;
	return real(node, service, &h, res);
}
