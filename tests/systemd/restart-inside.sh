#!/bin/sh
# Runs inside the booted container of restart.sh (helpers: tests/lib/inside.sh): the
# project's units in /lib/systemd/system, the binary at /usr/sbin/minetd, the helper at
# /usr/libexec/minetd/minetd-helper.

. /minetd-lib/inside.sh

conf=/etc/minetd/minetd.conf
restarted() {	# restarted CURSOR: the new minetd says it served the kept connections again
	journal_since "$1" -u minetd.service | grep -q 'connections served again after a restart'
}
said() {	# said CURSOR TEXT: a line of minetd.service's journal since CURSOR has TEXT
	journal_since "$1" -u minetd.service | grep -F -- "$2"
}
names_client() {	# names_client CURSOR: the runs-on line names the program's client
	said "$1" "started before a restart, runs on" | grep -q '127\.0\.0\.1'
}
new_process() {	# new_process CHECK PID: minetd.service's MainPID is another than PID now
	new=$(prop minetd.service MainPID)
	if [ -n "$new" ] && [ "$new" != 0 ] && [ "$new" != "$2" ]; then pass "$1 ($2 -> $new)"
	else fail "$1" "MainPID $2, then $new"; fi
}

# As the package's postinst does, before minetd first starts. chargen on its well-known port
# and two programs (run as nobody by minetd-helper): /bin/cat, which echoes, with a timeout
# of 8 s, and a sleep that would outlast every check.
add_minetd_user
add_service '{ name = "chargen"; handler = "chargen"; port = 19; protocol = "tcp"; },'
add_service '{ name = "cat"; handler = "exec"; port = 7007; protocol = "tcp"; command = [ "/bin/cat" ]; user = "nobody"; timeout = 8; },'
add_service '{ name = "hold"; handler = "exec"; port = 7008; protocol = "tcp"; command = [ "/bin/sleep", "313" ]; user = "nobody"; timeout = 120; },'
check config-check /usr/sbin/minetd -t -c $conf

check enable-sockets systemctl enable --now minetd.socket
check first-client client echo-tcp 5000
pid=$(prop minetd.service MainPID)
check chargen-listens wait_for 5 listening tcp 19

# --- systemctl restart: the connection of an echo client that sends before, while and
# after it gets every byte back, in order, from the next process.
c=$(cursor)
check restart-keeps-echo client echo-across 5000 systemctl restart minetd.service
new_process restart-new-process "$pid"
check restart-says-so restarted "$c"
check restart-udp-echo client echo-udp 5000

# --- chargen goes on where it was: its position travels in the state memfd. Its socket is
# the helper's (port 19, a config line), kept across the restart too.
check restart-keeps-chargen client chargen-across 19 systemctl restart minetd.service

# --- A program outlives the restart: /bin/cat echoes before, while and after it, and the
# new minetd, which finds it through the helper, still ends it at its timeout (8 s after it
# started), and says so.
c=$(cursor)
check restart-keeps-program client echo-across-timeout 7007 8 systemctl restart minetd.service
check restart-program-runs-on said "$c" "started before a restart, runs on"
check restart-program-runs-on-names-client names_client "$c"
check restart-program-killed-at-timeout wait_for 3 said "$c" "killed by signal 15 at its timeout"
# The same process: its pid before and after the restart.
python3 - <<'PY' >/run/hold.pid &
import socket, time
s = socket.create_connection(("127.0.0.1", 7008), timeout=10)
time.sleep(20)
PY
holder=$!
wait_for 5 pgrep -u nobody -f '^/bin/sleep 313$'
before=$(pgrep -u nobody -f '^/bin/sleep 313$')
check restart-program-restart systemctl restart minetd.service
after=$(pgrep -u nobody -f '^/bin/sleep 313$')
if [ -n "$before" ] && [ "$before" = "$after" ]; then pass "restart-program-same-process ($before)"
else fail restart-program-same-process "pid '$before' before the restart, '$after' after"; fi
kill $holder 2>/dev/null
wait $holder 2>/dev/null

# --- A socket added while minetd serves (an admin's own socket unit; the package ships none
# but minetd.socket): systemd 252 starts a socket unit only while its service is not
# running, and `systemctl restart A B` is two transactions (a race); one restart
# transaction that wants the new socket orders the stop, the socket, the start.
printf '[Socket]\nListenStream=13\nListenDatagram=13\nFileDescriptorName=daytime\nService=minetd.service\n\n[Install]\nWantedBy=sockets.target\n' \
	>/etc/systemd/system/minetd-daytime.socket
systemctl daemon-reload
add_daytime='systemctl enable minetd-daytime.socket &&
	systemctl add-wants --runtime minetd.service minetd-daytime.socket &&
	systemctl restart minetd.service &&
	rm /run/systemd/system/minetd.service.wants/minetd-daytime.socket && systemctl daemon-reload'
check add-socket-keeps-echo client echo-across 5000 sh -c "$add_daytime"
check add-socket-serves client daytime-tcp 13
check add-socket-serves-udp client daytime-udp 13
expect add-socket-runtime-want-gone "" "$(ls /run/systemd/system/minetd.service.wants 2>/dev/null)"

# --- A socket the helper bound for a service added by a reload (before issue 19, a drop-in
# let minetd bind it) is kept too.
add_service '{ name = "own"; handler = "echo"; port = 6010; },'
check own-socket-reload systemctl reload minetd.service
check own-socket-echo wait_for 5 client echo-tcp 6010
check own-socket-kept client echo-across 6010 systemctl restart minetd.service
check own-socket-udp client echo-udp 6010

# --- A restart of the helper (systemctl restart minetd-helper, as an upgrade does) is
# minetd's too (PartOf=), minetd's first (After=): its clients and programs are kept, and
# programs start again through the new helper.
pid=$(prop minetd.service MainPID)
c=$(cursor)
check helper-restart-keeps-echo client echo-across 5000 systemctl restart minetd-helper.service
new_process helper-restart-restarts-minetd "$pid"
check helper-restart-says-so restarted "$c"
check helper-restart-keeps-program client echo-across 7007 systemctl restart minetd-helper.service
check helper-restart-new-program client echo-tcp 7007

# --- The helper fails (here killed) while minetd serves: minetd stores its clients, exits
# with 1, and Restart=on-failure starts it again, to the helper systemd starts again.
helper=$(prop minetd-helper.service MainPID)
pid=$(prop minetd.service MainPID)
c=$(cursor)
check helper-killed-keeps-echo client echo-across 5000 sh -c "kill -KILL $helper && sleep 2"
check helper-killed-said wait_for 5 said "$c" "minetd-helper is gone: minetd restarts to reach it again"
check helper-killed-restarted wait_for 5 restarted "$c"
new_process helper-killed-restarts-minetd "$pid"
check helper-killed-new-program wait_for 10 client echo-tcp 7007
expect helper-killed-minetd-active active "$(systemctl is-active minetd.service)"

# --- An explicit stop ends the connections (the store is emptied, systemd closes them) and
# every program: the helper's job is no restart, and it ends them all.
python3 - <<'PY' && pass stop-closes-clients-and-programs || fail stop-closes-clients-and-programs "a connection stayed open"
import socket, subprocess, sys
conns = [socket.create_connection(("127.0.0.1", port), timeout=10) for port in (5000, 7007, 7008)]
for s in conns[:2]:
    s.sendall(b"x\n"); s.recv(10)
subprocess.run(["systemctl", "stop", "minetd.service"], check=True)
for s in conns:
    s.settimeout(10)
    try:
        while s.recv(10):
            pass
    except ConnectionResetError:
        pass
    except socket.timeout:
        print("port", s.getpeername()[1], "still open 10 s after the stop")
        sys.exit(1)
PY
expect stop-result success "$(prop minetd.service Result)"
check stop-no-program-left wait_for 5 sh -c '! pgrep -u nobody'
# No process in the cgroups of programs below the helper's (program-ID; the helper is in
# supervisor).
check stop-no-program-cgroup wait_for 5 sh -c '[ -z "$(find /sys/fs/cgroup/system.slice/minetd-helper.service \
	-path "*/program-*/cgroup.procs" -exec cat {} +)" ]'
finish
