#!/bin/sh
# Runs inside the container of listen.sh that boots twice (helpers: tests/lib/inside.sh).
# First boot: the units enabled as the package enables them (minetd.service,
# minetd.socket, minetd-helper.socket), none started, and a config of many services, below
# 1024 too. Second boot (the same /etc and /var): minetd runs without a client asking, and
# every configured service listens.

. /minetd-lib/inside.sh

conf=/etc/minetd/minetd.conf
marker=/var/lib/minetd-test/first-boot-done

if [ ! -e $marker ]; then
	add_minetd_user
	cat >$conf <<'EOF'
services = (
  { name = "echo"; handler = "echo"; port = 5000; },
  { name = "discard"; handler = "discard"; port = 9; protocol = "tcp"; },
  { name = "daytime"; handler = "daytime"; port = 13; },
  { name = "qotd"; handler = "qotd"; port = 17; protocol = "tcp"; },
  { name = "chargen"; handler = "chargen"; port = 19; protocol = "tcp"; },
  { name = "time"; handler = "time"; port = 37; },
  { name = "high-echo"; handler = "echo"; port = 6020; },
  { name = "hello"; handler = "exec"; port = 7000; protocol = "tcp"; user = "nobody";
    command = [ "/bin/echo", "hello" ]; }
);
EOF
	check first-boot-config-check /usr/sbin/minetd -t -c $conf
	check first-boot-enable systemctl enable minetd.service minetd.socket minetd-helper.socket
	expect first-boot-nothing-started "inactive inactive" \
		"$(systemctl is-active minetd.service minetd-helper.service | paste -sd' ')"
	mkdir -p "${marker%/*}"
	touch $marker
	finish
fi

# Second boot. No client has asked: minetd.service runs because it is enabled.
check boot-started-minetd wait_for 30 systemctl -q is-active minetd.service
check boot-started-helper wait_for 5 systemctl -q is-active minetd-helper.service
check boot-echo-tcp client within 5 echo-tcp 5000
check boot-echo-udp client echo-udp 5000
check boot-discard client within 5 wait-tcp 9 1
check boot-daytime-tcp client within 5 daytime-tcp 13
check boot-daytime-udp client daytime-udp 13
check boot-qotd client within 5 wait-tcp 17 1
check boot-chargen client within 5 wait-tcp 19 1
check boot-time-tcp client within 5 time-tcp 37
check boot-time-udp client time-udp 37
check boot-high-echo-tcp client within 5 echo-tcp 6020
check boot-high-echo-udp client echo-udp 6020
expect boot-program "hello" "$(python3 -c 'import socket
s = socket.create_connection(("127.0.0.1", 7000), timeout=10)
print(s.makefile().read().strip())' 2>&1)"
# What minetd serves is what the config says: each port, no other.
want="tcp:13 tcp:17 tcp:19 tcp:37 tcp:5000 tcp:6020 tcp:7000 tcp:9 udp:13 udp:37 udp:5000 udp:6020"
got=$( (ss -Hltnp | grep '"minetd"' | awk '{ print "tcp:" $4 }'
	ss -Hlunp | grep '"minetd"' | awk '{ print "udp:" $4 }') |
	sed 's/^\([a-z]*\):.*:\([0-9]*\)$/\1:\2/' | sort -u | paste -sd' ')
expect boot-every-service-listens "$want" "$got"
status=$(prop minetd.service StatusText)
case $status in *"not served"*) fail boot-nothing-unserved "$status" ;; *) pass "boot-nothing-unserved ($status)" ;; esac
finish
