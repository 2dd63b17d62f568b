/* The layout of daemon/privsep.h's struct privsep_msg and the numbers a client of
 * minetd-helper needs, as KEY=VALUE lines for tests/systemd/helper-client.py (which packs
 * and unpacks the message at these offsets). Built and run by tests/systemd/listen.sh. */
#include <stddef.h>
#include <stdio.h>

#include "listen.h"
#include "privsep.h"

#define FIELD(f) printf("%s=%zu:%zu\n", #f, offsetof(struct privsep_msg, f), \
			sizeof(((struct privsep_msg *)0)->f))

int main(void)
{
	printf("size=%zu\n", sizeof(struct privsep_msg));
	FIELD(type);
	FIELD(seq);
	FIELD(service);
	FIELD(proto);
	FIELD(addr_index);
	FIELD(loop);
	FIELD(loops);
	FIELD(value);
	FIELD(addr);
	FIELD(text);
	printf("PRIVSEP_BIND=%d\nPRIVSEP_BOUND=%d\nPRIVSEP_ERROR=%d\nPROTO_TCP=%d\nPROTO_UDP=%d\n",
	       PRIVSEP_BIND, PRIVSEP_BOUND, PRIVSEP_ERROR, PROTO_TCP, PROTO_UDP);
	return 0;
}
