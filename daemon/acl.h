/* Access lists: allow and deny CIDR prefixes, IPv4 and IPv6. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <netinet/in.h>

struct cidr {
	struct in6_addr addr;   /* IPv4 as mapped addresses */
	unsigned prefix;        /* 0..128, counted on the mapped form */
};

struct cidr_list {
	struct cidr *items;
	size_t n;
};

struct acl {
	struct cidr_list allow; /* empty: everyone not denied */
	struct cidr_list deny;
};

/* "192.0.2.0/24", "2001:db8::/32", or a single address. Returns 0 or -EINVAL. */
int cidr_parse(const char *text, struct cidr *out);
bool cidr_match(const struct cidr *c, const struct in6_addr *addr);
/* Denied when a deny entry matches, or when there are allow entries and none matches. */
bool acl_permits(const struct acl *acl, const struct in6_addr *addr);
