#!/usr/bin/env bash
# Benchmarks of pam-mfa against the targets in docs/DESIGN.md ("Performance targets"), side by
# side with pam_oath and google-authenticator-libpam:
#   1. added latency per authentication (pamtester median minus pam_permit's, one run), for
#      the file engine and the PostgreSQL engine (a throw-away cluster on 127.0.0.1);
#   2. 64 and 256 concurrent authentications through the daemon, for both engines;
#      where a login's time goes (strace and perf stat of the daemon, strace of pamtester);
#   3. size of libpam_mfa.so and the daemon's idle RSS; the file engine with 10,000 records:
#      startup time and memory;
#   4. the daemon's answer time per class of user name (docs/DESIGN.md, invariant 10);
#   5. logins with a code sent by text message through the menu, the send itself left out,
#      against a Twilio API stand-in on 127.0.0.1 (mfa-standin);
#   6. approval on the phone: pamtester logins approved through a daemon with [web], the real
#      mfa-web and headless Chromium (virtual authenticator); "Approved" on the page to
#      PAM_SUCCESS, and mfa-web's RSS. This one step uses the end-to-end fixtures of mfa-tests,
#      which add a scratch account or two and an /etc/pam.d service and remove them at the end
#      (a killed run's are removed by the next run of the fixtures).
#   7. RADIUS: Access-Requests per second and p50/p99 latency at 1, 16 and 64 outstanding,
#      FreeRADIUS (Debian's) with rlm_pam -> pam_oath, FreeRADIUS -> pam_mfa.so, and
#      mfa-radius, side by side on 127.0.0.1, with radclient and with mfa-bench's own client.
#      FreeRADIUS loads its modules with RTLD_DEEPBIND, so pam_wrapper cannot redirect
#      rlm_pam: its two PAM services are files in /etc/pam.d with this run's unique prefix,
#      removed on exit (the only files this bench writes outside its temp dirs).
# `bench/run.sh radius` runs section 7 alone and rewrites only its block of bench/RESULTS.md.
# BASELINE_BIN=DIR (optional) adds a stack "pam_mfa at $BASELINE_LABEL": the module and the
# daemon of another build (DIR holds its libpam_mfa.so and mfa-daemon; the file engine, on the
# same disk), interleaved with the others, so that a change's cost is measured in one run.
# Installs what it needs, builds the release once, prints the figures and writes them to
# bench/RESULTS.md (keeping the block bench/attack.sh writes there). Run as root (root may
# authenticate any name through the daemon, and both other modules read their secrets from
# files given here).
# Touches nothing in /etc: every PAM stack runs under pam_wrapper, the daemon listens on a
# socket in a temporary directory and knows the bench users from a passwd file of its own
# (nss_wrapper: it enrolls only accounts NSS knows), PostgreSQL runs as nobody from a data
# directory in a temporary directory, and what this starts is stopped by PID on any exit. Benchmarks are not tests: a missed target is reported, not an error.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
ONLY=${1:-}                           # a section to run alone: radius
case $ONLY in
  '' | radius) ;;
  *) echo "bench: unknown section '$ONLY' (the one that runs alone: radius)" >&2; exit 2 ;;
esac

LATENCY_USERS=${LATENCY_USERS:-100}   # per stack; each is used once per round
LATENCY_ROUNDS=${LATENCY_ROUNDS:-6}   # three rounds fit in a 30 s period, then it waits
read -ra CONCURRENCY_LEVELS <<<"${CONCURRENCY_LEVELS:-64 256}" # logins at once, ascending
CONCURRENT_USERS=${CONCURRENCY_LEVELS[-1]} # per engine; the smaller runs take the first users
CONCURRENT_ROUNDS=${CONCURRENT_ROUNDS:-6}
ENROLL_JOBS=${ENROLL_JOBS:-2}         # enrollments at once (the daemon's hashing pool bounds them)
MANY_RECORDS=${MANY_RECORDS:-10000}   # records written straight into a state directory
MANY_LOGINS=${MANY_LOGINS:-2000}      # of those users, logged in once each before the RSS
PROFILE_USERS=${PROFILE_USERS:-100}   # logins per profile pass
MODULE_PROFILE_RUNS=${MODULE_PROFILE_RUNS:-20}
NAME_SAMPLES=${NAME_SAMPLES:-250}     # per name class and answer shape
SENT_USERS=${SENT_USERS:-50}          # each logs in once per round with each kind of code
SENT_ROUNDS=${SENT_ROUNDS:-6}
APPROVAL_ROUNDS=${APPROVAL_ROUNDS:-20} # approvals on the phone (at most 60: one user's pushes per hour)
read -ra RADIUS_LEVELS <<<"${RADIUS_LEVELS:-1 16 64}" # RADIUS requests outstanding
RADIUS_USERS=${RADIUS_USERS:-256}     # per RADIUS server; taken in turn, so a user's next code
                                      # is sent RADIUS_USERS requests after its last
RADIUS_REQUESTS=${RADIUS_REQUESTS:-2000} # per run: one server, one client, one level
STEP_TIMEOUT=300                      # seconds any one benchmark step may take
BASELINE_BIN=${BASELINE_BIN:-}        # another build's libpam_mfa.so and mfa-daemon, if any
BASELINE_LABEL=${BASELINE_LABEL:-baseline}

if [ "$(id -u)" -ne 0 ]; then
  echo "bench: run as root (it enrolls users for any name through the daemon)" >&2
  exit 1
fi

echo "== installing packages"
scripts/install-deps.sh
BENCH_PACKAGES=(libpam-oath libpam-google-authenticator oathtool pamtester libpam-wrapper libnss-wrapper procps postgresql strace linux-perf freeradius freeradius-utils iproute2)
missing=()
for p in "${BENCH_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q -o DPkg::Lock::Timeout=300 --no-install-recommends "${missing[@]}"
fi
if [ -x "$HOME/.cargo/bin/cargo" ]; then export PATH="$HOME/.cargo/bin:$PATH"; fi

echo "== building the release"
cargo build --release --workspace
BIN="$ROOT/target/release"
BENCH="$BIN/mfa-bench"

WORK=$(mktemp -d /tmp/pam-mfa-bench.XXXXXX)
SHM=""
PG_HOME=""
PG_PID=""
DAEMON_PIDS=()
STANDIN_PIDS=()
TRACER_PIDS=()
STEP_PID=""
RADIUS_PAM_FILES=()
cleanup() {
  local pid
  rm -f "${RADIUS_PAM_FILES[@]}"
  for pid in $STEP_PID "${TRACER_PIDS[@]}" "${DAEMON_PIDS[@]}" "${STANDIN_PIDS[@]}"; do
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  # The postmaster is no child of this shell (pg_ctl detaches it): a fast shutdown by its
  # PID, then SIGKILL if it is still there after 10 s.
  if [ -n "$PG_PID" ] && kill -INT "$PG_PID" 2>/dev/null; then
    for _ in $(seq 100); do kill -0 "$PG_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$PG_PID" 2>/dev/null || true
  fi
  rm -rf "$WORK"
  if [ -n "$SHM" ]; then rm -rf "$SHM"; fi
  if [ -n "$PG_HOME" ]; then rm -rf "$PG_HOME"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# step COMMAND...: runs a benchmark step with a time limit, in the background so that a
# signal to this script is handled at once (and the cleanup stops the step by its PID).
step() {
  local status=0
  timeout "$STEP_TIMEOUT" "$@" &
  STEP_PID=$!
  wait "$STEP_PID" || status=$?
  STEP_PID=""
  return "$status"
}

# Unique per run, so that a run killed half-way leaves nothing a rerun trips over.
PREFIX="mfab$$-"

# The bench users' accounts, for the daemon and mfa-enroll only (nss_wrapper reads these
# files instead of the system's): root, the daemon's account (which mfa-enroll looks up; the
# bench daemon runs as root all the same), every name enrolled below, and one account that
# is never enrolled (for the name classes). No bench user logs in to the system.
NSS_UNENROLLED="${PREFIX}u0"
{
  getent passwd root
  echo "mfa:x:69999:70000:mfa-daemon:/nonexistent:/usr/sbin/nologin"
  uid=70000
  for name in "$NSS_UNENROLLED" "${PREFIX}e0" \
    $(seq -f "${PREFIX}l%g" 0 $((LATENCY_USERS - 1))) \
    $(seq -f "${PREFIX}c%g" 0 $((CONCURRENT_USERS - 1))) \
    $(seq -f "${PREFIX}t%g" 0 $((LATENCY_USERS - 1))) \
    $(seq -f "${PREFIX}b%g" 0 $((LATENCY_USERS - 1))) \
    $(seq -f "${PREFIX}p%g" 0 $((LATENCY_USERS - 1))) \
    $(seq -f "${PREFIX}q%g" 0 $((CONCURRENT_USERS - 1))) \
    $(seq -f "${PREFIX}f%g" 0 $((PROFILE_USERS - 1))); do
    echo "$name:x:$uid:70000:mfa-bench:/nonexistent:/usr/sbin/nologin"
    uid=$((uid + 1))
  done
} >"$WORK/passwd"
printf 'root:x:0:\nmfabench:x:70000:\n' >"$WORK/group"
NSS_ENV=(env LD_PRELOAD=libnss_wrapper.so NSS_WRAPPER_PASSWD="$WORK/passwd" NSS_WRAPPER_GROUP="$WORK/group")

# start_daemon NAME STATE_DIR [EXTRA_TOML [BIN_DIR]]: an mfa-daemon (of BIN_DIR, else this
# build) with built-in defaults (and EXTRA_TOML) listening on $WORK/NAME.sock, logging to
# $WORK/NAME.log; sets STARTED_PID.
start_daemon() {
  local sock="$WORK/$1.sock"
  printf 'socket = "%s"\nstate_dir = "%s"\n%s\n' "$sock" "$2" "${3:-}" >"$WORK/$1.toml"
  "${NSS_ENV[@]}" "${4:-$BIN}/mfa-daemon" --config "$WORK/$1.toml" 2>"$WORK/$1.log" &
  STARTED_PID=$!
  DAEMON_PIDS+=("$STARTED_PID")
  for _ in $(seq 100); do [ -S "$sock" ] && return 0; sleep 0.05; done
  cat "$WORK/$1.log" >&2
  echo "bench: mfa-daemon $1 did not start" >&2
  exit 1
}
# The measured daemon's resident set, in KiB, 1 s after its last request.
idle_rss() {
  sleep 1
  awk '/^VmRSS:/ {print $2}' "/proc/$MFA_PID/status"
}

# --- 7. RADIUS (also `bench/run.sh radius` alone) ---
# free_udp_port: a UDP port on 127.0.0.1 that nothing listens on.
free_udp_port() {
  local port
  for _ in $(seq 50); do
    port=$((20000 + RANDOM % 30000))
    if [ -z "$(ss -Hlun "sport = :$port")" ]; then echo "$port"; return 0; fi
  done
  echo "bench: no free UDP port" >&2
  return 1
}
wait_udp() { for _ in $(seq 200); do [ -n "$(ss -Hlun "sport = :$1")" ] && return 0; sleep 0.05; done; return 1; }

# freeradius_start NAME PORT PAM_SERVICE: Debian's FreeRADIUS from a throw-away raddb of
# its own: one client (127.0.0.1, the bench secret, Message-Authenticator required as
# mfa-radius requires it), every Access-Request to rlm_pam with PAM_SERVICE (Auth-Type :=
# PAM), Debian's thread pool (5 to 32 threads), run as root (pam_oath's file and the daemon's
# privileged socket are root's), in the foreground (-f, threaded; -X would be one thread).
# reject_delay = 0: Debian's 1 s would only slow the refused requests.
freeradius_start() {
  local dir="$RADIUS_DIR/$1"
  mkdir -p "$dir/raddb" "$dir/log" "$dir/run"
  # shellcheck disable=SC2016 # FreeRADIUS's own syntax.
  echo '$INCLUDE /usr/share/freeradius/dictionary' >"$dir/raddb/dictionary"
  cat >"$dir/raddb/radiusd.conf" <<EOF
prefix = /usr
exec_prefix = /usr
sysconfdir = /etc
localstatedir = /var
sbindir = /usr/sbin
logdir = $dir/log
raddbdir = $dir/raddb
radacctdir = $dir/log
name = freeradius
confdir = $dir/raddb
modconfdir = $dir/raddb/mods-config
run_dir = $dir/run
db_dir = $dir/raddb
libdir = /usr/lib/freeradius
pidfile = $dir/run/freeradius.pid
max_request_time = 30
cleanup_delay = 5
max_requests = 16384
hostname_lookups = no
log {
	destination = stdout
	colourise = no
	auth = no
}
security {
	allow_core_dumps = no
	max_attributes = 200
	reject_delay = 0
	status_server = no
}
proxy_requests = no
thread pool {
	start_servers = 5
	max_servers = 32
	min_spare_servers = 3
	max_spare_servers = 10
	max_requests_per_server = 0
	auto_limit_acct = no
}
client bench {
	ipaddr = 127.0.0.1
	secret = $(cat "$RADIUS_DIR/secret")
	require_message_authenticator = yes
}
modules {
	pam {
		pam_auth = $3
	}
}
server default {
	listen {
		type = auth
		ipaddr = 127.0.0.1
		port = $2
	}
	authorize {
		update control {
			&Auth-Type := PAM
		}
	}
	authenticate {
		Auth-Type PAM {
			pam
		}
	}
}
EOF
  freeradius -f -d "$dir/raddb" -l stdout >"$dir/log/out" 2>&1 &
  DAEMON_PIDS+=($!)
  wait_udp "$2" || { cat "$dir/log/out" >&2; echo "bench: freeradius $1 did not start" >&2; exit 1; }
}

# Runs section 7 into $WORK/radius.md.
radius_section() {
  echo "== 7. RADIUS: FreeRADIUS (rlm_pam -> pam_oath, -> pam_mfa.so) and mfa-radius, ${RADIUS_LEVELS[*]} outstanding"
  RADIUS_DIR="$WORK/radius"
  mkdir -m 700 "$RADIUS_DIR"
  local r=$RADIUS_DIR server level client i
  (umask 077 && od -An -N24 -tx1 /dev/urandom | tr -d ' \n' >"$r/secret")
  # HOTP users, as a roster for mfa-bench and as pam_oath lines; pam-mfa's are imported
  # from their pam_oath lines (mfactl import oath: an HOTP token at counter 0).
  for server in oath mfa radius; do
    "$BENCH" radius-users --prefix "${PREFIX}r${server:0:1}" --count "$RADIUS_USERS" \
      --roster "$r/$server.roster" --oath-users "$r/$server.users"
  done
  {
    getent passwd root
    echo "mfa:x:69999:70000:mfa-daemon:/nonexistent:/usr/sbin/nologin"
    echo "mfa-radius:x:69998:70000:mfa-radius:/nonexistent:/usr/sbin/nologin"
    for i in $(seq 0 $((RADIUS_USERS - 1))); do
      echo "${PREFIX}rm$i:x:$((90000 + i)):70000:mfa-bench:/nonexistent:/usr/sbin/nologin"
      echo "${PREFIX}rr$i:x:$((95000 + i)):70000:mfa-bench:/nonexistent:/usr/sbin/nologin"
    done
  } >"$r/passwd"
  local nss_saved=("${NSS_ENV[@]}")
  NSS_ENV=(env LD_PRELOAD=libnss_wrapper.so NSS_WRAPPER_PASSWD="$r/passwd" NSS_WRAPPER_GROUP="$WORK/group")
  declare -A port label
  for server in oath mfa radius; do port[$server]=$(free_udp_port); done
  label[oath]="FreeRADIUS → rlm_pam → pam_oath"
  label[mfa]="FreeRADIUS → rlm_pam → pam_mfa.so"
  label[radius]="mfa-radius"
  # One daemon (built-in defaults, files engine, state on the same disk as /tmp) behind both
  # FreeRADIUS -> pam_mfa.so and mfa-radius; each has its own users.
  start_daemon mfa-rad "$r/state" "[radius]
listen = [\"127.0.0.1:${port[radius]}\"]
password = \"none\"
[[radius.client]]
name = \"bench\"
address = \"127.0.0.1\"
secret_file = \"$r/secret\"
requests_per_second = 10000"
  RADIUS_DAEMON_PID=$STARTED_PID
  for server in mfa radius; do
    "${NSS_ENV[@]}" "$BIN/mfactl" --socket "$WORK/mfa-rad.sock" import oath "$r/$server.users" >"$r/import-$server.out"
  done
  # mfa-radius as root (the daemon answers radius.sock for root and radius.user).
  "${NSS_ENV[@]}" "$BIN/mfa-radius" --config "$WORK/mfa-rad.toml" 2>"$WORK/mfa-radius.log" &
  DAEMON_PIDS+=($!)
  RADIUS_SERVER_PID=$!
  wait_udp "${port[radius]}" || { cat "$WORK/mfa-radius.log" >&2; echo "bench: mfa-radius did not start" >&2; exit 1; }
  NSS_ENV=("${nss_saved[@]}")

  printf 'auth required pam_oath.so usersfile=%s window=10 digits=6\naccount required pam_permit.so\n' \
    "$r/oath.users" >"/etc/pam.d/${PREFIX}radius-oath"
  RADIUS_PAM_FILES+=("/etc/pam.d/${PREFIX}radius-oath")
  printf 'auth required %s socket=%s\naccount required pam_permit.so\n' \
    "$BIN/libpam_mfa.so" "$WORK/mfa-rad.sock" >"/etc/pam.d/${PREFIX}radius-mfa"
  RADIUS_PAM_FILES+=("/etc/pam.d/${PREFIX}radius-mfa")
  freeradius_start oath "${port[oath]}" "${PREFIX}radius-oath"
  freeradius_start mfa "${port[mfa]}" "${PREFIX}radius-mfa"

  # radius_load SERVER LEVEL COUNT [radclient]: one run, its row appended to runs.out.
  radius_load() {
    local extra=()
    if [ "${4:-}" = radclient ]; then extra=(--radclient "$(command -v radclient)"); fi
    step "$BENCH" radius-load --server "127.0.0.1:${port[$1]}" --secret-file "$r/secret" \
      --roster "$r/$1.roster" --outstanding "$2" --requests "$3" --label "${label[$1]}" "${extra[@]}"
  }
  for server in oath mfa radius; do radius_load "$server" 1 64 >/dev/null; done # warm-up
  : >"$r/runs.out"
  local order=(oath mfa radius)
  i=0
  for level in "${RADIUS_LEVELS[@]}"; do
    for server in "${order[@]:i%3}" "${order[@]:0:i%3}"; do
      for client in radclient mfa-bench; do
        radius_load "$server" "$level" "$RADIUS_REQUESTS" "$client" | tee -a "$r/runs.out"
      done
    done
    i=$((i + 1))
  done
  radius_summary >"$WORK/radius.md"
  cat "$WORK/radius.md"
}

# The table of section 7, sorted by outstanding requests and server, and its target.
radius_summary() {
  local r=$RADIUS_DIR
  echo "| server | client | outstanding | requests | accepted | rejected | lost | p50 ms | p99 ms | wall s | accepted/s |"
  echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
  grep '^|' "$r/runs.out" | sort -s -t'|' -k4,4n -k2,2 -k3,3r
  echo
  grep '^- ' "$r/runs.out" | sort -u
  # mfa-radius against FreeRADIUS -> pam_oath at each level, mfa-bench's figures.
  awk -F'|' '
    function t(s) { gsub(/^ +| +$/, "", s); return s }
    t($3) == "mfa-bench" {
      rate[t($2), t($4)] = t($12); p99[t($2), t($4)] = t($10)
      if (!(t($4) in seen)) { seen[t($4)] = 1; levels[++n] = t($4) }
    }
    END {
      met = n > 0; detail = ""
      for (k = 1; k <= n; k++) {
        l = levels[k]
        a = "mfa-radius"; b = "FreeRADIUS → rlm_pam → pam_oath"
        ok = (rate[a, l] + 0 > rate[b, l] + 0) && (p99[a, l] + 0 < p99[b, l] + 0)
        if (!ok) met = 0
        detail = detail sprintf("%s%s outstanding: %s/s p99 %s ms against %s/s p99 %s ms", detail == "" ? "" : "; ", l, rate[a, l], p99[a, l], rate[b, l], p99[b, l])
      }
      printf "\nTarget: mfa-radius ahead of FreeRADIUS → rlm_pam → pam_oath (more accepted requests per second and a lower p99 at every level, mfa-bench client): %s (%s).\n", met ? "MET" : "NOT MET", detail
    }' "$r/runs.out"
}

# The block of bench/RESULTS.md that section 7 writes (between its markers, so that
# `bench/run.sh radius` can replace it alone).
radius_block() {
  local rev
  rev=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo "?")
  if [ -n "$(git -C "$ROOT" status --porcelain 2>/dev/null)" ]; then rev="$rev with uncommitted changes"; fi
  echo "<!-- begin bench/run.sh radius (\`bench/run.sh radius\` rewrites this block alone) -->"
  echo "## 7. RADIUS: mfa-radius beside FreeRADIUS"
  echo
  echo "- Run: $(date -u '+%Y-%m-%d %H:%M UTC'), pam-mfa $rev; $(nproc) CPUs; load average at the end $(cut -d' ' -f1-3 /proc/loadavg); FreeRADIUS and radclient $(dpkg-query -W -f='${Version}' freeradius 2>/dev/null || echo "?"), libpam-oath $(dpkg-query -W -f='${Version}' libpam-oath 2>/dev/null || echo "?")."
  echo "- Three servers on 127.0.0.1, all running as root, the same shared secret, Message-Authenticator required on requests: FreeRADIUS (\`freeradius -f\`, Debian's thread pool of 5 to 32 threads, a minimal raddb: one client, \`Auth-Type := PAM\` for every request, \`reject_delay = 0\`) with rlm_pam to pam_oath (\`usersfile=... window=10 digits=6\`, one file of $RADIUS_USERS \`HOTP\` lines); the same FreeRADIUS setup with rlm_pam to pam_mfa.so (\`socket=...\`, as root); and mfa-radius (\`password = \"none\"\`, \`requests_per_second = 10000\`, default logging). The last two share one mfa-daemon (built-in defaults, files engine, state on the same disk as /tmp), each with $RADIUS_USERS users of its own, imported from pam_oath lines with \`mfactl import oath\` (HOTP tokens, \`hotp.window\` 10)."
  echo "- Every request is a new login with a fresh HOTP code (the user's next counter; users taken in turn, so a user's next request comes $RADIUS_USERS requests later). Replay state is durable on both sides before the answer: pam_oath rewrites its whole usersfile under a lock file (write a \`.new\` file, fsync, rename) on each success; pam-mfa writes the token's counter to the user's record with fdatasync before it answers."
  echo "- rlm_pam is declared thread-unsafe in FreeRADIUS 3 (\`RLM_TYPE_THREAD_UNSAFE\`, \"the PAM libraries are not thread-safe\"), so FreeRADIUS runs one PAM conversation at a time whatever its thread pool: its throughput cannot grow with outstanding requests, and their latency grows with the queue. Every FreeRADIUS request also starts PAM afresh (pam_start reads the service file; pam_end)."
  echo "- Each run: $RADIUS_REQUESTS requests, one server, one client, N outstanding, no retransmission (5 s timeout = lost); after a 64-request warm-up per server. The order of the servers rotates by level. **radclient** (\`radclient -q -s -f FILE -p N -t 5 -r 1\`, FreeRADIUS's own client, Message-Authenticator added) gives the throughput (requests accepted / wall time of the radclient process, which includes its start, about 0.1 s, and reading its file); it reports no per-request latency, and its own cost per request caps what it can show: where it gives much less than mfa-bench against the same server, the limit is radclient's, not the server's. **mfa-bench** (\`mfa-bench radius-load\`, built on mfa-radius's codec: \`encode_request\`, \`verify_response\`) keeps N requests outstanding on one UDP socket and times each from send to answer: its p50/p99 and throughput. accepted/s = accepted requests / wall time."
  echo
  cat "$WORK/radius.md"
  echo "<!-- end bench/run.sh radius -->"
}

if [ "$ONLY" = radius ]; then
  radius_section
  radius_block >"$WORK/radius-block.md"
  if grep -q '^<!-- begin bench/run.sh radius' "$ROOT/bench/RESULTS.md" 2>/dev/null; then
    awk -v block="$WORK/radius-block.md" '
      /^<!-- begin bench\/run.sh radius/ { while ((getline line < block) > 0) print line; skip = 1; next }
      skip && /^<!-- end bench\/run.sh radius/ { skip = 0; next }
      !skip { print }' "$ROOT/bench/RESULTS.md" >"$WORK/RESULTS.md"
    cp "$WORK/RESULTS.md" "$ROOT/bench/RESULTS.md"
  else
    { echo; cat "$WORK/radius-block.md"; } >>"$ROOT/bench/RESULTS.md"
  fi
  echo "== wrote section 7 of bench/RESULTS.md"
  grep -h '^Target:' "$WORK/radius.md"
  exit 0
fi

# The daemon that is measured keeps its state on the same disk as /tmp (fsync is real unless
# /tmp is a tmpfs). A second one, for the breakdown only, keeps it on tmpfs, where fsync
# costs nothing: the difference between the two is the cost of durable replay state.
echo "== starting mfa-daemon"
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
SOCK="$WORK/mfa.sock"
STATE="$WORK/state"
start_daemon mfa "$STATE"
MFA_PID=$STARTED_PID
RSS_START=$(idle_rss)
if [ "$(stat -f -c %T /dev/shm 2>/dev/null)" = "tmpfs" ]; then
  SHM=$(mktemp -d /dev/shm/pam-mfa-bench.XXXXXX)
  start_daemon mfa-tmpfs "$SHM/state"
fi
if [ -n "$BASELINE_BIN" ]; then
  for f in libpam_mfa.so mfa-daemon; do
    [ -x "$BASELINE_BIN/$f" ] || { echo "bench: no $BASELINE_BIN/$f (BASELINE_BIN)" >&2; exit 1; }
  done
  start_daemon mfa-base "$WORK/state-base" "" "$BASELINE_BIN"
fi

# A throw-away PostgreSQL for the postgres engine, as tests/src/postgres.rs makes one: initdb
# and pg_ctl as nobody (PostgreSQL refuses root), listening on 127.0.0.1 only, on a free
# port; role and database mfa with a random password over TCP (scram-sha-256). Unlike the
# tests' cluster it keeps PostgreSQL's durable defaults (fsync = on, synchronous_commit =
# on): a commit is flushed to disk before the daemon answers, as the file engine's write is.
# Its home is a directory of its own, not under $WORK, which only root may enter.
echo "== starting PostgreSQL on 127.0.0.1"
PG_BIN=$(find /usr/lib/postgresql -mindepth 2 -maxdepth 2 -name bin | sort -V | tail -1)
[ -x "$PG_BIN/initdb" ] || { echo "bench: no /usr/lib/postgresql/*/bin/initdb" >&2; exit 1; }
PG_HOME=$(mktemp -d /tmp/pam-mfa-bench-pg.XXXXXX)
chown nobody:nogroup "$PG_HOME"
chmod 700 "$PG_HOME"
as_nobody() { (cd "$PG_HOME" && runuser -u nobody -- env -i HOME="$PG_HOME" LC_ALL=C PATH=/usr/bin:/bin "$@"); }
as_nobody "$PG_BIN/initdb" -D "$PG_HOME/data" -U postgres --auth=trust --encoding=UTF8 \
  --locale=C >"$WORK/initdb.log" 2>&1 || { cat "$WORK/initdb.log" >&2; exit 1; }
printf 'local all all trust\nhost mfa mfa 127.0.0.1/32 scram-sha-256\n' >"$PG_HOME/data/pg_hba.conf"
cat >>"$PG_HOME/data/postgresql.conf" <<EOF
listen_addresses = '127.0.0.1'
unix_socket_directories = '$PG_HOME'
max_connections = 40
shared_buffers = 32MB
fsync = on
synchronous_commit = on
log_min_messages = warning
include_if_exists = 'bench-port.conf'
EOF
PG_PORT=""
for _ in 1 2 3 4 5; do
  port=$((20000 + RANDOM % 30000))
  echo "port = $port" >"$PG_HOME/data/bench-port.conf"
  chown nobody:nogroup "$PG_HOME/data/pg_hba.conf" "$PG_HOME/data/bench-port.conf"
  if as_nobody "$PG_BIN/pg_ctl" -D "$PG_HOME/data" -w -t 30 -l "$PG_HOME/postgres.log" start >/dev/null; then
    PG_PORT=$port
    break
  fi
done
[ -n "$PG_PORT" ] || { cat "$PG_HOME/postgres.log" >&2; echo "bench: PostgreSQL did not start" >&2; exit 1; }
PG_PID=$(head -1 "$PG_HOME/data/postmaster.pid")
PG_PASSWORD=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
as_nobody "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$PG_HOME" -p "$PG_PORT" -U postgres -d postgres \
  -c "create role mfa login password '$PG_PASSWORD'" -c "create database mfa owner mfa"
(umask 077
  echo "host=127.0.0.1 port=$PG_PORT user=mfa dbname=mfa password=$PG_PASSWORD" >"$WORK/pg-url"
  head -c 32 /dev/urandom >"$WORK/pg-key")
PG_VERSION=$("$PG_BIN/postgres" --version | awk '{print $NF}')
start_daemon mfa-pg "$WORK/pg-state" "[store]
engine = \"postgres\"
url_file = \"$WORK/pg-url\"
key_file = \"$WORK/pg-key\"
pool_size = 8
timeout = \"3s\""
PG_DAEMON_PID=$STARTED_PID

echo "== bench users: $LATENCY_USERS per PAM stack, $CONCURRENT_USERS per engine for the concurrency runs, $PROFILE_USERS for the profile"
# enroll SOCKET PREFIX COUNT ROSTER: COUNT users enrolled through mfa-enroll, ENROLL_JOBS at a time.
enroll() {
  step "${NSS_ENV[@]}" "$BENCH" enroll --mfa-enroll "$BIN/mfa-enroll" --socket "$1" \
    --prefix "$2" --count "$3" --jobs "$ENROLL_JOBS" --out "$4"
}
enroll_started=$SECONDS
enroll "$SOCK" "${PREFIX}l" "$LATENCY_USERS" "$WORK/mfa.roster"
enroll "$SOCK" "${PREFIX}c" "$CONCURRENT_USERS" "$WORK/concurrent.roster"
enroll "$SOCK" "${PREFIX}f" "$PROFILE_USERS" "$WORK/profile.roster"
ENROLL_SECONDS=$((SECONDS - enroll_started))
ENROLLED_FILES=$((LATENCY_USERS + CONCURRENT_USERS + PROFILE_USERS))
RSS_ENROLLED=$(idle_rss)
enroll_started=$SECONDS
enroll "$WORK/mfa-pg.sock" "${PREFIX}p" "$LATENCY_USERS" "$WORK/mfa-pg.roster"
enroll "$WORK/mfa-pg.sock" "${PREFIX}q" "$CONCURRENT_USERS" "$WORK/concurrent-pg.roster"
ENROLL_PG_SECONDS=$((SECONDS - enroll_started))
BREAKDOWN_STACKS=()
if [ -n "$SHM" ]; then
  enroll "$WORK/mfa-tmpfs.sock" "${PREFIX}t" "$LATENCY_USERS" "$WORK/mfa-tmpfs.roster"
  BREAKDOWN_STACKS+=(--stack "pam_mfa, state on tmpfs=bench-mfa-tmpfs=$WORK/mfa-tmpfs.roster")
fi
BREAKDOWN_STACKS+=(--stack "pam_mfa, module only=bench-mfa-module")
if [ -n "$BASELINE_BIN" ]; then
  enroll "$WORK/mfa-base.sock" "${PREFIX}b" "$LATENCY_USERS" "$WORK/mfa-base.roster"
  BREAKDOWN_STACKS+=(--stack "pam_mfa at $BASELINE_LABEL=bench-mfa-base=$WORK/mfa-base.roster")
fi
"$BENCH" secrets --prefix "${PREFIX}o" --count "$LATENCY_USERS" --out "$WORK/oath.roster"
"$BENCH" secrets --prefix "${PREFIX}g" --count "$LATENCY_USERS" --out "$WORK/ga.roster"

# pam_oath: one usersfile with a TOTP line per user (hex secret); it rewrites the file under
# a lock file to record each user's last accepted code.
mkdir -m 700 "$WORK/oath" "$WORK/ga"
while read -r name secret _; do
  case $name in '#'*) continue ;; esac
  printf 'HOTP/T30 %s - %s\n' "$name" "$(printf '%s' "$secret" | base32 -d | od -An -v -tx1 | tr -d ' \n')"
done <"$WORK/oath.roster" >"$WORK/oath/users"
chmod 600 "$WORK/oath/users"

# google-authenticator-libpam: one secret file per user, as its own tool writes them for
# TOTP with reuse refused and one step of skew either side; owned by root, mode 0400.
while read -r name secret _; do
  case $name in '#'*) continue ;; esac
  printf '%s\n" TOTP_AUTH\n" DISALLOW_REUSE\n" WINDOW_SIZE 3\n' "$secret" >"$WORK/ga/$name"
  chmod 400 "$WORK/ga/$name"
done <"$WORK/ga.roster"

PAM_DIR="$WORK/pam.d"
mkdir "$PAM_DIR"
echo "auth required pam_permit.so" >"$PAM_DIR/bench-permit"
echo "auth required $BIN/libpam_mfa.so socket=$SOCK" >"$PAM_DIR/bench-mfa"
echo "auth required $BIN/libpam_mfa.so socket=$WORK/mfa-tmpfs.sock" >"$PAM_DIR/bench-mfa-tmpfs"
echo "auth required $BIN/libpam_mfa.so socket=$WORK/mfa-pg.sock" >"$PAM_DIR/bench-mfa-pg"
echo "auth required ${BASELINE_BIN:-$BIN}/libpam_mfa.so socket=$WORK/mfa-base.sock" >"$PAM_DIR/bench-mfa-base"
# Loads and runs the module up to its failed connect, then lets pam_permit decide.
printf 'auth optional %s socket=%s failmode=safe\nauth required pam_permit.so\n' \
  "$BIN/libpam_mfa.so" "$WORK/no-daemon.sock" >"$PAM_DIR/bench-mfa-module"
echo "auth required pam_oath.so usersfile=$WORK/oath/users window=1 digits=6" >"$PAM_DIR/bench-oath"
# shellcheck disable=SC2016 # ${USER} is for the module to expand.
echo 'auth required pam_google_authenticator.so secret='"$WORK"'/ga/${USER} user=root' >"$PAM_DIR/bench-ga"

echo "== 1. latency per authentication ($LATENCY_ROUNDS rounds)"
step "$BENCH" latency --pam-dir "$PAM_DIR" --rounds "$LATENCY_ROUNDS" \
  --baseline pam_permit=bench-permit \
  --stack "pam_mfa=bench-mfa=$WORK/mfa.roster" \
  --stack "pam_mfa, postgres on loopback=bench-mfa-pg=$WORK/mfa-pg.roster" \
  --stack "pam_oath=bench-oath=$WORK/oath.roster" \
  --stack "google-authenticator=bench-ga=$WORK/ga.roster" \
  "${BREAKDOWN_STACKS[@]}" \
  --target pam_mfa=0.5 >"$WORK/latency.md"
cat "$WORK/latency.md"
RSS_AFTER_LATENCY=$(idle_rss)

echo "== 2. ${CONCURRENCY_LEVELS[*]} concurrent authentications per engine ($CONCURRENT_ROUNDS rounds each)"
: >"$WORK/concurrency.out"
for engine in files postgres; do
  case $engine in
    files) engine_sock=$SOCK roster=$WORK/concurrent.roster ;;
    postgres) engine_sock=$WORK/mfa-pg.sock roster=$WORK/concurrent-pg.roster ;;
  esac
  for level in "${CONCURRENCY_LEVELS[@]}"; do
    step "$BENCH" concurrency --socket "$engine_sock" --roster "$roster" --threads "$level" \
      --rounds "$CONCURRENT_ROUNDS" --label "$engine" >>"$WORK/concurrency.out"
  done
done
{
  echo "| engine | concurrent logins | authentications | errors | p50 ms | p90 ms | p99 ms | max ms | round wall time (median) ms | throughput auth/s |"
  echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
  grep '^|' "$WORK/concurrency.out"
  echo
  grep '^- ' "$WORK/concurrency.out"
  echo
  grep '^Target:' "$WORK/concurrency.out"
} >"$WORK/concurrency.md"
cat "$WORK/concurrency.md"
RSS_AFTER_CONCURRENCY=$(idle_rss)
RECORDS=$(find "$STATE/users" -name '*.rec' | wc -l)

echo "== where a login's time goes: the daemon (files engine), $PROFILE_USERS logins per pass"
# Three passes over the same users, one login each, one at a time, through the protocol: the
# first untraced (the figure to explain), the second under perf stat (the daemon's CPU time
# and context switches), the third under strace (its system calls by class).
SWEEP_HEADER="| logins | count | errors | p50 ms | p90 ms | p99 ms | max ms | wall s | logins/s |
|---|---:|---:|---:|---:|---:|---:|---:|---:|"
step "$BENCH" sweep --socket "$SOCK" --roster "$WORK/profile.roster" --jobs 1 \
  --label "one at a time, connect to Done, untraced" >"$WORK/profile-sweep.md"
perf stat -p "$MFA_PID" -x, -o "$WORK/perf-stat.csv" -e task-clock,context-switches,cpu-migrations &
TRACER_PIDS+=($!)
sleep 1
step "$BENCH" sweep --socket "$SOCK" --roster "$WORK/profile.roster" --jobs 1 \
  --label "the same, the daemon under perf stat" >>"$WORK/profile-sweep.md"
kill -INT "${TRACER_PIDS[-1]}"
wait "${TRACER_PIDS[-1]}" || true
strace -f -ttt -T -y -p "$MFA_PID" -o "$WORK/daemon.strace" 2>"$WORK/strace.log" &
TRACER_PIDS+=($!)
sleep 1
step "$BENCH" sweep --socket "$SOCK" --roster "$WORK/profile.roster" --jobs 1 \
  --label "the same, the daemon under strace" >>"$WORK/profile-sweep.md"
kill -INT "${TRACER_PIDS[-1]}"
wait "${TRACER_PIDS[-1]}" || true
perf_stat() { awk -F, -v e="$1" '$3 == e {print $1; exit}' "$WORK/perf-stat.csv"; }
DAEMON_CPU_MS=$(awk -v v="$(perf_stat task-clock)" -v n="$PROFILE_USERS" 'BEGIN {printf "%.3f", v / n}')
DAEMON_CSW=$(awk -v v="$(perf_stat context-switches)" -v n="$PROFILE_USERS" 'BEGIN {printf "%.1f", v / n}')
step "$BENCH" profile-daemon --strace "$WORK/daemon.strace" --logins "$PROFILE_USERS" >"$WORK/profile-daemon.md"
{ echo "$SWEEP_HEADER"; cat "$WORK/profile-sweep.md"; } | sed -n '1,10p'
cat "$WORK/profile-daemon.md"
echo "== where a login's time goes: the module ($MODULE_PROFILE_RUNS pamtester runs each)"
step "$BENCH" profile-module --pam-dir "$PAM_DIR" --baseline bench-permit --service bench-mfa \
  --roster "$WORK/profile.roster" --runs "$MODULE_PROFILE_RUNS" --out-dir "$WORK/module-traces" \
  >"$WORK/profile-module.md"
cat "$WORK/profile-module.md"
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)

echo "== where the time of a durable record write goes, on the state directory's filesystem"
# A slot's content: its 48-byte header and the JSON, whose length is at offset 12 of the
# slot (the other slot is wiped: length 0).
slot_bytes() {
  local f=$1 half
  half=$(($(stat -c %s "$f") / 2))
  for off in 12 $((half + 12)); do od -An -tu4 -j "$off" -N4 "$f"; done | sort -n | tail -1 | awk '{print $1 + 48}'
}
RECORD_BYTES=$(slot_bytes "$(find "$STATE/users" -name '*.rec' -print -quit)")
step "$BENCH" fs-probe --dir "$WORK" --record-bytes "$RECORD_BYTES" >"$WORK/fs-probe.md"
cat "$WORK/fs-probe.md"

# cell FILE ROW COLUMN: a cell of the Markdown table row in FILE whose first cell is ROW.
cell() { awk -F'|' -v row="$2" -v col="$(($3 + 1))" '{c = $2; gsub(/^ +| +$/, "", c)} c == row {v = $col; gsub(/^ +| +$/, "", v); print v; exit}' "$1"; }
added() { cell "$WORK/latency.md" "$1" 6 | tr -d '+ ms'; }
PERMIT_MS=$(cell "$WORK/latency.md" pam_permit 4)
ADDED_FILES=$(added pam_mfa)
ADDED_MODULE=$(added "pam_mfa, module only")
ADDED_TMPFS=$(added "pam_mfa, state on tmpfs")
ADDED_PG=$(added "pam_mfa, postgres on loopback")
PROTOCOL_MS=$(cell "$WORK/profile-sweep.md" "one at a time, connect to Done, untraced" 4)
INPLACE_MS=$(awk -F'|' '$2 ~ /in place/ && $3 ~ /whole write/ {gsub(/ /, "", $4); print $4; exit}' "$WORK/fs-probe.md")
FDATASYNC_MS=$(awk -F'|' '$2 ~ /in place/ && $3 ~ /fdatasync/ {gsub(/ /, "", $4); print $4; exit}' "$WORK/fs-probe.md")
TRACED_WORK=$(awk -F'|' '$2 ~ /all but the idle waits/ {gsub(/[ *]/, "", $4); print $4; exit}' "$WORK/profile-daemon.md")
TRACED_SYNC=$(awk -F'|' '$2 ~ /fdatasync of the record/ {gsub(/[ *]/, "", $4); print $4; exit}' "$WORK/profile-daemon.md")
diff_ms() { awk -v a="$1" -v b="$2" 'BEGIN {if (a == "" || b == "") print "-"; else printf "%.2f", a - b}'; }
{
  echo "| part of a pam_mfa login (files engine) | ms | from |"
  echo "|---|---:|---|"
  echo "| pamtester with pam_permit alone (process start, libpam, pam_wrapper): median | $PERMIT_MS | section 1 |"
  echo "| **added by pam_mfa** (median - pam_permit's median) | **+$ADDED_FILES** | section 1 |"
  echo "| ... loading libpam_mfa.so, reading its options, one failed connect (\"module only\" row) | +$ADDED_MODULE | section 1 |"
  echo "| ... the rest: the conversation with the daemon through PAM and pamtester, and the daemon's work | +$(diff_ms "$ADDED_FILES" "$ADDED_MODULE") | difference |"
  echo "| a login through the protocol alone, connect to Done (mfa-bench as the client: no PAM, no process start): median | $PROTOCOL_MS | profile, untraced pass |"
  echo "| ... the daemon's CPU time per login (perf stat task-clock, all threads) | $DAEMON_CPU_MS | profile, perf stat pass |"
  echo "| ... context switches in the daemon per login (thread hand-offs and waits) | $DAEMON_CSW | profile, perf stat pass |"
  echo "| ... the durable write of the used step, replayed with a plain file: open, pwrite of the slot, fdatasync, unsynced wipe, close (median) | $INPLACE_MS | fs-probe, in place |"
  echo "| ... of which fdatasync (median) | $FDATASYNC_MS | fs-probe, in place |"
  echo "| ... the daemon's system calls per login, idle waits excluded (strace, inflated by tracing) | $TRACED_WORK | profile, strace pass |"
  echo "| ... of which fdatasync of the record (strace) | $TRACED_SYNC | profile, strace pass |"
  echo "| the same module against a daemon with its state on tmpfs (fdatasync free): added | +$ADDED_TMPFS | section 1 |"
  echo "| for comparison, pam_mfa with the postgres engine on loopback: added | +$ADDED_PG | section 1 |"
} >"$WORK/profile-summary.md"
cat "$WORK/profile-summary.md"

echo "== 3. size and memory"
SO="$BIN/libpam_mfa.so"
SO_BYTES=$(stat -c %s "$SO")
module_bytes() { stat -L -c %s "/lib/x86_64-linux-gnu/security/$1" 2>/dev/null || echo "-"; }
verdict() { if [ "$1" -eq 1 ]; then echo MET; else echo "NOT MET"; fi; }
SIZE_OK=$((SO_BYTES < 500000 ? 1 : 0))
RSS_MAX=$(printf '%s\n' "$RSS_START" "$RSS_ENROLLED" "$RSS_AFTER_LATENCY" "$RSS_AFTER_CONCURRENCY" | sort -n | tail -1)
RSS_OK=$((RSS_MAX < 15 * 1024 ? 1 : 0))
mib() { awk -v kb="$1" 'BEGIN {printf "%.1f MiB", kb / 1024}'; }
{
  echo "| what | figure |"
  echo "|---|---:|"
  echo "| target/release/libpam_mfa.so (stripped) | $SO_BYTES bytes ($((SO_BYTES / 1024)) KiB) |"
  echo "| for comparison: pam_oath.so / pam_google_authenticator.so | $(module_bytes pam_oath.so) / $(module_bytes pam_google_authenticator.so) bytes |"
  echo "| daemon idle RSS after start | $(mib "$RSS_START") |"
  echo "| ... after enrolling $ENROLLED_FILES users (argon2id hashes of 10 recovery codes each) | $(mib "$RSS_ENROLLED") |"
  echo "| ... after the latency run | $(mib "$RSS_AFTER_LATENCY") |"
  echo "| ... after the concurrency runs ($RECORDS user records) | $(mib "$RSS_AFTER_CONCURRENCY") |"
  echo
  echo "Growth while enrolling: $(mib $((RSS_ENROLLED - RSS_START))); while authenticating (latency and concurrency runs): $(mib $((RSS_AFTER_CONCURRENCY - RSS_ENROLLED)))."
  echo
  echo "Target: libpam_mfa.so under 500 KB (500000 bytes): $(verdict "$SIZE_OK")."
  echo "Target: daemon idle RSS under 15 MiB at every point above: $(verdict "$RSS_OK") (highest $(mib "$RSS_MAX"))."
} | tee "$WORK/size.md"

echo "== 3b. the file engine with $MANY_RECORDS records"
# Written straight into a state directory through the daemon's file engine (enrolling them
# over the protocol would cost ten argon2id hashes each); the daemon knows the users from a
# passwd file of their own. Logins one at a time: with 10,000 lines in its passwd file,
# nss_wrapper (1.1.12) crashed the daemon under two concurrent lookups.
{
  getent passwd root
  echo "mfa:x:69999:70000:mfa-daemon:/nonexistent:/usr/sbin/nologin"
  seq 0 $((MANY_RECORDS - 1)) | awk -v p="${PREFIX}k" '{printf "%s%d:x:%d:70000:mfa-bench:/nonexistent:/usr/sbin/nologin\n", p, $1, 80000 + $1}'
} >"$WORK/many-passwd"
MANY_ENV=(env LD_PRELOAD=libnss_wrapper.so NSS_WRAPPER_PASSWD="$WORK/many-passwd" NSS_WRAPPER_GROUP="$WORK/group")
write_started=$SECONDS
step "$BENCH" write-records --state-dir "$WORK/many-state" --prefix "${PREFIX}k" \
  --count "$MANY_RECORDS" --out "$WORK/many.roster"
WRITE_SECONDS=$((SECONDS - write_started))
MANY_BYTES=$(du -sk "$WORK/many-state/users" | cut -f1)
printf 'socket = "%s"\nstate_dir = "%s"\n' "$WORK/many.sock" "$WORK/many-state" >"$WORK/many.toml"
printf 'socket = "%s"\nstate_dir = "%s"\n' "$WORK/empty.sock" "$WORK/empty-state" >"$WORK/empty.toml"
{
  echo "| state directory | starts | median ms | min ms | max ms | RSS when listening (median) |"
  echo "|---|---:|---:|---:|---:|---:|"
  step "${MANY_ENV[@]}" "$BENCH" startup --daemon "$BIN/mfa-daemon" --config "$WORK/empty.toml" \
    --starts 5 --label "empty"
  step "${MANY_ENV[@]}" "$BENCH" startup --daemon "$BIN/mfa-daemon" --config "$WORK/many.toml" \
    --starts 5 --label "$MANY_RECORDS records"
} >"$WORK/startup.md"
cat "$WORK/startup.md"
# The starts above were killed: their sockets are still there.
rm -f "$WORK/many.sock" "$WORK/private/many.sock"
NSS_SAVED=("${NSS_ENV[@]}")
NSS_ENV=("${MANY_ENV[@]}")
start_daemon many "$WORK/many-state"
NSS_ENV=("${NSS_SAVED[@]}")
MANY_PID=$STARTED_PID
MFA_PID_SAVED=$MFA_PID
MFA_PID=$MANY_PID
RSS_MANY_START=$(idle_rss)
{
  echo "$SWEEP_HEADER"
  step "${MANY_ENV[@]}" "$BENCH" sweep --socket "$WORK/many.sock" --roster "$WORK/many.roster" \
    --count "$MANY_LOGINS" --label "users 1 to $MANY_LOGINS, first login (record read from its file)"
  RSS_MANY_SOME=$(idle_rss)
  step "${MANY_ENV[@]}" "$BENCH" sweep --socket "$WORK/many.sock" --roster "$WORK/many.roster" \
    --first "$MANY_LOGINS" --label "users $((MANY_LOGINS + 1)) to $MANY_RECORDS, first login"
  RSS_MANY_ALL=$(idle_rss)
  step "${MANY_ENV[@]}" "$BENCH" sweep --socket "$WORK/many.sock" --roster "$WORK/many.roster" \
    --first $((MANY_RECORDS - 1000)) --label "the last 1000 users again (record in memory)"
  echo
  echo "| daemon with $MANY_RECORDS records | RSS |"
  echo "|---|---:|"
  echo "| idle after start | $(mib "$RSS_MANY_START") |"
  echo "| after one login each of $MANY_LOGINS users | $(mib "$RSS_MANY_SOME") |"
  echo "| after one login each of all $MANY_RECORDS users (the in-memory copy holds at most 4096 records) | $(mib "$RSS_MANY_ALL") |"
} >"$WORK/many.md"
MFA_PID=$MFA_PID_SAVED
cat "$WORK/many.md"
kill "$MANY_PID" 2>/dev/null || true
wait "$MANY_PID" 2>/dev/null || true

echo "== 4. time by name class ($NAME_SAMPLES samples each)"
# A daemon of its own whose attempt limits let every wrong answer through (so no lockout
# changes a path), with one enrolled account and one account with nothing enrolled.
start_daemon mfa-names "$WORK/names-state" $'[limits]\nmax_failures = 1000\naccount_max_failures = 100000'
NAMES_PID=$STARTED_PID
step "${NSS_ENV[@]}" "$BENCH" enroll --mfa-enroll "$BIN/mfa-enroll" --socket "$WORK/mfa-names.sock" \
  --prefix "${PREFIX}e" --count 1 --out "$WORK/names.roster"
step "$BENCH" name-timing --socket "$WORK/mfa-names.sock" --enrolled "${PREFIX}e0" \
  --unenrolled "$NSS_UNENROLLED" --unknown-prefix "${PREFIX}n" --invalid "bad/name" \
  --samples "$NAME_SAMPLES" >"$WORK/names.md"
cat "$WORK/names.md"
kill "$NAMES_PID" 2>/dev/null || true
wait "$NAMES_PID" 2>/dev/null || true

echo "== 5. sent code by text message, through the menu ($SENT_USERS users, $SENT_ROUNDS rounds)"
# A Twilio API stand-in on 127.0.0.1 that writes each message it accepts to a file, and a
# daemon of its own that sends through it, with send limits far above what the run sends
# (by default 5 codes per user per hour and 200 per hour from the host).
(umask 077 && od -An -N16 -tx1 /dev/urandom | tr -d ' \n' >"$WORK/twilio-token")
TWILIO_SID="AC$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
"$BIN/mfa-standin" twilio --dir "$WORK/twilio" --account-sid "$TWILIO_SID" \
  --auth-token-file "$WORK/twilio-token" >/dev/null 2>"$WORK/twilio.log" &
STANDIN_PIDS+=($!)
for _ in $(seq 100); do [ -e "$WORK/twilio/url" ] && break; sleep 0.05; done
[ -e "$WORK/twilio/url" ] || { cat "$WORK/twilio.log" >&2; echo "bench: mfa-standin did not start" >&2; exit 1; }
SENT_TOML="[otp]
max_sends = 1000
max_sends_per_hour = 1000000
[sms]
provider = \"twilio\"
[twilio]
account_sid = \"$TWILIO_SID\"
auth_token_file = \"$WORK/twilio-token\"
from = \"+15005550006\"
api_url = \"$(cat "$WORK/twilio/url")\"
insecure_loopback_plaintext_for_tests = true"
# Its users in a passwd file of their own, enrolled one at a time: under concurrent lookups
# nss_wrapper (1.1.12) now and then finds no account, or crashes the daemon, and the longer
# its file, the likelier that is.
{
  getent passwd root
  echo "mfa:x:69999:70000:mfa-daemon:/nonexistent:/usr/sbin/nologin"
  for i in $(seq 0 $((SENT_USERS - 1))); do
    echo "${PREFIX}s$i:x:$((71000 + i)):70000:mfa-bench:/nonexistent:/usr/sbin/nologin"
  done
} >"$WORK/sent-passwd"
# From here on, daemons and mfa-enroll know these users only.
NSS_ENV=(env LD_PRELOAD=libnss_wrapper.so NSS_WRAPPER_PASSWD="$WORK/sent-passwd" NSS_WRAPPER_GROUP="$WORK/group")
start_daemon mfa-sent "$WORK/sent-state" "$SENT_TOML"
SENT_PID=$STARTED_PID
step "${NSS_ENV[@]}" "$BENCH" enroll --mfa-enroll "$BIN/mfa-enroll" --socket "$WORK/mfa-sent.sock" \
  --prefix "${PREFIX}s" --count "$SENT_USERS" --jobs 1 --out "$WORK/sent.roster"
step "${NSS_ENV[@]}" "$BENCH" sent-code --socket "$WORK/mfa-sent.sock" --roster "$WORK/sent.roster" \
  --mfa-enroll "$BIN/mfa-enroll" --standin-dir "$WORK/twilio" --rounds "$SENT_ROUNDS" >"$WORK/sent.md"
cat "$WORK/sent.md"
kill "$SENT_PID" 2>/dev/null || true
wait "$SENT_PID" 2>/dev/null || true

echo "== 6. approval on the phone ($APPROVAL_ROUNDS logins)"
# Chromium comes from scripts/install-deps.sh. A run that cannot drive the browser is
# reported in the section, like a missed target, rather than ending the whole bench.
if ! step env MFA_BIN_DIR="$BIN" "$BENCH" approval --rounds "$APPROVAL_ROUNDS" \
  >"$WORK/approval.md" 2>"$WORK/approval.log"; then
  {
    echo "Could not run (mfa-bench approval failed); the end of its log:"
    echo
    echo '```'
    tail -n 15 "$WORK/approval.log"
    echo '```'
  } >"$WORK/approval.md"
fi
cat "$WORK/approval.md"

radius_section

version() { dpkg-query -W -f='${Version}' "$1" 2>/dev/null || echo "?"; }
REV=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo "?")
if [ -n "$(git -C "$ROOT" status --porcelain 2>/dev/null)" ]; then REV="$REV with uncommitted changes"; fi
# The block bench/attack.sh wrote, kept as it is.
ATTACK_BLOCK=""
if [ -f "$ROOT/bench/RESULTS.md" ]; then
  ATTACK_BLOCK=$(sed -n '/^<!-- begin bench\/attack.sh/,/^<!-- end bench\/attack.sh/p' "$ROOT/bench/RESULTS.md")
fi
{
  echo "# Benchmark results"
  echo
  echo "Written by \`bench/run.sh\` (do not edit by hand; rerun it)."
  echo
  echo "- Date: $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo "- Machine: $(nproc) CPUs, $(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo), $(awk '/^MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo) RAM; $(sed -n 's/^PRETTY_NAME="\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' /etc/os-release), kernel $(uname -r)"
  echo "- State directory of the measured daemon on: $(df -T "$STATE" | awk 'NR == 2 {print $2}')"
  echo "- Load average (1, 5, 15 min) at start: $LOAD_START; at end: $LOAD_END (other work on the machine inflates every figure; the interleaving spreads it evenly over the stacks)"
  echo "- pam-mfa $REV, $(rustc --version | cut -d' ' -f1-2), release profile"
  echo "- Compared: libpam-oath $(version libpam-oath), libpam-google-authenticator $(version libpam-google-authenticator); pamtester $(version pamtester), libpam-wrapper $(version libpam-wrapper); PostgreSQL $PG_VERSION"
  echo
  echo "## Method"
  echo
  echo "- One mfa-daemon with built-in defaults (SHA-1, 6 digits, 30 s, skew 1; the file engine) on a Unix socket and state directory in a temp dir, knowing the bench users from a passwd file of its own (nss_wrapper); $ENROLLED_FILES users enrolled as root with \`mfa-enroll --json --socket SOCK totp --user NAME\`, $ENROLL_JOBS at a time ($ENROLL_SECONDS s), confirmed with a code computed by mfa-bench (totp-rs)."
  echo "- A second mfa-daemon with the postgres engine (\`[store] engine = \"postgres\"\`, \`url_file\`, \`key_file\`, \`pool_size = 8\`, \`timeout = \"3s\"\`) on a throw-away PostgreSQL $PG_VERSION cluster on 127.0.0.1 (initdb and pg_ctl as nobody, \`shared_buffers = 32MB\`, PostgreSQL's durable defaults \`fsync = on\`, \`synchronous_commit = on\`; TCP with scram-sha-256, no TLS), on the same disk; $((LATENCY_USERS + CONCURRENT_USERS)) users of its own enrolled the same way ($ENROLL_PG_SECONDS s)."
  echo "- pam_oath: one usersfile, a \`HOTP/T30\` line per user, \`window=1 digits=6\`. google-authenticator-libpam: \`secret=DIR/\${USER} user=root\`, one file per user with \`TOTP_AUTH\`, \`DISALLOW_REUSE\`, \`WINDOW_SIZE 3\`. pam_mfa: \`socket=SOCK\`. Baseline: \`pam_permit.so\`. Each is the only auth line of its service; no bench user has a system account."
  echo "- Latency: \`pamtester SERVICE USER authenticate\` under pam_wrapper (\`LD_PRELOAD=libpam_wrapper.so PAM_WRAPPER=1 PAM_WRAPPER_SERVICE_DIR=DIR\`), timed by mfa-bench from spawn to exit, the code on stdin. $LATENCY_USERS users per module, each used once per round with a fresh code (all three refuse reuse: three codes per user per 30 s period, t-1, t, t+1, then the next period). All stacks run one after another per slot, in an order rotating by slot and round; the first slot is warm-up. Added latency = module median - pam_permit median; the paired column is the median over slots of (module run - pam_permit run of the same slot). Only successful authentications are counted."
  echo "- Breakdown rows (not targets): \"pam_mfa, state on tmpfs\" is the same module against a second daemon whose state directory is on tmpfs, where fsync is free (the difference to pam_mfa is the cost of durable replay state); \"pam_mfa, module only\" is \`auth optional libpam_mfa.so failmode=safe\` pointed at a socket nobody listens on, followed by pam_permit (loading the module, reading its options and one failed connect)."
  echo "- Concurrency: for each engine and each of ${CONCURRENCY_LEVELS[*]} logins at once, mfa-bench opens that many threads, one per enrolled user (the first users of the engine's $CONCURRENT_USERS), released together by a barrier each round, each speaking the real protocol as root on the privileged socket, as sshd and sudo do (Authenticate, Prompt, Answer(code), Done); each round uses a later time step, so each success is made durable before the daemon answers (files: one pwrite and one fdatasync of the user's record; postgres: a committed transaction)."
  echo "- Memory: VmRSS from /proc/PID/status, read 1 s after the daemon went idle."
  echo
  echo "## 1. Added latency per authentication"
  echo
  cat "$WORK/latency.md"
  if [ -n "$BASELINE_BIN" ]; then
    echo
    echo "Before and after, in this run: pam_mfa at $BASELINE_LABEL adds $(added "pam_mfa at $BASELINE_LABEL") ms (median - baseline median), this build $ADDED_FILES ms."
  fi
  echo
  echo "## 2. ${CONCURRENCY_LEVELS[*]// / and } concurrent authentications through the daemon, both engines"
  echo
  cat "$WORK/concurrency.md"
  echo
  echo "## Where pam_mfa's time goes"
  echo
  echo "Figures of this run, files engine; sources in the last column. The issue 9 target is +0.5 ms added to a pamtester login."
  echo
  cat "$WORK/profile-summary.md"
  echo
  echo "### The daemon's system calls per login"
  echo
  cat "$WORK/profile-daemon.md"
  echo
  echo "Logins of the profile, one at a time through the protocol (the same $PROFILE_USERS users in each pass, one login each; no PAM, no pamtester):"
  echo
  echo "$SWEEP_HEADER"
  cat "$WORK/profile-sweep.md"
  echo
  echo "perf stat of the daemon over the second pass: task-clock $(perf_stat task-clock) ms, $(perf_stat context-switches) context switches, $(perf_stat cpu-migrations) CPU migrations for $PROFILE_USERS logins."
  echo
  echo "### The module's side: pamtester with libpam_mfa.so against pam_permit"
  echo
  cat "$WORK/profile-module.md"
  echo
  echo "### The durable write, step by step"
  echo
  echo "With plain files on the state directory's filesystem:"
  echo
  cat "$WORK/fs-probe.md"
  echo
  echo "## 3. Size and memory"
  echo
  cat "$WORK/size.md"
  echo
  echo "## 3b. The file engine with $MANY_RECORDS records"
  echo
  echo "$MANY_RECORDS records (one authenticator app with a secret mfa-bench knows, ten recovery codes whose argon2id hash was made once and copied: the shape and size of an enrolled user's record) written straight into a new state directory through the daemon's own file engine (\`mfa-bench write-records\`: \`FileStore::open\` and \`RecordStore::update\` per user; $WRITE_SECONDS s, $((MANY_BYTES / 1024)) MiB on disk), the users in a passwd file of their own. Startup: from spawning \`mfa-daemon --config FILE\` to its \`listening on\` line on stderr (READY=1 is sent at the same point), page cache warm, the daemon killed after each start:"
  echo
  cat "$WORK/startup.md"
  echo
  echo "Then one daemon on those records, logins through the protocol as root, one at a time (with 10,000 lines in its passwd file, nss_wrapper crashed the daemon under two concurrent lookups), and its idle RSS (read 1 s after the last login):"
  echo
  cat "$WORK/many.md"
  echo
  echo "## 4. Time by name class"
  echo
  echo "docs/DESIGN.md invariant 10: unknown, invalid, unenrolled and enrolled names take the same path and the same time. A third daemon, with \`[limits] max_failures = 1000\` and \`account_max_failures = 100000\` so that no wrong answer locks anything; mfa-bench as root through the daemon's protocol (its privileged socket where it has one). Names: an enrolled account, an account with nothing enrolled, a new never-seen valid name for every sample, and \`bad/name\`. Before and after the hardening of issue 5: \"Name classes\" below (bench/attack.sh)."
  echo
  cat "$WORK/names.md"
  echo
  echo "## 5. Sent code by text message, through the menu"
  echo
  echo "What a login with a code sent by SMS adds, the send itself left out. A fourth daemon sends through a Twilio API stand-in on 127.0.0.1 (\`mfa-standin twilio\`: the stand-in of the end-to-end suites as a process of its own, plain http to loopback, which writes each message it accepts to a file); its config raises the send limits far above what the run sends: \`[otp] max_sends = 1000\` (codes per user per \`send_window\`, default 5 an hour) and \`max_sends_per_hour = 1000000\` (from the host, default 200), since with the defaults the run would be refused after the fifth code per user and the 200th in all. $SENT_USERS users enrolled with TOTP, each given a phone as root (\`mfa-enroll phone NUMBER --user NAME --unverified\`). mfa-bench speaks the protocol pam_mfa.so speaks, as root: Authenticate; the menu and its prompt; the \"Text message to\" option; \`Code: \`; the code read from the stand-in's file; Done. Each step is timed apart: the menu choice to the \`Code: \` prompt holds the provider call (an HTTP POST to the stand-in) and is left out of the added latency, as is the wait for the message. Beside each sent-code login the same user logs in with a TOTP code at the same menu prompt (order alternating), for comparison; only the TOTP path writes durably before it answers (the used time step); a sent code is checked and consumed in memory (nothing is written unless the user had failures to clear). pamtester and the module add the same to both paths (section 1)."
  echo
  cat "$WORK/sent.md"
  echo
  echo "## 6. Approval on the phone"
  echo
  echo "\`mfa-bench approval --rounds $APPROVAL_ROUNDS\` on the end-to-end fixtures of mfa-tests: a daemon of its own (real clock, files engine, \`[policy] max_pushes_per_hour = 60\`, the most it accepts, as every login opens a request) with \`[web]\` on \`http://localhost:PORT\`, the real mfa-web beside it as a scratch account, one scratch user with a passkey enrolled through \`mfa-enroll passkey --user\` into headless Chromium's virtual authenticator (CTAP2, internal, user verification), and an /etc/pam.d service of pam_mfa.so alone. Each login: \`pamtester SERVICE USER authenticate\`, menu choice 1, the page opened from the link in the notice, Enter pressed (the daemon now waits for the verdict; 100 ms for it to arrive), then the number clicked on the page, which checks it and runs \`navigator.credentials.get\`. The page records when the answer to \`POST /api/approve/ID/finish\` arrives (\`performance.timeOrigin + performance.now()\`, wrapped around the page's \`fetch\`); mfa-bench records the wall clock when pamtester's success line appears (output polled every 1 ms, so up to about 1 ms late). A negative figure means the login ended before the page had its answer: the daemon wakes the waiting login as soon as it has verified the assertion, and mfa-web relays its answer to the browser after. mfa-web allows an address 20 API calls at once then one per 2 s, so logins after the fourth start 8 s apart. RSS: VmRSS from /proc/PID/status of mfa-web, 1 s after it listened and 1 s after the last approval."
  echo
  cat "$WORK/approval.md"
  echo
  radius_block
  echo
  echo "## Targets"
  echo
  grep -h '^Target:' "$WORK/latency.md" "$WORK/concurrency.md" "$WORK/size.md" "$WORK/approval.md" "$WORK/radius.md" | sed 's/^/- /'
  if [ -n "$ATTACK_BLOCK" ]; then
    echo
    echo "$ATTACK_BLOCK"
  fi
} >"$ROOT/bench/RESULTS.md"

echo "== daemon: $(grep -c '"event":"sign_in_succeeded"' "$WORK/mfa.log") successful authentications audited"
echo "== wrote bench/RESULTS.md"
grep -h '^Target:' "$WORK/latency.md" "$WORK/concurrency.md" "$WORK/size.md" "$WORK/approval.md" "$WORK/radius.md"
