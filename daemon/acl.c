#include "acl.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

int cidr_parse(const char *text, struct cidr *out)
{
	char host[INET6_ADDRSTRLEN + 1];
	const char *slash = strchr(text, '/');
	size_t len = slash ? (size_t)(slash - text) : strlen(text);
	struct in_addr v4;
	unsigned max, prefix;
	char *end;

	if (len == 0 || len >= sizeof(host))
		return -EINVAL;
	memcpy(host, text, len);
	host[len] = '\0';
	memset(out, 0, sizeof(*out));
	if (inet_pton(AF_INET, host, &v4) == 1) {
		out->addr.s6_addr[10] = 0xff;
		out->addr.s6_addr[11] = 0xff;
		memcpy(&out->addr.s6_addr[12], &v4, 4);
		max = 32;
	} else if (inet_pton(AF_INET6, host, &out->addr) == 1) {
		max = 128;
	} else {
		return -EINVAL;
	}
	prefix = max;
	if (slash) {
		errno = 0;
		unsigned long v = strtoul(slash + 1, &end, 10);
		if (errno || end == slash + 1 || *end || v > max || slash[1] == '-' || slash[1] == '+')
			return -EINVAL;
		prefix = (unsigned)v;
	}
	out->prefix = prefix + 128 - max;
	/* Host bits set ("10.0.0.1/8") are cleared: the prefix is what counts. */
	for (unsigned bit = out->prefix; bit < 128; bit++)
		out->addr.s6_addr[bit / 8] &= (uint8_t)~(0x80 >> (bit % 8));
	return 0;
}

bool cidr_match(const struct cidr *c, const struct in6_addr *addr)
{
	unsigned full = c->prefix / 8, rest = c->prefix % 8;

	if (memcmp(c->addr.s6_addr, addr->s6_addr, full) != 0)
		return false;
	if (rest == 0)
		return true;
	uint8_t mask = (uint8_t)(0xff << (8 - rest));
	return (c->addr.s6_addr[full] & mask) == (addr->s6_addr[full] & mask);
}

static bool any_match(const struct cidr_list *list, const struct in6_addr *addr)
{
	for (size_t i = 0; i < list->n; i++)
		if (cidr_match(&list->items[i], addr))
			return true;
	return false;
}

bool acl_permits(const struct acl *acl, const struct in6_addr *addr)
{
	return !any_match(&acl->deny, addr) && (acl->allow.n == 0 || any_match(&acl->allow, addr));
}
