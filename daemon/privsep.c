#include "privsep.h"

#include <errno.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

int privsep_send(int sock, const struct privsep_msg *msg, const int *fds, size_t n)
{
	union {
		char buf[CMSG_SPACE(PRIVSEP_FDS_MAX * sizeof(int))];
		struct cmsghdr align;
	} control;
	struct iovec iov = { (void *)msg, sizeof(*msg) };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1 };

	if (n > PRIVSEP_FDS_MAX)
		return -EINVAL;
	if (n) {
		memset(&control, 0, sizeof(control));
		m.msg_control = control.buf;
		m.msg_controllen = CMSG_SPACE(n * sizeof(int));
		struct cmsghdr *c = CMSG_FIRSTHDR(&m);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(n * sizeof(int));
		memcpy(CMSG_DATA(c), fds, n * sizeof(int));
	}
	for (;;) {
		ssize_t r = sendmsg(sock, &m, MSG_NOSIGNAL);
		if (r == (ssize_t)sizeof(*msg))
			return 0;
		if (r >= 0)
			return -EMSGSIZE;
		if (errno != EINTR)
			return -errno;
	}
}

/* The descriptors of m's SCM_RIGHTS messages: up to max into fds, the rest closed. */
static size_t take_fds(struct msghdr *m, int *fds, size_t max)
{
	size_t n = 0;

	for (struct cmsghdr *c = CMSG_FIRSTHDR(m); c; c = CMSG_NXTHDR(m, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < count; i++) {
			int fd;
			memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(fd));
			if (n < max)
				fds[n++] = fd;
			else
				close(fd);
		}
	}
	return n;
}

int privsep_recv(int sock, struct privsep_msg *msg, int *fds, size_t *n)
{
	union {
		char buf[CMSG_SPACE(PRIVSEP_FDS_MAX * sizeof(int)) + CMSG_SPACE(sizeof(struct ucred))];
		struct cmsghdr align;
	} control;
	struct iovec iov = { msg, sizeof(*msg) };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.buf,
			    .msg_controllen = sizeof(control.buf) };
	ssize_t r;

	*n = 0;
	do
		r = recvmsg(sock, &m, MSG_CMSG_CLOEXEC);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return errno == EWOULDBLOCK ? -EAGAIN : -errno;
	*n = take_fds(&m, fds, PRIVSEP_FDS_MAX);
	if (r == 0)
		return -EPIPE;
	if (r != (ssize_t)sizeof(*msg) || (m.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) || msg->type == 0 ||
	    msg->type >= PRIVSEP_TYPE_MAX) {
		for (size_t i = 0; i < *n; i++)
			close(fds[i]);
		*n = 0;
		return -EBADMSG;
	}
	msg->service[PRIVSEP_NAME_MAX] = '\0';
	msg->text[PRIVSEP_TEXT_MAX] = '\0';
	return 0;
}

struct privsep_msg privsep_message(enum privsep_type type)
{
	struct privsep_msg m;

	memset(&m, 0, sizeof(m));       /* padding too: it crosses to another process */
	m.type = type;
	return m;
}
