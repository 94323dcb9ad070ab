#!/usr/bin/env bash
# The peers of issue #13 (stage 4): Prosody 0.12 and ejabberd 23.01 from Debian's packages, each started on
# 127.0.0.1 with a throwaway config and data directory, for the XMPP side of the relay comparison.
#
#   bench/peers/setup.sh install                          apt-get install the servers (root), print their versions
#   bench/peers/setup.sh start prosody|ejabberd DIR PORT [--no-archive] [USERS]
#                                                         write a config in DIR, register USERS (default 48) users
#                                                         u0..u{USERS-1} (password "pw") on bench.localhost, start
#                                                         the server on 127.0.0.1:PORT and wait until it listens
#   bench/peers/setup.sh pid prosody|ejabberd DIR         print the server's process id
#   bench/peers/setup.sh stop prosody|ejabberd DIR        stop it (DIR can then be removed)
#
# What makes the comparison fair (the issue's list): TLS off for everyone (c2s on 127.0.0.1 without STARTTLS,
# PLAIN auth allowed); Debian's per-connection throttles off (Prosody's mod_limits is not loaded — its stock
# config limits c2s to 10 kB/s; ejabberd's c2s shaper is `none` — stock: 3,000 B/s "normal"); offline storage on
# (mod_offline in both); every message archived (Prosody mod_mam with default_archive_policy = true and no
# expiry; ejabberd mod_mam with `default: always`, whose module default archives nothing) unless --no-archive
# (the ceiling of plain routing); storage in SQL for both: SQLite (Prosody's storage = "sql" through
# lua-dbi-sqlite3; ejabberd's sql_type sqlite through erlang-p1-sqlite3, its schema loaded from Debian's
# lite.sql, since 23.01 does not create it; ejabberd's Mnesia archive degrades as it grows and ejabberd itself
# warns against it). Overt's relay persists every envelope in SQLite (WAL, synchronous=FULL) the same way.
set -euo pipefail

HOST=bench.localhost
cmd=${1:-}

versions() {
  dpkg-query -W -f='${Package} ${Version}\n' prosody ejabberd erlang-p1-sqlite3 lua-dbi-sqlite3 2>/dev/null || true
}

case "$cmd" in
install)
  if ! dpkg-query -W prosody ejabberd erlang-p1-sqlite3 lua-dbi-sqlite3 sqlite3 >/dev/null 2>&1; then
    apt-get update -q >/dev/null
    # Debian's postinst scripts would start the system-wide services; a policy-rc.d that denies it (as here) or
    # their stop below keeps only the throwaway instances running.
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
      prosody lua-dbi-sqlite3 ejabberd erlang-p1-sqlite3 sqlite3 >/dev/null
  fi
  (service prosody stop || true) >/dev/null 2>&1
  (service ejabberd stop || true) >/dev/null 2>&1
  versions
  ;;
start)
  server=$2
  dir=$(realpath -m "$3")
  port=$4
  archive=1
  users=48
  for a in "${@:5}"; do
    case "$a" in
    --no-archive) archive=0 ;;
    *) users=$a ;;
    esac
  done
  mkdir -p "$dir"
  case "$server" in
  prosody)
    mkdir -p "$dir/data"
    mam=''
    if [ "$archive" = 1 ]; then mam='"mam";'; fi
    cat >"$dir/prosody.cfg.lua" <<EOF
-- Throwaway Prosody config written by bench/peers/setup.sh: 127.0.0.1 only, no TLS, no rate limits, SQLite.
daemonize = false
pidfile = "$dir/prosody.pid"
data_path = "$dir/data"
log = { warn = "$dir/prosody.log" }
interfaces = { "127.0.0.1" }
c2s_ports = { $port }
s2s_ports = { }
http_ports = { }
https_ports = { }
modules_enabled = { "roster"; "saslauth"; "disco"; "ping"; "offline"; $mam }
modules_disabled = { "s2s"; "limits"; "tls" }
c2s_require_encryption = false
allow_unencrypted_plain_auth = true
authentication = "internal_plain"
storage = "sql"
sql = { driver = "SQLite3", database = "$dir/prosody.sqlite" }
default_archive_policy = true
archive_expires_after = "never"
max_archive_query_results = 1000
VirtualHost "$HOST"
EOF
    # prosodyctl and prosody, started as root, switch to the prosody user.
    chown -R prosody:prosody "$dir"
    for ((i = 0; i < users; i++)); do
      prosodyctl --config "$dir/prosody.cfg.lua" register "u$i" "$HOST" pw >/dev/null
    done
    # As the prosody user (run as root, prosody refuses); setpriv execs, so $! is the server's own pid.
    nohup setpriv --reuid prosody --regid prosody --init-groups prosody --config "$dir/prosody.cfg.lua" >"$dir/stdout.log" 2>&1 &
    echo $! >"$dir/server.pid"
    ;;
  ejabberd)
    mkdir -p "$dir/logs" "$dir/spool"
    mam='{db_type: sql, default: always, assume_mam_usage: true}'
    mam_line="  mod_mam: $mam"
    if [ "$archive" = 0 ]; then mam_line=''; fi
    sqlite3 "$dir/ejabberd.db" </usr/share/ejabberd/sql/lite.sql
    cat >"$dir/ejabberd.yml" <<EOF
# Throwaway ejabberd config written by bench/peers/setup.sh: 127.0.0.1 only, no TLS, no shaper, SQLite.
hosts: ["$HOST"]
loglevel: warning
certfiles: []
listen:
  - port: $port
    ip: "127.0.0.1"
    module: ejabberd_c2s
    starttls: false
    shaper: none
    max_stanza_size: 1048576
    access: c2s
acl:
  everyone: {user_regexp: ""}
access_rules:
  c2s: {allow: all}
shaper_rules:
  c2s_shaper: none
  max_user_sessions: 100
  max_user_offline_messages: 1000000
default_db: sql
sql_type: sqlite
sql_database: "$dir/ejabberd.db"
new_sql_schema: false
auth_method: sql
auth_password_format: plain
modules:
  mod_roster: {db_type: sql}
  mod_disco: {}
  mod_ping: {}
  mod_offline: {db_type: sql, access_max_user_messages: max_user_offline_messages}
$mam_line
EOF
    cp /etc/ejabberd/inetrc "$dir/" 2>/dev/null || true
    chown -R ejabberd:ejabberd "$dir"
    # As the ejabberd user itself: run as root, ejabberdctl re-runs itself through su, which drops the
    # EJABBERD_CONFIG_PATH it passes --config on with (ejabberd then loads /etc/ejabberd/ejabberd.yml).
    ctl=(runuser -u ejabberd -- env HOME="$dir" ejabberdctl --config-dir "$dir" --config "$dir/ejabberd.yml" --logs "$dir/logs" --spool "$dir/spool" --node "ejabberd-bench-$port@localhost")
    "${ctl[@]}" start
    "${ctl[@]}" started
    for ((i = 0; i < users; i++)); do
      "${ctl[@]}" register "u$i" "$HOST" pw >/dev/null
    done
    ;;
  *)
    echo "unknown server $server" >&2
    exit 2
    ;;
  esac
  for _ in $(seq 1 100); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      echo "$server listening on 127.0.0.1:$port (archive $([ "$archive" = 1 ] && echo on || echo off), $users users)"
      exit 0
    fi
    sleep 0.2
  done
  echo "$server did not start; see $dir" >&2
  exit 1
  ;;
pid)
  # The server's own process id (for its CPU time in /proc/<pid>/stat).
  server=$2
  dir=$(realpath -m "$3")
  case "$server" in
  prosody) cat "$dir/server.pid" ;;
  ejabberd)
    port=$(sed -n 's/^  - port: //p' "$dir/ejabberd.yml")
    pgrep -u ejabberd -f -- "-s?name ejabberd-bench-$port@localhost" | head -1
    ;;
  esac
  ;;
stop)
  server=$2
  dir=$(realpath -m "$3")
  case "$server" in
  prosody)
    if [ -f "$dir/server.pid" ]; then kill "$(cat "$dir/server.pid")" 2>/dev/null || true; fi
    ;;
  ejabberd)
    port=$(sed -n 's/^  - port: //p' "$dir/ejabberd.yml")
    runuser -u ejabberd -- env HOME="$dir" ejabberdctl --config-dir "$dir" --config "$dir/ejabberd.yml" --logs "$dir/logs" --spool "$dir/spool" \
      --node "ejabberd-bench-$port@localhost" stop >/dev/null 2>&1 || true
    ;;
  esac
  ;;
*)
  sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'
  exit 2
  ;;
esac
