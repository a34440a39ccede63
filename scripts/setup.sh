#!/usr/bin/env bash
# Get a checkout ready for minecs: the .venv with minecs installed (editable, with test extras), then
# `minecs setup` for the machine (a Docker daemon that answers, a static busybox, minecs's images).
# Idempotent; a warm run takes well under a second.
#
#   - .venv: created if missing (on Debian, python3-venv is installed when root and needed);
#     `pip install -e '.[test]'` reruns only when pyproject.toml or setup.py is newer than
#     .venv/.minecs-installed; the runtime dependencies are also kept as wheels in .venv/wheels (the
#     packaging test installs minecs's wheel from them, offline).
#   - `minecs setup`: no daemon answering `docker info` -> as root on Debian, install docker.io if needed
#     and start `dockerd --live-restore` detached (log /var/log/minecs-dockerd.log); no static
#     /bin/busybox -> install busybox-static; then build minecs's images that are missing or out of date.
#
#   - the AWS CLI v2 (Debian's awscli, /usr/bin/aws) for the tests, when root on Debian and missing.
#
# Environment: PYTHON (default python3), MINECS_DOCKER_WAIT (seconds, default 60), MINECS_BUSYBOX.
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
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ] || [ setup.py -nt "$stamp" ]; then
  say "pip install -e '.[test]'"
  PIP_NO_INPUT=1 "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
    -e '.[test]' </dev/null || die "pip install -e '.[test]' failed"
  # The runtime dependencies as wheels, so the packaging test installs the built wheel into a fresh
  # virtualenv offline (tests send no traffic off the machine).
  "$venv/bin/python" -c 'import tomllib; print("\n".join(tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"]))' \
    >"$venv/requirements-runtime.txt"
  PIP_NO_INPUT=1 "$venv/bin/python" -m pip download --quiet --disable-pip-version-check --dest "$venv/wheels" \
    -r "$venv/requirements-runtime.txt" </dev/null >/dev/null || die "pip download of the runtime dependencies failed"
  touch "$stamp"
fi

# ------------------------------------------------------------- test tools --
# The AWS CLI v2 (Debian's awscli package, /usr/bin/aws) for the tests of what only v2 has: `aws logs tail`.
if [ ! -x /usr/bin/aws ] && is_root && is_debian; then
  apt_install awscli
fi

# ------------------------------------------------------------ the machine --
# Docker, the static busybox and minecs's images: the same code an installed minecs runs.
"$venv/bin/minecs" setup
