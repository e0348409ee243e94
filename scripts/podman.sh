#!/usr/bin/env bash
# Podman's Docker-compatible API for the grader and the Podman tests (optional: never fails setup).
#
#   1. As root on Debian/Ubuntu: install podman (with netavark + aardvark-dns, so Compose services
#      find each other by name) when it is missing. Elsewhere: only check, and say what is missing.
#   2. /etc/containers/containers.conf: the settings this machine needs, each written only when
#      absent or different, every other setting kept (root only).
#   3. `podman system service` on $LABKIT_PODMAN_SOCKET, started detached so it outlives this
#      script, waited for with a bounded poll.
#   4. /etc/containers/registries.conf.d/50-labkit-local-registry.conf: plain HTTP to registries on
#      127.0.0.1, where exercise-08's grading starts its own (Docker allows that by default, Podman not).
#   5. The base images, copied from Docker (`docker save | podman load`) and copied again when
#      Docker's image id differs from Podman's (a rebuilt stand-in).
#
# Usable on its own: scripts/podman.sh. Grade on it with
#   DOCKER_HOST=unix:///run/labkit-podman/podman.sock python -m grader exercise-01
# Exit status is 0 whenever Podman cannot be had (a line says why); the Podman tests then skip,
# or fail under CI=true.
set -uo pipefail

SOCKET=${LABKIT_PODMAN_SOCKET:-/run/labkit-podman/podman.sock}
SOCKET_DIR=$(dirname "$SOCKET")
LOG=${LABKIT_PODMAN_LOG:-/var/log/podman-labkit.log}
CONF=/etc/containers/containers.conf
REGISTRY_CONF=/etc/containers/registries.conf.d/50-labkit-local-registry.conf
BASE_IMAGES=${BASE_IMAGES:-python:3.11-slim}
WAIT_SECONDS=${PODMAN_WAIT_SECONDS:-30}

say() { printf '    %s\n' "$*"; }
skip() { say "Podman: $* (the Podman tests skip here, and fail under CI=true)"; exit 0; }

is_root_debian() { [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; }
podman_answers() { curl -sf --max-time 5 --unix-socket "$SOCKET" http://d/_ping >/dev/null 2>&1; }

# toml_set FILE SECTION KEY VALUE: KEY = VALUE inside [SECTION], replacing that key's line if
# present, adding the key (and the section) if not; every other line is kept as it was.
toml_set() {
    local file=$1 section=$2 key=$3 value=$4 tmp
    tmp=$(mktemp "$file.XXXXXX")
    awk -v section="[$section]" -v key="$key" -v line="$key = $value" '
        function flush() { if (in_section && !done) { print line; done = 1 } }
        /^[[:space:]]*\[/ { t = $0; gsub(/[[:space:]]/, "", t); if (in_section) flush(); in_section = (t == section); if (in_section) seen = 1 }
        in_section && $0 ~ "^[[:space:]]*#?[[:space:]]*" key "[[:space:]]*=" {
            if ($0 ~ /^[[:space:]]*#/) { print; next }   # a commented example stays
            if (!done) { print line; done = 1 }
            next
        }
        { print }
        END { if (in_section) flush(); if (!seen) { print ""; print section; print line } }
    ' "$file" >"$tmp" && chmod 644 "$tmp" && mv "$tmp" "$file"
}

# The containers.conf settings this machine needs; rewrites nothing that is already right.
configure() {
    mkdir -p "$(dirname "$CONF")"
    [[ -e $CONF ]] || printf '# written by the lab kit'"'"'s scripts/podman.sh; add your own settings freely\n' >"$CONF"
    local before; before=$(sha256sum "$CONF")
    # Podman's default rlimits exceed this sandbox's hard limits ("error setting rlimit type 7"):
    # ask for at most what the host allows. nproc stays well under it: the service lowers its own
    # hard limit at start (measured 32768 under a host limit of 96367), and the runtime runs below it.
    local nofile nproc
    nofile=$(ulimit -Hn); [[ $nofile == unlimited || $nofile -gt 1048576 ]] && nofile=1048576
    nproc=$(ulimit -Hu); [[ $nproc == unlimited || $nproc -gt 8192 ]] && nproc=8192
    toml_set "$CONF" containers default_ulimits "[\"nofile=$nofile:$nofile\", \"nproc=$nproc:$nproc\"]"
    if [[ ! -d /run/systemd/system ]]; then
        # No systemd: cgroups through the filesystem, events to a file (no journald).
        toml_set "$CONF" engine cgroup_manager '"cgroupfs"'
        toml_set "$CONF" engine events_logger '"file"'
    fi
    # crun refuses a cgroup v1 host with cgroup2 also mounted ("cgroups in hybrid mode not
    # supported"), which is this machine's layout and Docker's runc handles.
    if [[ -d /sys/fs/cgroup/memory && $(stat -fc %T /sys/fs/cgroup/unified 2>/dev/null) == cgroup2fs ]] \
        && command -v runc >/dev/null 2>&1; then
        toml_set "$CONF" engine runtime '"runc"'
    fi
    # netavark (with aardvark-dns: Compose services reach each other by name), not the CNI
    # configuration the package also ships, whose plugins are not installed.
    toml_set "$CONF" network network_backend '"netavark"'
    [[ $(sha256sum "$CONF") == "$before" ]] || { say "updated $CONF"; return 0; }
    return 1
}

# exercise-08's grading pushes to a registry of its own on 127.0.0.1, over plain HTTP: Docker takes
# 127.0.0.0/8 as insecure by default, Podman refuses it ("http: server gave HTTP response to HTTPS
# client") unless registries.conf says so. Loopback only: no other registry loses its TLS.
configure_local_registry() {
    local wanted
    wanted=$(printf '%s\n' \
        "# written by the lab kit's scripts/podman.sh: the grader's own registry (exercise-08), loopback only" \
        '[[registry]]' 'location = "127.0.0.1"' 'insecure = true')
    [[ -f $REGISTRY_CONF && $(cat "$REGISTRY_CONF") == "$wanted" ]] && return 1
    mkdir -p "$(dirname "$REGISTRY_CONF")"
    printf '%s\n' "$wanted" >"$REGISTRY_CONF"
    say "wrote $REGISTRY_CONF (plain HTTP to the grader's registries on 127.0.0.1)"
    return 0
}

# Start `podman system service` detached (own session, streams redirected) unless it answers.
start_service() {
    mkdir -p "$SOCKET_DIR"
    rm -f "$SOCKET"
    say "starting podman system service on unix://$SOCKET (log: $LOG)"
    # No BUILDAH_FORMAT needed: Podman's Docker-API /build always writes Docker's image format
    # (HEALTHCHECK kept; pkg/api/handlers/compat/images_build.go, v4.3.1 to v5).
    setsid nohup podman system service --time=0 "unix://$SOCKET" \
        >>"$LOG" 2>&1 </dev/null &
    echo $! >"$SOCKET_DIR/service.pid"
    disown 2>/dev/null || true
    local i
    for (( i = 0; i < WAIT_SECONDS * 5; i++ )); do
        podman_answers && return 0
        kill -0 "$(cat "$SOCKET_DIR/service.pid")" 2>/dev/null || break
        sleep 0.2
    done
    tail -n 5 "$LOG" 2>/dev/null | sed 's/^/    | /'
    return 1
}

stop_service() {
    local pid; pid=$(cat "$SOCKET_DIR/service.pid" 2>/dev/null) || return 0
    [[ $(cat "/proc/$pid/comm" 2>/dev/null) == podman ]] && kill "$pid" 2>/dev/null && sleep 0.5
    rm -f "$SOCKET_DIR/service.pid"
}

# Docker sets the FORWARD policy to DROP, and netavark (1.4) adds no accept rule for an internal
# network's own bridge: with br_netfilter on, two containers on one internal network (the
# learner's app and the grader's probe) cannot talk. Accept bridged traffic inside one Podman
# bridge only; nothing routed, so an internal network still has no way out. A machine with
# Podman alone (policy ACCEPT) needs none of this.
allow_inside_podman_bridges() {
    command -v iptables >/dev/null 2>&1 || return 0
    iptables -nL DOCKER-USER >/dev/null 2>&1 || return 0
    local rule=(DOCKER-USER -m physdev --physdev-is-bridged -i podman+ -o podman+
                -m comment --comment "labkit: traffic inside one Podman network" -j ACCEPT)
    iptables -C "${rule[@]}" 2>/dev/null && return 0
    if iptables -I "${rule[@]}" 2>/dev/null; then
        say "iptables: traffic inside one Podman network accepted (Docker's FORWARD policy drops it)"
    else
        say "iptables refused the rule for Podman's internal networks: gradings on Podman will not reach the app"
    fi
}

# Copy IMAGE from Docker into Podman when Podman lacks it or has another id (a rebuilt stand-in):
# `podman load` keeps Docker's image config, so the same image has the same id in both.
load_image() {
    local image=$1 docker_id podman_id full=$1
    docker_id=$(docker image inspect -f '{{.Id}}' "$image" 2>/dev/null) || { say "$image: not in Docker, not copied"; return 0; }
    [[ $full == */* ]] || full=docker.io/library/$full
    podman_id=$(podman image inspect -f '{{.Id}}' "$full" 2>/dev/null || true)
    if [[ ${docker_id#sha256:} == "${podman_id#sha256:}" ]]; then
        say "$image: in Podman, the same image as Docker's (${docker_id:7:12})"
        return 0
    fi
    say "$image: copying Docker's ${docker_id:7:12} into Podman${podman_id:+ (it had ${podman_id:0:12})} (docker save | podman load)"
    local loaded
    loaded=$(docker save "$image" | podman load 2>&1) || { say "podman load failed: $(tail -n 1 <<<"$loaded")"; return 1; }
    # `podman load` of a short name tags it localhost/NAME: Docker's name is what FROM resolves to.
    # Tagged by id: the short name would resolve to the copy Podman had before (docker.io first).
    podman tag "${docker_id#sha256:}" "$full"
    podman rmi "localhost/$image" >/dev/null 2>&1 || true
}

main() {
    if ! command -v podman >/dev/null 2>&1; then
        is_root_debian || skip "not installed (install podman, then re-run scripts/podman.sh)"
        say "installing podman (with netavark and aardvark-dns) with apt"
        export DEBIAN_FRONTEND=noninteractive NEEDRESTART_SUSPEND=1
        compgen -G '/var/lib/apt/lists/*_Packages*' >/dev/null || apt-get update -qq
        apt-get install -y -q --no-install-recommends podman netavark aardvark-dns catatonit >/tmp/labkit-podman-apt.log 2>&1 \
            || { apt-get update -qq && apt-get install -y -q --no-install-recommends podman netavark aardvark-dns catatonit >/tmp/labkit-podman-apt.log 2>&1; } \
            || skip "apt-get could not install podman (see /tmp/labkit-podman-apt.log)"
    fi
    say "$(podman --version 2>/dev/null || echo "podman (its version did not answer)")"
    if [[ $(id -u) -ne 0 ]]; then
        podman_answers || skip "no service answers on unix://$SOCKET (as root, scripts/podman.sh starts one)"
    else
        local changed=0
        configure && changed=1
        configure_local_registry && changed=1
        if podman_answers && (( changed )); then
            say "configuration changed: restarting the service"
            stop_service
        fi
        podman_answers || start_service || skip "podman system service did not answer within ${WAIT_SECONDS} s (see $LOG)"
    fi
    say "service answers on unix://$SOCKET"
    [[ $(id -u) -eq 0 ]] && allow_inside_podman_bridges
    if docker info >/dev/null 2>&1; then
        for image in $BASE_IMAGES; do load_image "$image" || true; done
    else
        say "no Docker engine answers: base images not copied into Podman"
    fi
}

main "$@"
