#!/bin/bash
# Runs inside a container that tests/package/inetd.sh boots. minetd's .deb as the only
# inet-superserver, and the archive's programs served from the lines their packages write
# with update-inetd: nullidentd, fingerd through tcpd (finger), tftpd-hpa switched to inetd
# mode (a wait service, tftp); inetd.conf's internal services; update-inetd's --disable,
# --enable, --remove and --add, each applied within 5 s while a chargen client keeps
# streaming; who runs as whom; what the privileged helper refuses.

. /minetd-lib/inside.sh
. /minetd-lib/inetd-inside.sh

dpkg_install minetd-install "$MINETD_DEB" $(deb update-inetd tcpd)
check minetd-active within 10 systemctl -q is-active minetd.service

# --- nullidentd: its Depends (openbsd-inetd | inet-superserver) is met by minetd alone.
show superserver "$(dpkg-query -W -f='${Package} ${Status}: Provides ${Provides}\n' minetd openbsd-inetd \
	inetutils-inetd xinetd rlinetd 2>&1)"
dpkg_install nullidentd-install-with-minetd $(deb nullidentd)
show dpkg "$(printf '%s\n' "$out" | grep -i 'setting up\|depend\|inetd')"
expect nullidentd-installed "install ok installed" "$(dpkg-query -W -f='${Status}' nullidentd)"
show inetd.conf "$(grep -n '^ident' /etc/inetd.conf)"
ident() { printf '1234, 5678\r\n' | nc -N -w 5 "$1" 113 | tr -d '\r'; }
for host in 127.0.0.1 ::1; do
	if t=$(within 5 eval "ident $host | grep -q USERID"); then
		reply=$(ident $host)
		show "ident $host" "$reply"
		if printf '%s\n' "$reply" | grep -q '^1234, 5678 : USERID : UNIX : '; then
			pass "nullidentd-answers-$host (after ${t}s)"
		else
			fail "nullidentd-answers-$host" "reply: $reply"
		fi
	else
		fail "nullidentd-answers-$host" "no USERID reply on port 113 within 5 s: $(ident $host 2>&1)"
	fi
done

# --- fingerd (through tcpd, as nobody) and finger.
c=$(cursor)
dpkg_install fingerd-install $(deb fingerd finger)
show inetd.conf "$(grep -n '^finger' /etc/inetd.conf)"
for host in 127.0.0.1 ::1; do
	if t=$(within 5 finger_ok $host); then
		pass "finger-$host (after ${t}s)"
	else
		fail "finger-$host" "no answer within 5 s"
	fi
	show "finger root@$host" "$(finger root@$host 2>&1)"
done
# tcpd's line (it logs as the daemon it runs), with the uid and command of its process.
fingerd_log=$(journal_since "$c" -t in.fingerd -o json | python3 -c '
import json, sys
for line in sys.stdin:
    e = json.loads(line)
    print("uid=%s comm=%s cmdline=%s cgroup=%s: %s" % (e.get("_UID"), e.get("_COMM"), e.get("_CMDLINE"),
          e.get("_SYSTEMD_CGROUP"), e.get("MESSAGE")))')
show journal "$fingerd_log"
# (tcpd logs as the program it runs; journald gives the uid)
check fingerd-tcpd-connect-v4 has "$fingerd_log" '^uid=65534 .*: connect from ::ffff:127\.0\.0\.1 '
check fingerd-tcpd-connect-v6 has "$fingerd_log" '^uid=65534 .*: connect from ::1 '
# While it runs: a client that has not sent its request yet keeps in.fingerd waiting.
sleep 3 | nc 127.0.0.1 79 >/dev/null &
holder_pid=$!
if within 5 pgrep -x in.fingerd >/dev/null; then
	user=$(ps -o user= -p "$(pgrep -x in.fingerd | head -1)")
	show ps "$(ps -o pid,user,group,args -C in.fingerd)"
	expect fingerd-runs-as-nobody nobody "$user"
else
	fail fingerd-runs-as-nobody "no in.fingerd process while a client is connected"
fi
kill $holder_pid 2>/dev/null
wait $holder_pid 2>/dev/null

# --- inetd.conf's internal services: the admin uncomments them (the preinst's examples
# are commented with a single '#', which update-inetd --enable leaves alone by design).
sed -i 's/^#\(echo\|daytime\|time\|chargen\)\t/\1\t/' /etc/inetd.conf
show inetd.conf "$(grep -n '^\(echo\|daytime\|time\|chargen\)' /etc/inetd.conf)"
check internal-listening within 5 eval 'listening tcp 7 && listening tcp 13 && listening tcp 37 && listening tcp 19'
for host in 127.0.0.1 ::1; do
	got=$(echo "hello $host" | nc -N -w 5 "$host" 7)
	show "echo $host" "$got"
	expect "internal-echo-$host" "hello $host" "$got"
	got=$(nc -d -w 5 "$host" 13 | tr -d '\r')
	show "daytime $host" "$got"
	check "internal-daytime-$host" has "$got" '^[A-Z][a-z]{2} [A-Z][a-z]{2} [ 0-9][0-9] [0-9:]{8} [0-9]{4}$'
	family=$([ $host = ::1 ] && echo -6 || echo -4)
	got=$(rdate -p $family "$host" 2>&1)
	show "rdate -p $family $host" "$got"
	check "internal-time-$host" has "$got" " $(date -u +%Y)$"
done

# --- tftpd-hpa in inetd mode: its own daemon stopped and disabled, the line of its
# README.security added with update-inetd; a wait service, root (so that -s can chroot).
dpkg_install tftpd-install $(deb tftpd-hpa tftp-hpa)
systemctl stop tftpd-hpa.service
systemctl disable tftpd-hpa.service >/dev/null 2>&1
check tftpd-daemon-stopped eval '! pgrep -x in.tftpd'
update_inetd tftp-add --group BOOT --add 'tftp\tdgram\tudp\twait\troot\t/usr/sbin/in.tftpd\tin.tftpd -s /srv/tftp'
show inetd.conf "$(grep -n '^tftp' /etc/inetd.conf)"
echo "hello from /srv/tftp" >/srv/tftp/hello.txt
if t=$(within 5 listening udp 69); then pass "tftp-listening (after ${t}s)"; else fail tftp-listening "nothing on udp 69 within 5 s"; fi
show ss "$(holder udp 69)"
tftp_get() {	# tftp_get NAME HOST: a get of hello.txt, compared with the file
	rm -f /tmp/got.txt
	_o=$(cd /tmp && timeout 20 tftp "$2" -c get hello.txt got.txt 2>&1)
	show "tftp $2 -c get hello.txt" "rc=$? ${_o:-(nothing printed)}; got: $(cat /tmp/got.txt 2>&1)"
	check "$1" cmp /tmp/got.txt /srv/tftp/hello.txt
}
tftp_get tftp-get-v4 127.0.0.1
first=$(pgrep -x in.tftpd | head -1)
show ps "$(ps -o pid,user,args -C in.tftpd)"
if [ -n "$first" ]; then
	expect tftp-program-is-root root "$(ps -o user= -p "$first" | tr -d ' ')"
else
	fail tftp-program-is-root "no in.tftpd after a transfer"
fi
tftp_get tftp-get-v4-again 127.0.0.1
tftp_get tftp-get-v6 ::1
tftp_get tftp-get-v6-again ::1
# The second and later transfers went to the in.tftpd of the first (it waits out its
# --timeout on the socket minetd handed it, and minetd does not watch it meanwhile).
show ps "$(ps -o pid,user,args -C in.tftpd)"
expect tftp-same-program-served-all "${first:-none}" "$(pgrep -x in.tftpd | head -1)"

# --- No process of minetd.service is root or has a capability, also while a root
# program (that in.tftpd) runs.
main=$(prop minetd.service MainPID)
show proc "$(grep '^\(Uid\|Gid\|CapEff\|CapPrm\):' /proc/$main/status)"
check minetd-main-not-root eval "[ \"\$(awk '/^Uid:/ { print \$2 }' /proc/$main/status)\" != 0 ]"
expect minetd-main-no-capabilities 0000000000000000 "$(awk '/^CapEff:/ { print $2 }' /proc/$main/status)"
if list=$(unprivileged_serving); then pass minetd-service-unprivileged; else fail minetd-service-unprivileged "$list"; fi
show processes "$list"
check root-program-runs-meanwhile eval "[ -n '$first' ] && [ \"\$(ps -o user= -p '$first' | tr -d ' ')\" = root ]"

# --- update-inetd while a client streams chargen (an inetd.conf "internal" line):
# each change is served within 5 s, the connection stays, and update-inetd warns of
# nothing (it wakes minetd with invoke-rc.d through /etc/init.d/minetd: a restart, a
# start or a reload of minetd.service).
python3 - >/run/chargen.count 2>&1 <<'EOF' &
import socket, sys, time
s = socket.create_connection(("127.0.0.1", 19))
n, ok = 0, True
while True:
    b = s.recv(1024)
    if not b:
        print("closed after", n, flush=True)
        break
    n += len(b)
    ok = ok and all(32 <= c < 127 or c in (13, 10) for c in b)
    print(n, "ok" if ok else "bad", flush=True)
    time.sleep(0.05)
EOF
chargen=$!
chargen_bytes() { tail -n 1 /run/chargen.count | cut -d' ' -f1; }
check chargen-streaming within 5 eval '[ "$(chargen_bytes)" -gt 0 ]'

update_inetd disable-finger --disable finger
if t=$(refused_within 5 finger_ok 127.0.0.1); then pass "disable-finger-applied (after ${t}s)"; else fail disable-finger-applied "finger still answers 5 s later"; fi
show inetd.conf "$(grep -n 'finger' /etc/inetd.conf)"
show "finger root@127.0.0.1" "$(finger root@127.0.0.1 2>&1)"

update_inetd enable-finger --enable finger
if t=$(within 5 finger_ok 127.0.0.1); then pass "enable-finger-applied (after ${t}s)"; else fail enable-finger-applied "finger does not answer 5 s later"; fi
show inetd.conf "$(grep -n 'finger' /etc/inetd.conf)"

update_inetd remove-ident --remove ident
if t=$(refused_within 5 eval 'ident 127.0.0.1 | grep -q USERID'); then pass "remove-ident-applied (after ${t}s)"; else fail remove-ident-applied "ident still answers 5 s later"; fi
show inetd.conf "$(grep -n 'ident' /etc/inetd.conf || echo 'no ident line')"

# A line new to the file: the one nullidentd's postinst writes.
update_inetd add-ident --group INFO --add 'ident\t\tstream\ttcp\tnowait\tnobody\t/usr/sbin/nullidentd\tnullidentd'
if t=$(within 5 eval 'ident 127.0.0.1 | grep -q USERID'); then pass "add-ident-applied (after ${t}s)"; else fail add-ident-applied "ident does not answer 5 s later"; fi
show inetd.conf "$(grep -n 'ident' /etc/inetd.conf)"

before=$(chargen_bytes)
sleep 1
after=$(chargen_bytes)
show chargen "$(tail -n 1 /run/chargen.count) (a second before: $before bytes)"
check chargen-kept-through-all eval "[ '$after' -gt '$before' ] && ! grep -q closed /run/chargen.count"
check chargen-pattern eval "tail -n 1 /run/chargen.count | grep -q ' ok$'"
kill $chargen 2>/dev/null
# The in.tftpd of the first transfer outlived those restarts of minetd (an inetd.conf line
# has no timeout: it ends when it will) and still serves; also a restart with clients of
# another program service arriving at once (as they do on a busy machine).
systemctl restart minetd.service &
for i in 1 2 3 4 5 6 7 8; do ident 127.0.0.1 >/dev/null 2>&1 & sleep 0.05; done
wait
sleep 1.5
if [ -n "$first" ] && kill -0 "$first" 2>/dev/null; then
	pass tftp-program-outlives-restarts
else
	fail tftp-program-outlives-restarts "in.tftpd ${first:-?} has gone"
	show journal "$(journal_since "$c" -o short-monotonic -u minetd.service -u minetd-helper.service |
		grep -i "tftp\|program\|helper\|kill\|restart")"
fi
tftp_get tftp-get-after-restarts 127.0.0.1
expect tftp-same-program-after-restarts "${first:-none}" "$(pgrep -x in.tftpd | head -1)"
show journal "$(journal_since "$c" -u minetd.service | grep -v ': serving \|connections served again' | tail -n 40)"

# --- The helper acts only on services of the config it loaded itself, and only for a
# process of minetd.service.
sock=/run/minetd/helper.sock
got=$(python3 /minetd-lib/helper-request.py --as-minetd $sock bind no-such-service tcp 2>&1)
show "helper bind no-such-service" "$got"
check helper-refuses-unknown-bind has "$got" "^ERROR .*no service 'no-such-service'"
got=$(python3 /minetd-lib/helper-request.py --as-minetd $sock spawn no-such-service tcp 2>&1)
show "helper spawn no-such-service" "$got"
check helper-refuses-unknown-program has "$got" "^FAILED .*no program service 'no-such-service'"
got=$(python3 /minetd-lib/helper-request.py --as-minetd $sock spawn echo.tcp tcp 2>&1)
show "helper spawn echo.tcp (internal)" "$got"
check helper-refuses-builtin-as-program has "$got" "^FAILED .*no program service 'echo.tcp'"
c2=$(cursor)
got=$(python3 /minetd-lib/helper-request.py $sock bind finger.tcp tcp 2>&1)
show "helper bind finger.tcp, from outside minetd.service" "$got"
check helper-refuses-other-processes has "$got" '^closed$'
show journal "$(journal_since "$c2" -u minetd-helper.service | grep refused)"

finish
