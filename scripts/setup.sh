#!/usr/bin/env bash
# Get a machine ready for minecs: a Docker daemon that answers, a static
# busybox, the .venv with minecs installed (editable, with test extras), and
# the local images. Idempotent; a warm run takes well under a second.
#
#   - No daemon answering `docker info`: as root on Debian, install docker.io
#     and busybox-static if needed, start dockerd detached (log:
#     /var/log/minecs-dockerd.log) and wait up to 60 s for it. Not root: exit 1
#     with a message. A daemon that already answers is left alone.
#   - /bin/busybox missing (or not static): install busybox-static (root+Debian).
#   - .venv: created if missing; `pip install -e '.[test]'` reruns only when
#     pyproject.toml is newer than .venv/.minecs-installed.
#   - Images: scripts/build-images.sh (builds only missing/changed images).
#
# Environment: PYTHON (default python3), MINECS_DOCKER_WAIT (seconds, default 60).
set -euo pipefail

cd "$(dirname "$(readlink -f "$0")")/.."
repo=$PWD

say() { echo "setup: $*"; }
die() { echo "setup: error: $*" >&2; exit 1; }

is_root() { [ "$(id -u)" -eq 0 ]; }
is_debian() { [ -f /etc/debian_version ] && command -v apt-get >/dev/null 2>&1; }

# One setup at a time (e.g. parallel make targets).
if command -v flock >/dev/null 2>&1; then
  exec 9>"${TMPDIR:-/tmp}/minecs-setup.$(id -u).lock"
  flock 9
fi

apt_updated=0
apt_install() {
  if [ "$apt_updated" -eq 0 ]; then
    say "apt-get update"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq </dev/null >/dev/null \
      || die "apt-get update failed"
    apt_updated=1
  fi
  say "apt-get install $*"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" \
    </dev/null >/dev/null || die "apt-get install $* failed"
}

busybox_ok() { [ -x /bin/busybox ] && ! ldd /bin/busybox >/dev/null 2>&1; }
docker_ok() { command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; }

# ---------------------------------------------------------------- packages --
docker_up=0
if docker_ok; then docker_up=1; fi
if [ "$docker_up" -eq 0 ] && ! is_root; then
  die "no Docker daemon answers (docker info failed) and this script is not root, so it cannot start one.
  Start Docker yourself (e.g. 'sudo systemctl start docker', or run 'sudo dockerd'),
  or make sure your user may use /var/run/docker.sock (the docker group)."
fi
need_pkgs=()
if [ "$docker_up" -eq 0 ] && { ! command -v dockerd >/dev/null 2>&1 || ! command -v docker >/dev/null 2>&1; }; then
  need_pkgs+=(docker.io)
fi
if ! busybox_ok; then
  need_pkgs+=(busybox-static)
fi
if [ "${#need_pkgs[@]}" -gt 0 ]; then
  if is_root && is_debian; then
    apt_install "${need_pkgs[@]}"
  elif [[ " ${need_pkgs[*]} " == *" docker.io "* ]]; then
    die "no Docker daemon answers and docker/dockerd is not installed, and this is not Debian/Ubuntu
  (no apt-get): install and start Docker yourself."
  else
    die "/bin/busybox (static) is missing: install busybox-static (apt-get install busybox-static)."
  fi
  busybox_ok || die "/bin/busybox is still missing or dynamically linked after installing busybox-static"
fi

# ------------------------------------------------------------------ docker --
if [ "$docker_up" -eq 0 ]; then
  if [ -n "${DOCKER_HOST:-}" ] && [ "${DOCKER_HOST}" != "unix:///var/run/docker.sock" ]; then
    die "DOCKER_HOST=$DOCKER_HOST does not answer (docker info failed); not starting a local dockerd"
  fi
  log=/var/log/minecs-dockerd.log
  # A dockerd that is already running (e.g. still starting up) is waited for,
  # not started twice.
  running_pid=
  if [ -f /var/run/docker.pid ]; then
    pid=$(cat /var/run/docker.pid 2>/dev/null || true)
    if [ -n "$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null || true)" = dockerd ]; then
      running_pid=$pid
    fi
  fi
  if [ -z "$running_pid" ]; then
    say "starting dockerd (log: $log)"
    # New session, so the caller's process group (a CI step, make) ending does
    # not take dockerd with it; -w keeps $! alive exactly as long as dockerd.
    # fd 9 (the setup lock) must not be inherited, or the lock is held forever.
    setsid -w nohup dockerd >>"$log" 2>&1 </dev/null 9>&- &
    running_pid=$!
  else
    say "dockerd (pid $running_pid) is running; waiting for it to answer"
  fi
  wait_s=${MINECS_DOCKER_WAIT:-60}
  deadline=$(( $(date +%s) + wait_s ))
  until docker info >/dev/null 2>&1; do
    if ! kill -0 "$running_pid" 2>/dev/null; then
      echo "--- last lines of $log:" >&2
      tail -n 20 "$log" >&2 2>/dev/null || true
      die "dockerd exited before answering (see $log)"
    fi
    if [ "$(date +%s)" -ge "$deadline" ]; then
      echo "--- last lines of $log:" >&2
      tail -n 20 "$log" >&2 2>/dev/null || true
      die "dockerd did not answer 'docker info' within ${wait_s}s (see $log)"
    fi
    sleep 0.5
  done
  say "dockerd is up ($(docker info --format '{{.ServerVersion}}' 2>/dev/null))"
fi

# -------------------------------------------------------------------- venv --
python=${PYTHON:-python3}
venv=$repo/.venv
stamp=$venv/.minecs-installed
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  command -v "$python" >/dev/null 2>&1 || die "$python not found (set PYTHON=/path/to/python3.11+)"
  "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
    || die "$python is $("$python" -V 2>&1); minecs needs Python >= 3.11 (set PYTHON=...)"
  rm -rf "$venv"
  say "creating .venv ($("$python" -V 2>&1))"
  if ! "$python" -m venv "$venv" >/dev/null 2>&1; then
    rm -rf "$venv"
    # Debian's own python3 ships venv/ensurepip separately.
    if is_root && is_debian && [ "$(readlink -f "$(command -v "$python")")" = "$(readlink -f /usr/bin/python3)" ]; then
      apt_install python3-venv
      "$python" -m venv "$venv" || die "python3 -m venv failed"
    else
      die "'$python -m venv' failed (on Debian/Ubuntu: apt-get install python3-venv)"
    fi
  fi
  rm -f "$stamp"
fi
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  say "pip install -e '.[test]'"
  PIP_NO_INPUT=1 "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
    -e '.[test]' </dev/null || die "pip install -e '.[test]' failed"
  touch "$stamp"
fi

# ------------------------------------------------------------------ images --
bash "$repo/scripts/build-images.sh"
