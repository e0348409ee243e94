#!/usr/bin/env bash
# Build a LOCAL STAND-IN for a base image that cannot be pulled (no registry
# reachable). Only python:3.11-slim is supported: Debian bookworm + python3.11
# from debootstrap, imported with `docker import`.
#
#   scripts/make-standin-image.sh python:3.11-slim
#
# Every host-specific trick lives here, never in exercises or solutions:
#   - the host CA bundle is copied in and PIP_CERT points at it, so pip works
#     through a TLS-intercepting proxy;
#   - the image carries LABEL org.labkit.standin=true so anyone can tell.
#
# Mirror: the one apt on this host uses (read at run time), or
# $LABKIT_DEBIAN_MIRROR if set.
set -euo pipefail

STANDIN_RECIPE=1          # bump when the recipe changes: setup rebuilds old stand-ins
SUITE=bookworm
HOST_CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt

say() { printf '    %s\n' "$*"; }
die() { printf 'ERROR: %s\n' "$*" >&2; exit 1; }

TAG=${1:-}
[[ -n $TAG ]] || die "usage: $0 IMAGE_TAG   (supported: python:3.11-slim)"
case $TAG in
    python:3.11-slim) PYVER=3.11 ;;
    *) die "no stand-in recipe for '$TAG': only python:3.11-slim (Debian $SUITE, python3.11) is supported.
       Pull the real image on a machine with registry access, or add a recipe here." ;;
esac

[[ $(id -u) -eq 0 ]] || die "building a stand-in needs root (debootstrap); run as root, or pull $TAG instead"
docker info >/dev/null 2>&1 || die "no Docker engine answers: run scripts/engine.sh first"
[[ -r $HOST_CA_BUNDLE ]] || die "host CA bundle $HOST_CA_BUNDLE not found (needed so pip works in builds)"

if ! command -v debootstrap >/dev/null 2>&1; then
    command -v apt-get >/dev/null 2>&1 || die "debootstrap is missing and apt-get is not available to install it"
    say "installing debootstrap with apt"
    export DEBIAN_FRONTEND=noninteractive NEEDRESTART_SUSPEND=1
    compgen -G '/var/lib/apt/lists/*_Packages*' >/dev/null || apt-get update -qq
    apt-get install -y -qq --no-install-recommends debootstrap >/dev/null \
        || { apt-get update -qq && apt-get install -y -qq --no-install-recommends debootstrap >/dev/null; }
fi

# ---- the Debian mirror apt uses on this host --------------------------------
# Prints the first http(s)/file URI of a "deb" source whose suites include
# $SUITE; failing that (a Debian host on another release), the first plain
# Debian archive URI (not security/updates/backports).
find_mirror() {
    local files=() f
    for f in /etc/apt/sources.list.d/*.sources /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [[ -r $f ]] && files+=("$f")
    done
    (( ${#files[@]} )) || return 1
    awk -v suite="$SUITE" '
        function flush() {
            if (types ~ /(^| )deb( |$)/ && enabled != "no" && uris != "") {
                n = split(uris, u, " ")
                for (i = 1; i <= n; i++) consider(u[i], suites)
            }
            types = ""; uris = ""; suites = ""; enabled = ""
        }
        function consider(uri, suites,   s, k, m) {
            if (uri !~ /^(https?|file):/) return
            m = split(suites, s, " ")
            for (k = 1; k <= m; k++) {
                if (s[k] == suite && exact == "") exact = uri
                if (s[k] !~ /-(security|updates|backports|proposed-updates)$/ && s[k] !~ /\// \
                    && uri !~ /security/ && fallback == "") fallback = uri
            }
        }
        FNR == 1 { flush(); deb822 = (FILENAME ~ /\.sources$/) }
        /^[ \t]*#/ { next }
        deb822 {
            if ($0 ~ /^[ \t]*$/) { flush(); next }
            key = tolower($1); sub(/:$/, "", key)
            val = $0; sub(/^[^:]*:[ \t]*/, "", val)
            if (key == "types") types = val
            else if (key == "uris") uris = val
            else if (key == "suites") suites = val
            else if (key == "enabled") enabled = tolower(val)
            next
        }
        $1 == "deb" {
            line = $0; sub(/^deb[ \t]+/, "", line)
            if (line ~ /^\[/) sub(/^\[[^]]*\][ \t]*/, "", line)
            split(line, w, /[ \t]+/)
            consider(w[1], w[2])
        }
        END {
            flush()
            if (exact != "") print "exact", exact
            else if (fallback != "") print "fallback", fallback
            else exit 1
        }
    ' "${files[@]}"
}

if [[ -n ${LABKIT_DEBIAN_MIRROR:-} ]]; then
    MIRROR=$LABKIT_DEBIAN_MIRROR
else
    found=$(find_mirror) || die "could not find a Debian mirror in /etc/apt/sources.list{,.d/}.
       Set LABKIT_DEBIAN_MIRROR to a Debian archive URL that serves '$SUITE'."
    read -r kind MIRROR <<<"$found"
    # A non-Debian host's mirror (e.g. Ubuntu's) does not serve bookworm.
    if [[ $kind != exact ]] && ! grep -qs '^ID=debian' /etc/os-release; then
        die "this host's apt sources have no Debian $SUITE mirror.
       Set LABKIT_DEBIAN_MIRROR to a Debian archive URL that serves '$SUITE'."
    fi
fi
say "Debian mirror (from the host's apt sources): $MIRROR"

# ---- work dir, cleaned up on every path -------------------------------------
WORK=$(mktemp -d /var/tmp/labkit-standin.XXXXXX)
ROOTFS=$WORK/rootfs

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    if [[ -d $WORK ]]; then
        # debootstrap mounts /proc, /sys (and may bind /dev) inside the target;
        # after a failure they can still be mounted. Unmount before deleting, or
        # rm -rf would walk into the host's /proc, /sys or /dev.
        local mnt
        while read -r mnt; do
            umount -l "$mnt" 2>/dev/null || true
        done < <(awk -v r="$WORK/" 'index($2, r) == 1 { print $2 }' /proc/self/mounts | sort -r)
        rm -rf --one-file-system "$WORK"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---- debootstrap --------------------------------------------------------------
t0=$EPOCHREALTIME
say "debootstrap --variant=minbase $SUITE (this takes about a minute)"
if ! debootstrap --variant=minbase \
        --include=python3,python3-pip,python3-venv,ca-certificates \
        "$SUITE" "$ROOTFS" "$MIRROR" >"$WORK/debootstrap.log" 2>&1; then
    echo "---- last lines of the debootstrap log ----" >&2
    tail -n 30 "$WORK/debootstrap.log" >&2
    [[ -f $ROOTFS/debootstrap/debootstrap.log ]] && tail -n 30 "$ROOTFS/debootstrap/debootstrap.log" >&2
    die "debootstrap failed (mirror $MIRROR)"
fi
say "debootstrap done in $(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f s", b - a }')"

# ---- make it behave like python:3.11-slim -----------------------------------
[[ -x $ROOTFS/usr/bin/python$PYVER ]] || die "python$PYVER missing from the rootfs (is the suite right?)"
ln -sf python3 "$ROOTFS/usr/bin/python"
ln -sf pip3 "$ROOTFS/usr/bin/pip"
rm -f "$ROOTFS/usr/lib/python$PYVER/EXTERNALLY-MANAGED"

# Trust the host's CAs (TLS-intercepting proxy). Also drop the bundle where
# update-ca-certificates picks it up, so a later run of it inside a build
# (e.g. an apt-get install that triggers it) keeps the proxy CA.
install -m 0644 "$HOST_CA_BUNDLE" "$ROOTFS/etc/ssl/certs/ca-certificates.crt"
install -D -m 0644 "$HOST_CA_BUNDLE" "$ROOTFS/usr/local/share/ca-certificates/labkit-host-bundle.crt"

# Keep it small.
chroot "$ROOTFS" apt-get clean >/dev/null 2>&1 || true
rm -rf "$ROOTFS"/var/lib/apt/lists/* "$ROOTFS"/var/cache/apt/* "$ROOTFS/debootstrap"
rm -f "$ROOTFS"/var/log/*.log "$ROOTFS"/var/log/apt/*

# Anything still mounted inside the rootfs would end up in the tarball.
if awk -v r="$ROOTFS/" 'index($2, r) == 1 { found = 1 } END { exit !found }' /proc/self/mounts; then
    die "something is still mounted under $ROOTFS; refusing to import it"
fi

# ---- import ------------------------------------------------------------------
say "docker import -> $TAG"
tar --numeric-owner -C "$ROOTFS" -c . | docker import \
    -c 'CMD ["python3"]' \
    -c 'ENV LANG=C.UTF-8' \
    -c 'ENV PIP_CERT=/etc/ssl/certs/ca-certificates.crt' \
    -c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    -c 'LABEL org.labkit.standin=true' \
    -c "LABEL org.labkit.standin.recipe=$STANDIN_RECIPE" \
    -c "LABEL org.labkit.standin.note=\"local stand-in for $TAG built by scripts/make-standin-image.sh (debootstrap $SUITE); not the Docker Hub image\"" \
    -m "labkit stand-in for $TAG (debootstrap $SUITE)" \
    - "$TAG" >/dev/null

# Smoke test: the image runs python and pip (no pull: it is local, run by id).
id=$(docker image inspect -f '{{.Id}}' "$TAG")
docker run --rm "$id" python -c 'import sys, ssl, venv; assert sys.version_info[:2] == (3, 11)' \
    || die "the stand-in $TAG does not run python $PYVER"
docker run --rm "$id" pip --version >/dev/null || die "pip does not run in the stand-in $TAG"
say "stand-in $TAG ready: ${id:7:12}, $(docker image inspect -f '{{.Size}}' "$id" | awk '{ printf "%.0f MB", $1 / 1e6 }')"
