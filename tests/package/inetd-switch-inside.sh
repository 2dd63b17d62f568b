#!/bin/bash
# Runs inside a container that tests/package/inetd.sh boots. From openbsd-inetd serving
# fingerd to minetd, and back, as apt does it (the inet-superserver Conflicts: apt removes
# the one, then installs the other, with dpkg -r and dpkg -i): finger answers after each
# switch, from the same /etc/inetd.conf; update-inetd stays quiet under minetd although
# openbsd-inetd's init script is left behind.

. /minetd-lib/inside.sh
. /minetd-lib/inetd-inside.sh

fingers() {	# fingers NAME: finger over IPv4 and IPv6 within 5 s, what it printed
	for host in 127.0.0.1 ::1; do
		if t=$(within 5 finger_ok $host); then
			pass "$1-finger-$host (after ${t}s)"
		else
			fail "$1-finger-$host" "no answer within 5 s"
		fi
		show "$1: finger root@$host" "$(finger root@$host 2>&1)"
	done
	show "$1: port 79" "$(holder tcp 79)"
}

dpkg_install openbsd-inetd-install $(deb update-inetd tcpd openbsd-inetd fingerd finger)
check openbsd-inetd-active within 10 systemctl -q is-active inetd.service
show inetd.conf "$(grep -n '^finger' /etc/inetd.conf)"
fingers openbsd-inetd
sum=$(md5sum </etc/inetd.conf)

cp "$MINETD_DEB" /tmp/
apt_install to-minetd /tmp/"${MINETD_DEB##*/}"
expect to-minetd-openbsd-inetd-removed "deinstall ok config-files" "$(dpkg-query -W -f='${Status}' openbsd-inetd)"
expect to-minetd-inetd-conf-kept "$sum" "$(md5sum </etc/inetd.conf)"
check to-minetd-inetd-gone eval '! pgrep -x inetd'
check to-minetd-active within 10 systemctl -q is-active minetd.service
fingers minetd
update_inetd minetd-disable-finger --disable finger
if t=$(refused_within 5 finger_ok 127.0.0.1); then pass "minetd-disable-finger-applied (after ${t}s)"; else fail minetd-disable-finger-applied "finger still answers 5 s later"; fi
update_inetd minetd-enable-finger --enable finger
if t=$(within 5 finger_ok 127.0.0.1); then pass "minetd-enable-finger-applied (after ${t}s)"; else fail minetd-enable-finger-applied "finger does not answer 5 s later"; fi
show "/etc/init.d" "$(ls -l /etc/init.d/*inetd)"

apt_install to-openbsd-inetd "$(deb openbsd-inetd)"
expect to-openbsd-inetd-minetd-removed "deinstall ok config-files" "$(dpkg-query -W -f='${Status}' minetd)"
expect to-openbsd-inetd-inetd-conf-kept "$sum" "$(md5sum </etc/inetd.conf)"
check to-openbsd-inetd-minetd-gone eval '! pgrep -x minetd && ! pgrep -x minetd-helper'
check to-openbsd-inetd-active within 10 systemctl -q is-active inetd.service
fingers back-to-openbsd-inetd

finish
