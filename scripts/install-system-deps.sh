#!/usr/bin/env bash
# Install the system packages the test suite needs to run for real (Debian/Ubuntu, apt-get):
#
#   postgresql                     server binaries in /usr/lib/postgresql/<version>/bin
#   mariadb-server                 mariadbd (or mysqld) and mariadb-install-db (or mysql_install_db)
#   chromium, chromium-driver      /usr/bin/chromium and /usr/bin/chromedriver (browser tests)
#   default-jre-headless           only when no `java` is on PATH (Spark)
#   python3-venv                   only when the system python3 cannot create virtual environments
#
# Idempotent and quiet: prints nothing and does not touch apt when everything is present.
# `apt-get update` runs only when something has to be installed.
#
# The test suite starts its own throwaway servers (own data directories, free ports on
# 127.0.0.1), so the system services these packages ship are not needed. While installing, a
# temporary /usr/sbin/policy-rc.d forbids starting services (unless one already exists), so the
# install neither fails on machines without an init system (containers, CI) nor leaves servers
# listening on the default ports 5432/3306.
#
# Usage: scripts/install-system-deps.sh [--check]
#   --check   only report what is missing; exit 1 if anything is.
set -euo pipefail

check_only=0
case "${1:-}" in
    "") ;;
    --check) check_only=1 ;;
    -h | --help)
        sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'
        exit 0
        ;;
    *)
        echo "install-system-deps: unknown argument: $1 (try --help)" >&2
        exit 2
        ;;
esac

have_any() {
    # have_any PATH... : true when at least one of the paths is an executable file
    local p
    for p in "$@"; do
        [[ -x "$p" && -f "$p" ]] && return 0
    done
    return 1
}

have_cmd() {
    # have_cmd NAME... : on PATH, or in the sbin/bin directories PATH may lack for non-root users
    local name dir
    for name in "$@"; do
        command -v "$name" >/dev/null 2>&1 && return 0
        for dir in /usr/sbin /usr/bin /sbin /bin /usr/local/sbin /usr/local/bin; do
            have_any "$dir/$name" && return 0
        done
    done
    return 1
}

missing=()

# PostgreSQL server: any version under /usr/lib/postgresql/*/bin with both postgres and initdb.
pg_found=0
for bindir in /usr/lib/postgresql/*/bin; do
    if have_any "$bindir/postgres" && have_any "$bindir/initdb"; then
        pg_found=1
        break
    fi
done
((pg_found)) || missing+=(postgresql)

# MariaDB server and its data directory initialiser.
if ! have_cmd mariadbd mysqld || ! have_cmd mariadb-install-db mysql_install_db; then
    missing+=(mariadb-server)
fi

# Chromium and its WebDriver (Debian package names).
have_any /usr/bin/chromium || missing+=(chromium)
have_any /usr/bin/chromedriver || missing+=(chromium-driver)

# Java for Spark: only when none is available at all.
have_cmd java || missing+=(default-jre-headless)

# `python3 -m venv` on Debian needs python3-venv; only check the system interpreter.
if have_any /usr/bin/python3 && ! /usr/bin/python3 -c 'import ensurepip, venv' >/dev/null 2>&1; then
    missing+=(python3-venv)
fi

if ((${#missing[@]} == 0)); then
    exit 0
fi

if ((check_only)); then
    echo "install-system-deps: missing system packages: ${missing[*]}" >&2
    exit 1
fi

if [[ "$(id -u)" -ne 0 ]]; then
    {
        echo "install-system-deps: missing system packages: ${missing[*]}"
        echo "install-system-deps: not running as root, so they cannot be installed here."
        echo "install-system-deps: install them with:"
        echo "    sudo apt-get update && sudo apt-get install -y --no-install-recommends ${missing[*]}"
        echo "install-system-deps: or run this script as root: sudo $0"
    } >&2
    exit 1
fi

if ! command -v apt-get >/dev/null 2>&1; then
    echo "install-system-deps: missing ${missing[*]}, and apt-get is not available;" \
        "install the equivalent packages with your system's package manager." >&2
    exit 1
fi

echo "install-system-deps: installing ${missing[*]}"

export DEBIAN_FRONTEND=noninteractive
export NEEDRESTART_MODE=a

# Forbid service starts during the install (exit code 101 = "action not allowed"; invoke-rc.d
# then skips the start and reports success). Only when no policy is in place already, and it is
# removed again afterwards, whatever happens.
policy=/usr/sbin/policy-rc.d
created_policy=0
update_log="$(mktemp)"
cleanup() {
    if ((created_policy)); then
        rm -f "$policy"
    fi
    rm -f "$update_log"
}
trap cleanup EXIT
if [[ ! -e "$policy" ]]; then
    printf '#!/bin/sh\n# temporary, from shelfwise scripts/install-system-deps.sh\nexit 101\n' \
        >"$policy"
    chmod 0755 "$policy"
    created_policy=1
fi

apt_opts=(-q -y -o DPkg::Lock::Timeout=300 -o Dpkg::Options::=--force-confdef
    -o Dpkg::Options::=--force-confold)

if ! apt-get "${apt_opts[@]}" update >"$update_log" 2>&1; then
    cat "$update_log" >&2
    echo "install-system-deps: apt-get update failed (log above)" >&2
    exit 1
fi
apt-get "${apt_opts[@]}" install --no-install-recommends "${missing[@]}"

# Check the result, so a broken install fails here rather than as skipped tests later.
still_missing=()
pg_found=0
for bindir in /usr/lib/postgresql/*/bin; do
    have_any "$bindir/postgres" && have_any "$bindir/initdb" && pg_found=1
done
((pg_found)) || still_missing+=(postgresql)
have_cmd mariadbd mysqld || still_missing+=(mariadb-server)
have_cmd mariadb-install-db mysql_install_db || still_missing+=(mariadb-server)
have_any /usr/bin/chromium || still_missing+=(chromium)
have_any /usr/bin/chromedriver || still_missing+=(chromium-driver)
have_cmd java || still_missing+=(default-jre-headless)
if ((${#still_missing[@]} > 0)); then
    echo "install-system-deps: still missing after apt-get install: ${still_missing[*]}" >&2
    exit 1
fi
echo "install-system-deps: done"
