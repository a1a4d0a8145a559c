#!/usr/bin/env bash
# Hold ipctop against real programs, by hand, as root: PostgreSQL (a private cluster on a
# loopback port, under pgbench) and nginx (a master and 4 workers with shared zones), then
# compare what `ipctop snapshot --json` says with /proc, lsof and ss:
#   - PostgreSQL's main shared memory (anon_shm) has its full size and every postgres process;
#   - nginx's zones (anon_shm) are held by the master and every worker;
#   - pgbench's TCP connections (inet_socket) pair with their backends, as `ss -tnp` shows;
#   - a client held open to nginx pairs with the worker that accepted it.
# Needs: apt-get install postgresql nginx-light (or nginx), lsof, iproute2 (ss).
# Everything lives in a temporary directory and is stopped and removed at the end.
#   ./scripts/real_programs.sh            # PG_PORT=55432 NGINX_PORT=58080 SECONDS_UNDER_LOAD=8
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "real_programs.sh: run as root" >&2; exit 2; }
PY=${PY:-.venv/bin/python}
PG_PORT=${PG_PORT:-55432}
NGINX_PORT=${NGINX_PORT:-58080}
LOAD=${SECONDS_UNDER_LOAD:-8}
PGBIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
WORK=$(mktemp -d /tmp/ipctop-real.XXXXXX)
chmod 755 "$WORK"
PIDS=()

cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    [ -f "$WORK/pg/postmaster.pid" ] && runuser -u postgres -- "$PGBIN/pg_ctl" -D "$WORK/pg" \
        -m immediate stop >/dev/null 2>&1 || true
    [ -f "$WORK/nginx.pid" ] && kill -QUIT "$(cat "$WORK/nginx.pid")" 2>/dev/null || true
    sleep 0.5
    rm -rf "$WORK"
}
trap cleanup EXIT

echo "== PostgreSQL ($PGBIN) on 127.0.0.1:$PG_PORT, socket dir $WORK/sock"
mkdir -p "$WORK/pg" "$WORK/sock"
chown postgres: "$WORK/pg" "$WORK/sock"
runuser -u postgres -- "$PGBIN/initdb" -D "$WORK/pg" -A trust >/dev/null
runuser -u postgres -- "$PGBIN/pg_ctl" -D "$WORK/pg" -l "$WORK/pg/log" -w -o \
    "-p $PG_PORT -k $WORK/sock -c listen_addresses=127.0.0.1 -c shared_buffers=128MB \
     -c huge_pages=off -c max_connections=20" start >/dev/null
runuser -u postgres -- "$PGBIN/pgbench" -h 127.0.0.1 -p "$PG_PORT" -i -q postgres >/dev/null 2>&1
runuser -u postgres -- "$PGBIN/pgbench" -h 127.0.0.1 -p "$PG_PORT" -c 4 -j 2 -T "$LOAD" \
    postgres >/dev/null 2>&1 &
PIDS+=($!)

echo "== nginx with 4 workers on 127.0.0.1:$NGINX_PORT"
mkdir -p "$WORK/nginx-cache"
cat > "$WORK/nginx.conf" <<EOF
worker_processes 4;
pid $WORK/nginx.pid;
error_log $WORK/nginx-error.log;
events { worker_connections 64; }
http {
    access_log off;
    limit_req_zone \$binary_remote_addr zone=perip:1m rate=100r/s;
    limit_conn_zone \$binary_remote_addr zone=conns:1m;
    proxy_cache_path $WORK/nginx-cache keys_zone=cache:2m;
    client_body_temp_path $WORK/nginx-cache/body;
    proxy_temp_path $WORK/nginx-cache/proxy;
    fastcgi_temp_path $WORK/nginx-cache/fastcgi;
    uwsgi_temp_path $WORK/nginx-cache/uwsgi;
    scgi_temp_path $WORK/nginx-cache/scgi;
    server {
        listen 127.0.0.1:$NGINX_PORT;
        keepalive_timeout 60;
        location / { limit_req zone=perip burst=5; limit_conn conns 10; return 200 "ok\n"; }
    }
}
EOF
nginx -c "$WORK/nginx.conf" -p "$WORK"
# A client that keeps its connection to nginx open while ipctop looks.
"$PY" - "$NGINX_PORT" > "$WORK/client.port" <<'EOF' &
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
s.recv(4096)
print(s.getsockname()[1], flush=True)
time.sleep(60)
EOF
PIDS+=($!)
sleep 2

echo "== ipctop snapshot --json, lsof -n, ss -tnp (while pgbench runs)"
time_start=$(date +%s.%N)
.venv/bin/ipctop snapshot --json > "$WORK/snap.json"
echo "   ipctop snapshot: $(echo "$(date +%s.%N) - $time_start" | bc) s"
lsof -n > "$WORK/lsof.txt" 2>/dev/null || true
ss -tnpH > "$WORK/ss.txt"

"$PY" - "$WORK" "$PG_PORT" "$NGINX_PORT" <<'EOF'
import json, os, re, sys
work, pg_port, ngx_port = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
snap = json.load(open(f"{work}/snap.json"))
objs = snap["objects"]
bad = 0

def check(ok, text):
    global bad
    print(("   PASS " if ok else "   FAIL ") + text)
    bad += not ok

def children(ppid):
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                if int(open(f"/proc/{d}/stat").read().rsplit(")", 1)[1].split()[1]) == ppid:
                    out.append(int(d))
            except OSError:
                pass
    return out

# PostgreSQL: the postmaster is the first line of postmaster.pid.
post = int(open(f"{work}/pg/postmaster.pid").readline())
pg_pids = {post, *children(post)}
anon = [o for o in objs if o["kind"] == "anon_shm" and post in {u["pid"] for u in o["users"]}]
main = max(anon, key=lambda o: o["size"] or 0) if anon else None
# What /proc says: the /dev/zero mapping of the postmaster, its inode and length.
maps = [l.split() for l in open(f"/proc/{post}/maps") if "/dev/zero" in l and " rw-s " in l]
proc_size = max((int(m[0].split("-")[1], 16) - int(m[0].split("-")[0], 16) for m in maps),
                default=0)
proc_ino = max(maps, key=lambda m: int(m[0].split("-")[1], 16) - int(m[0].split("-")[0], 16))[4] \
    if maps else None
def maps_of(pid):
    try:
        return open(f"/proc/{pid}/maps", errors="replace").read().splitlines()
    except OSError:
        return []

mappers = {int(d) for d in os.listdir("/proc") if d.isdigit() and proc_ino and any(
    f" {proc_ino} " in l and "/dev/zero" in l for l in maps_of(d))}
lsof_pids = {int(l.split()[1]) for l in open(f"{work}/lsof.txt") if "/dev/zero" in l
             and proc_ino and f" {proc_ino} " in l}
if main:
    users = {u["pid"] for u in main["users"]}
    print(f"   PostgreSQL anon_shm {main['id']}: {main['size']} bytes "
          f"({main['size'] / 2**20:.1f} MiB), {len(users)} processes, rss {main['rss']} "
          f"(pid {main['rss_pid']}), allocated {main.get('allocated')}")
    print(f"   /proc: {len(maps)} /dev/zero maps in the postmaster, largest {proc_size} bytes, "
          f"inode {proc_ino}, mapped by {len(mappers)} processes; lsof: {len(lsof_pids)}")
    check(main["id"] == proc_ino, "the segment is the postmaster's /dev/zero inode")
    check(main["size"] >= 128 * 2**20 and main["size"] >= proc_size,
          "its full size (>= shared_buffers 128 MiB and the mapping's length)")
    check(users == mappers, f"every process mapping it (/proc: {sorted(mappers)})")
    check(pg_pids <= users, f"every postgres process (postmaster and its {len(pg_pids) - 1} "
          "children)")
    check(not lsof_pids or lsof_pids == users, "the same processes as lsof")
    # `ipctop read` of the segment: the same bytes as the postmaster's mapping itself.
    import subprocess
    got = subprocess.run([".venv/bin/ipctop", "read", "anon-shm", main["id"], "--length", "64",
                          "--raw"], capture_output=True)
    span = max(maps, key=lambda m: int(m[0].split("-")[1], 16) - int(m[0].split("-")[0], 16))[0]
    with open(f"/proc/{post}/map_files/{span}", "rb") as seg:
        want = seg.read(64)
    check(got.returncode == 0 and got.stdout == want,
          f"ipctop read anon-shm {main['id']} gives the segment's first 64 bytes "
          f"({got.stderr.decode().strip()})")
else:
    check(False, "no anon_shm held by the postmaster")
sysv = [o for o in objs if o["kind"] == "sysv_shm" and post in {u["pid"] for u in o["users"]}]
print(f"   (SysV stub beside it: {[(o['id'], o['size']) for o in sysv]})")

# pgbench over TCP: every backend's socket pairs with a pgbench socket, as ss shows.
inet = {o["id"]: o for o in objs if o["kind"] == "inet_socket"}
backends = [o for o in inet.values() if o["local"].endswith(f":{pg_port}")
            and o["state"] == "established"]
ss_pairs = [l for l in open(f"{work}/ss.txt") if f"127.0.0.1:{pg_port} " in l]
paired = [o for o in backends if o["peer"] and str(o["peer"]) in inet
          and inet[str(o["peer"])]["peer"] == int(o["id"])]
print(f"   PostgreSQL TCP: {len(backends)} backend sockets, {len(paired)} paired with their "
      f"client; ss -tnp lines on the port: {len(ss_pairs)}")
check(len(backends) >= 1 and len(paired) == len(backends), "each backend pairs with its client")
check(all({u["pid"] for u in o["users"]} <= pg_pids for o in backends),
      "backend sockets are held by postgres processes")
listen = [o for o in inet.values() if o["state"] == "listen" and
          o["local"] == f"127.0.0.1:{pg_port}"]
check(len(listen) == 1 and {u["pid"] for u in listen[0]["users"]} == {post},
      "the listener, held by the postmaster")

# nginx: zones held by the master and every worker.
master = int(open(f"{work}/nginx.pid").read())
workers = set(children(master))
ngx = {master, *workers}
zones = [o for o in objs if o["kind"] == "anon_shm" and {u["pid"] for u in o["users"]} & ngx]
print(f"   nginx: master {master}, {len(workers)} workers, {len(zones)} anon_shm zones: "
      + ", ".join(f"{o['id']} {o['size']}B" for o in zones))
check(len(zones) >= 3, "limit_req, limit_conn and the cache zone (3 or more segments)")
check(all({u["pid"] for u in o["users"]} == ngx for o in zones),
      "each zone held by the master and every worker")
client_port = int(open(f"{work}/client.port").read())
held = [o for o in inet.values() if o["local"] == f"127.0.0.1:{client_port}"]
check(len(held) == 1 and held[0]["peer"] and
      {u["pid"] for u in inet[str(held[0]["peer"])]["users"]} <= workers,
      "the open client pairs with the nginx worker that accepted it")
print(f"   kinds seen: " + ", ".join(f"{k} {n}" for k, n in sorted(
    {k: sum(1 for o in objs if o['kind'] == k) for k in {o['kind'] for o in objs}}.items())))
sys.exit(1 if bad else 0)
EOF
