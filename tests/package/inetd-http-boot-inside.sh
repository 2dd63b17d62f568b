#!/bin/bash
# Runs inside the container of inetd-http-inside.sh after its reboot: who has port 80 after
# a real boot (micro-httpd.socket and minetd both enabled), whether the loser says so, what
# answers; the admin then switches the socket off and minetd takes the port by itself.
# Then more of the archive's inetd packages, each tried and checked (or said why not):
# inetutils-telnetd, inetutils-talkd, popa3d, netkit's talkd.

. /minetd-lib/inside.sh
. /minetd-lib/inetd-inside.sh

# This script starts with basic.target; minetd.service is multi-user.target's.
check minetd-active-after-boot within 60 systemctl -q is-active minetd.service
wait_for 10 eval 'prop minetd.service StatusText | grep -q www || listening tcp 80'
sleep 1
http_state reboot ""

c=$(cursor)
systemctl disable --now micro-httpd.socket 2>/dev/null
# minetd alone on port 80, both families: [::] and 0.0.0.0, or one dual-stack *. The socket
# can outlive its unit for a few seconds: a getty that PID 1 has just forked (Type=idle)
# waits for the job queue to empty, up to 5 s, with every descriptor of PID 1 still open,
# and minetd binds 0.0.0.0 at its next try once that child lets go.
minetd_alone_on_80() {
	_h=$(holder tcp 80)
	[ -n "$_h" ] && ! echo "$_h" | grep -v '"minetd"' | grep -q . &&
		{ echo "$_h" | grep -q '^\*:80 ' || [ "$(echo "$_h" | grep -c .)" -ge 2 ]; }
}
if t=$(within 15 minetd_alone_on_80); then
	pass "socket-off-minetd-takes-port-80 (after ${t}s)"
else
	fail socket-off-minetd-takes-port-80 "port 80 within 15 s: $(holder tcp 80 | tr '\n' '|')"
fi
show journal "$(journal_since "$c" -u minetd.service | grep www)"
http_state socket-off "$c"
check socket-off-status-clear eval '! prop minetd.service StatusText | grep -q "not served"'

# --- inetutils-telnetd (a pty, login; through tcpd, root). It wants a system-log-daemon:
# inetutils-syslogd. Its line comes disabled ("#<off># telnet").
dpkg_install telnetd-install $(deb inetutils-syslogd inetutils-telnetd inetutils-telnet)
show inetd.conf "$(grep -n 'telnet' /etc/inetd.conf)"
update_inetd enable-telnet --enable telnet
if t=$(within 5 listening tcp 23); then pass "telnet-listening (after ${t}s)"; else fail telnet-listening "nothing on port 23 within 5 s"; fi
for host in 127.0.0.1 ::1; do
	got=$( (sleep 3) | timeout 10 telnet "$host" 2>&1 | tr -d '\r\0')
	show "telnet $host" "$got"
	check "telnet-login-prompt-$host" has "$got" 'login: '
done

# --- netkit's talkd: Depends openbsd-inetd | xinetd, not inet-superserver (and it conflicts
# with inetutils-talkd, so it goes first).
if out=$(dpkg -i $(deb talkd) 2>&1); then
	pass talkd-netkit-install
else
	show dpkg "$(printf '%s\n' "$out" | grep -v '^\(Selecting\|(Reading\|Preparing\|Unpacking\|Processing\|Not building\)')"
	if printf '%s\n' "$out" | grep -q 'talkd depends on openbsd-inetd | xinetd'; then
		skip talkd-netkit "cannot be configured beside minetd: it depends on openbsd-inetd | xinetd, not on inet-superserver (the same beside inetutils-inetd)"
	else
		fail talkd-netkit "dpkg -i failed otherwise than on its dependency"
	fi
	dpkg -r talkd >/dev/null 2>&1
fi

# --- inetutils-talkd: a wait dgram line (udp4), root, through tcpd. talk needs a terminal:
# script(1) gives it one. Nobody is logged in, and talkd says so.
dpkg_install talkd-install $(deb inetutils-talkd inetutils-talk)
show inetd.conf "$(grep -n 'talk' /etc/inetd.conf)"
update_inetd enable-ntalk --enable ntalk
if t=$(within 5 listening udp 518); then pass "ntalk-listening (after ${t}s)"; else fail ntalk-listening "nothing on udp 518 within 5 s"; fi
# talk resolves this machine's own name: a root without Debian installer's "127.0.1.1 NAME"
# line in /etc/hosts (a debootstrap'ed one) cannot. The container's root is volatile.
if ! getent hosts "$(hostname)" >/dev/null; then
	printf '127.0.1.1\t%s\n' "$(hostname)" >>/etc/hosts
	show hosts "added 127.0.1.1 $(hostname), as Debian's installer does"
fi
raw=$(TERM=vt100 timeout 10 script -qec 'talk root@localhost' /dev/null </dev/null 2>&1 |
	tr -d '\r' | sed 's/\x1b\[[0-9;?]*[A-Za-z]//g' | tr -s ' \n')
got=$(echo "$raw" | grep -o '\[[^]]*\]' | sort -u)
show "talk root@localhost" "${got:-$raw}"
check talkd-answers has "$got" 'Your party is not logged on'

# --- popa3d in inetd mode (its debconf question's default is standalone): tcpd, root.
echo 'popa3d popa3d/standalone boolean false' | debconf-set-selections
dpkg_install popa3d-install $(deb popa3d)
show inetd.conf "$(grep -n 'pop3' /etc/inetd.conf)"
if t=$(within 5 listening tcp 110); then pass "pop3-listening (after ${t}s)"; else fail pop3-listening "nothing on port 110 within 5 s"; fi
for host in 127.0.0.1 '[::1]'; do
	got=$(curl -sv --max-time 5 -u nobody:wrong "pop3://$host/" 2>&1 | grep '^[<*] \(+OK\|-ERR\)\|^< ')
	show "curl pop3://$host/" "$got"
	check "popa3d-greeting-$host" has "$got" '^< \+OK'
done

finish
