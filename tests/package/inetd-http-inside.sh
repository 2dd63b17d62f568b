#!/bin/bash
# Runs inside a container that tests/package/inetd.sh boots, before a reboot (after which
# inetd-http-boot-inside.sh runs). micro-httpd registers an inetd.conf line (www, port 80)
# and enables its own micro-httpd.socket (0.0.0.0:80) too: they fight for the port, as
# under openbsd-inetd. Who wins at installation, and in the order of a boot (sockets.target
# first); each time the loser says so and what answers HTTP 200 over IPv4 and IPv6.

. /minetd-lib/inside.sh
. /minetd-lib/inetd-inside.sh

dpkg_install minetd-install "$MINETD_DEB" $(deb update-inetd tcpd)
check minetd-active within 10 systemctl -q is-active minetd.service
mkdir -p /var/www/html
echo '<p>hello from micro-httpd</p>' >/var/www/html/hello.html

c=$(cursor)
dpkg_install micro-httpd-install $(deb micro-httpd)
show dpkg "$(printf '%s\n' "$out" | grep -v '^\(Selecting\|(Reading\|Preparing\|Unpacking\|Processing\|Not building\)')"
show inetd.conf "$(grep -n '^www' /etc/inetd.conf)"
# Both have had their go once the socket unit's start has been tried and minetd has
# reloaded for the new line.
wait_for 10 eval '[ "$(systemctl is-active micro-httpd.socket)" != inactive ] && listening tcp 80'
sleep 2
http_state install "$c"

# The order of a boot: sockets.target (micro-httpd.socket) before multi-user.target (minetd).
c=$(cursor)
systemctl stop minetd.service 2>/dev/null
systemctl restart micro-httpd.socket
systemctl start minetd.service
wait_for 10 eval 'prop minetd.service StatusText | grep -q www'
sleep 1
http_state boot-order "$c"

finish
