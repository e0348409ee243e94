#!/usr/bin/env bash
# Make sure a Docker engine answers `docker info`.
#
#   1. If `docker info` answers (local socket or $DOCKER_HOST), use it.
#   2. Else, as root on Debian/Ubuntu: install docker.io with apt if dockerd is
#      missing, then start dockerd in the background (detached, so it outlives
#      this script) and wait until it answers.
#   3. Else: fail, saying how to start an engine.
#
# Usable on its own (e.g. after a reboot): scripts/engine.sh
set -euo pipefail

DOCKERD_LOG=${DOCKERD_LOG:-/var/log/dockerd-labkit.log}
DOCKERD_PIDFILE=/var/run/docker.pid
CONTAINERD_PIDFILE=/var/run/docker/containerd/containerd.pid
WAIT_SECONDS=${ENGINE_WAIT_SECONDS:-60}

say()  { printf '    %s\n' "$*"; }
die()  { printf 'ERROR: %s\n' "$*" >&2; exit 1; }

engine_answers() { command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; }

# Poll `docker info` every 0.2 s for up to WAIT_SECONDS; 0 when it answers.
# Gives up early when no dockerd process is alive any more (it exited).
wait_for_engine() {
    local tries=$(( WAIT_SECONDS * 5 )) i
    for (( i = 0; i < tries; i++ )); do
        engine_answers && return 0
        if (( i % 5 == 4 )) && [[ -z $(dockerd_pids) ]]; then
            engine_answers && return 0
            say "dockerd exited"
            return 1
        fi
        sleep 0.2
    done
    return 1
}

# 0 when PID is a live (not zombie) process named COMM.
pid_alive() {  # pid_alive PID COMM
    local stat state
    [[ $1 =~ ^[0-9]+$ ]] || return 1
    [[ $(cat "/proc/$1/comm" 2>/dev/null) == "$2" ]] || return 1
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    state=${stat##*) }; state=${state%% *}
    [[ $state != [ZX] ]]
}

# Print the pids of live dockerd processes (no pgrep on a bare machine).
# A killed dockerd can linger as a zombie when PID 1 does not reap orphans
# (common in containers): a zombie is not alive, so skip state Z/X.
dockerd_pids() {
    local d
    for d in /proc/[0-9]*; do
        pid_alive "${d#/proc/}" dockerd && echo "${d#/proc/}"
    done
    return 0
}

no_engine_help() {
    cat >&2 <<'EOF'
ERROR: no Docker engine answers `docker info`, and this script can only install
and start one as root on Debian/Ubuntu. Start an engine, then re-run:
  - laptop (macOS/Windows): start Docker Desktop and wait until it says "running";
  - Linux with systemd:     sudo systemctl start docker
                            (and add yourself to the docker group, or use sudo);
  - a remote/other engine:  export DOCKER_HOST=unix:///path/to/docker.sock
                            (or tcp://host:2376, ssh://user@host; Podman works too).
EOF
    exit 1
}

apt_lists_empty() {
    ! compgen -G '/var/lib/apt/lists/*_Packages*' >/dev/null
}

apt_install() {  # apt_install PKG... ; apt-get update only when needed
    export DEBIAN_FRONTEND=noninteractive NEEDRESTART_SUSPEND=1
    local log; log=$(mktemp /tmp/labkit-apt.XXXXXX)
    if apt_lists_empty; then
        say "apt lists are empty: apt-get update"
        apt-get update -qq
    fi
    # apt's chatter (debconf, needrestart) goes to a log, shown only on failure.
    if ! apt-get install -y -q --no-install-recommends "$@" >"$log" 2>&1; then
        say "apt-get install failed: apt-get update, then retry"
        apt-get update -qq
        if ! apt-get install -y -q --no-install-recommends "$@" >"$log" 2>&1; then
            tail -n 20 "$log" >&2; rm -f "$log"
            return 1
        fi
    fi
    rm -f "$log"
}

install_engine() {
    say "installing docker.io (and debootstrap) with apt"
    apt_install docker.io debootstrap
    if apt-cache show docker-compose >/dev/null 2>&1; then
        apt_install docker-compose || say "docker-compose could not be installed (optional, continuing)"
    else
        say "docker-compose is not in the apt lists (optional, skipped)"
    fi
}

start_dockerd() {
    local pids
    pids=$(dockerd_pids)
    if [[ -n $pids ]]; then
        say "dockerd already running (pid $(echo $pids)); waiting for it to answer"
        return 0
    fi
    if [[ -e $DOCKERD_PIDFILE ]]; then
        say "removing stale $DOCKERD_PIDFILE (no dockerd process is alive)"
        rm -f "$DOCKERD_PIDFILE"
    fi
    # Same for the containerd that dockerd manages: if its pidfile names a dead
    # or zombie process, dockerd waits for that "running" containerd and gives
    # up after about a minute ("timeout waiting for containerd to start").
    if [[ -e $CONTAINERD_PIDFILE ]] && ! pid_alive "$(cat "$CONTAINERD_PIDFILE" 2>/dev/null)" containerd; then
        say "removing stale $CONTAINERD_PIDFILE (that containerd is gone)"
        rm -f "$CONTAINERD_PIDFILE"
    fi
    say "starting dockerd in the background (log: $DOCKERD_LOG)"
    mkdir -p "$(dirname "$DOCKERD_LOG")"
    # setsid + nohup: own session, immune to the hangup of this shell; all
    # three standard streams redirected so nothing waits on our pipes.
    setsid nohup dockerd >>"$DOCKERD_LOG" 2>&1 </dev/null &
    disown 2>/dev/null || true
}

main() {
    if engine_answers; then
        say "engine answers${DOCKER_HOST:+ at DOCKER_HOST=$DOCKER_HOST}"
        return 0
    fi
    if [[ -n ${DOCKER_HOST:-} ]]; then
        die "DOCKER_HOST=$DOCKER_HOST is set but that engine does not answer \`docker info\`.
       Start it, fix DOCKER_HOST, or unset DOCKER_HOST to use a local engine."
    fi
    if [[ $(id -u) -ne 0 ]] || ! command -v apt-get >/dev/null 2>&1; then
        no_engine_help
    fi

    if ! command -v dockerd >/dev/null 2>&1; then
        install_engine
    fi
    command -v docker >/dev/null 2>&1 || die "docker CLI still missing after installing docker.io"

    # The package's postinst may already have started an engine.
    if ! engine_answers; then
        start_dockerd
        if ! wait_for_engine; then
            echo "---- last lines of $DOCKERD_LOG ----" >&2
            grep -v 'level=info' "$DOCKERD_LOG" 2>/dev/null | tail -n 15 >&2 || true
            die "dockerd did not answer \`docker info\` (waited up to ${WAIT_SECONDS} s; see $DOCKERD_LOG)"
        fi
    fi
    say "engine answers"
}

main "$@"
