#!/usr/bin/env bash
# Build a LOCAL STAND-IN for a base image that cannot be pulled (no registry
# reachable). Only python:3.11-slim is supported, laid out as the Docker Hub
# image is: Debian bookworm (minbase, slimmed like debian:bookworm-slim) with
# CPython built from source into /usr/local (python, python3, pip, pip3 in
# /usr/local/bin; sys.prefix /usr/local; packages in
# /usr/local/lib/python3.11/site-packages), and the same Env and Cmd.
#
#   scripts/make-standin-image.sh python:3.11-slim
#   scripts/make-standin-image.sh labkit-standin-next:3.11-slim   # try a new recipe
#
# The recipe follows docker-library/python's 3.11/slim-bookworm Dockerfile, with
# what a machine that reaches only Debian's mirror and PyPI can do:
#   - the source is Debian's python3.11 source package: its orig tarball is the
#     upstream release (apt checks it against the signed Sources index), plus the
#     upstream security fixes Debian backports (its debian/patches from the first
#     CVE patch on; none of Debian's layout patches before them);
#   - no PGO/LTO (--enable-optimizations runs the test suite: many minutes);
#   - no tk-dev: the slim image drops Tk's libraries anyway, so tkinter does not
#     import there either;
#   - pip, setuptools and wheel at the versions the official image ships.
# Every host-specific trick lives here, never in exercises or solutions:
#   - the host CA bundle replaces the image's, and /etc/pip.conf points pip at
#     it, so pip works through a TLS-intercepting proxy with no ENV in the
#     image's config (a learner's `docker inspect` matches the real image's);
#   - the image carries LABEL org.labkit.standin=true and the recipe number.
#
# Mirror: the one apt on this host uses (read at run time), or
# $LABKIT_DEBIAN_MIRROR if set.
set -euo pipefail

STANDIN_RECIPE=2          # bump when the recipe changes: setup rebuilds old stand-ins
SUITE=bookworm
HOST_CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt
# The official image's Env (docker-library/python 3.11/slim-bookworm). PYTHON_VERSION and
# PYTHON_SHA256 are those of the source actually built, read from Debian's package.
IMAGE_PATH=/usr/local/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
GPG_KEY=A035C8C19219BA821ECEA86B64E628F8D684696D
PIP_PINS=("pip==24.0" "setuptools==79.0.1" "wheel<0.46")
# The official Dockerfile's build dependencies, less gnupg and wget (apt fetches and
# checks the source) and tk-dev (see above), plus patch (Debian's security fixes).
BUILD_DEPS=(dpkg-dev gcc libbluetooth-dev libbz2-dev libc6-dev libdb-dev libffi-dev libgdbm-dev
            libexpat1-dev liblzma-dev libncursesw5-dev libreadline-dev libsqlite3-dev libssl-dev make patch
            uuid-dev xz-utils zlib1g-dev)

say() { printf '    %s\n' "$*"; }
die() { printf 'ERROR: %s\n' "$*" >&2; exit 1; }
since() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f s", b - a }'; }

TAG=${1:-}
[[ -n $TAG ]] || die "usage: $0 IMAGE_TAG   (python:3.11-slim; NAME:3.11-slim builds the same under another name)"
case $TAG in
    *:3.11-slim) PYVER=3.11 ;;
    *) die "no stand-in recipe for '$TAG': only python:3.11-slim (Debian $SUITE, CPython 3.11 in /usr/local) is supported.
       Pull the real image on a machine with registry access, or add a recipe here." ;;
esac

[[ $(id -u) -eq 0 ]] || die "building a stand-in needs root (debootstrap, chroot); run as root, or pull $TAG instead"
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
# Every rm below is under $WORK: an empty or odd value must stop the script, never reach the host's /.
[[ $WORK == /var/tmp/labkit-standin.* && -d $WORK ]] || die "no private work folder (got '$WORK')"

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

# ---- chroot helpers -------------------------------------------------------------
# Run a command in a rootfs with a clean environment: nothing of the host's leaks in.
in_root() {
    local root=$1; shift
    chroot "$root" /usr/bin/env -i HOME=/root LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive \
        PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin "$@"
}
# /proc for apt and the build; a tmpfs /dev/shm so CPython's configure finds working
# POSIX semaphores (without them multiprocessing's locks are left out). cleanup()
# unmounts whatever a failure leaves mounted.
mount_api() {
    mount -t proc proc "$1/proc"
    mkdir -p "$1/dev/shm"
    mount -t tmpfs -o mode=1777,size=64m shm "$1/dev/shm"
}
umount_api() { umount "$1/dev/shm" "$1/proc"; }
# Run a step with its output in a log; on failure show the log's tail and stop.
logged() {
    local what=$1 name=$2 log=$WORK/$2; shift 2
    "$@" >"$log" 2>&1 || {
        # The work dir goes with cleanup(): keep the whole log where it can be read.
        cp "$log" "/var/tmp/labkit-standin-$name"
        echo "---- last lines of /var/tmp/labkit-standin-$name ----" >&2
        tail -n 40 "$log" >&2
        die "$what failed"
    }
}

# ---- 1. debootstrap, slimmed like debian:bookworm-slim --------------------------
t0=$EPOCHREALTIME
say "debootstrap --variant=minbase $SUITE"
if ! debootstrap --variant=minbase --include=ca-certificates,netbase,tzdata \
        "$SUITE" "$ROOTFS" "$MIRROR" >"$WORK/debootstrap.log" 2>&1; then
    echo "---- last lines of the debootstrap log ----" >&2
    tail -n 30 "$WORK/debootstrap.log" >&2
    [[ -f $ROOTFS/debootstrap/debootstrap.log ]] && tail -n 30 "$ROOTFS/debootstrap/debootstrap.log" >&2
    die "debootstrap failed (mirror $MIRROR)"
fi
# debuerreotype's slimify, as Debian's -slim images have it: no docs, man pages or
# translations, now and for every package installed later (a learner's apt-get too).
printf '%s\n' 'path-exclude /usr/share/doc/*' 'path-include /usr/share/doc/*/copyright' \
    'path-exclude /usr/share/groff/*' 'path-exclude /usr/share/info/*' \
    'path-exclude /usr/share/linda/*' 'path-exclude /usr/share/lintian/overrides/*' \
    'path-exclude /usr/share/locale/*' 'path-exclude /usr/share/man/*' \
    >"$ROOTFS/etc/dpkg/dpkg.cfg.d/docker"
find "$ROOTFS/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
find "$ROOTFS/usr/share/doc" -mindepth 1 -type d -empty -delete
for d in groff info linda locale man lintian/overrides; do
    [[ -d $ROOTFS/usr/share/$d ]] && find "$ROOTFS/usr/share/$d" -mindepth 1 -delete
done
rm -rf "$ROOTFS/debootstrap" "$ROOTFS"/var/cache/apt/archives/*.deb
# Trust the host's CAs (TLS-intercepting proxy) in the system bundle, which Python's
# ssl reads by default; the copy in /usr/local/share/ca-certificates keeps it there
# through a later update-ca-certificates (a learner's apt-get install may run it).
install -m 0644 "$HOST_CA_BUNDLE" "$ROOTFS/etc/ssl/certs/ca-certificates.crt"
install -D -m 0644 "$HOST_CA_BUNDLE" "$ROOTFS/usr/local/share/ca-certificates/labkit-host-bundle.crt"
# pip reads its vendored certifi, not the system bundle: pip's site-wide config file
# points it there. A file, not ENV PIP_CERT: the image's config stays the official
# one, and unlike a patched certifi it survives a learner's `pip install -U pip`.
printf '[global]\ncert = /etc/ssl/certs/ca-certificates.crt\n' >"$ROOTFS/etc/pip.conf"
cp -L /etc/resolv.conf "$ROOTFS/etc/resolv.conf"
say "debootstrap done in $(since "$t0")"

# ---- 2. a build root: a copy, with the compilers and Debian's python source --------
t0=$EPOCHREALTIME
BUILD=$WORK/build
cp -a "$ROOTFS" "$BUILD"
printf 'deb %s %s main\ndeb-src %s %s main\n' "$MIRROR" "$SUITE" "$MIRROR" "$SUITE" >"$BUILD/etc/apt/sources.list"
mount_api "$BUILD"
logged "apt-get update in the build root" apt-update.log in_root "$BUILD" apt-get update
say "installing ${#BUILD_DEPS[@]} build dependencies"
logged "installing the build dependencies" apt-install.log \
    in_root "$BUILD" apt-get install -y --no-install-recommends "${BUILD_DEPS[@]}"
# apt checks every file it fetches against the signed Sources index.
logged "downloading Debian's python$PYVER source" apt-source.log \
    in_root "$BUILD" sh -c "mkdir -p /usr/src/debian && cd /usr/src/debian && apt-get source --download-only python$PYVER"
say "build root ready in $(since "$t0")"

# ---- 3. CPython into /usr/local, as the official Dockerfile builds it ----------------
t0=$EPOCHREALTIME
orig=$(cd "$BUILD/usr/src/debian" && ls python"$PYVER"_*.orig.tar.* 2>/dev/null | head -n 1) || true
[[ -n $orig ]] || die "Debian's python$PYVER source came without an orig tarball"
PYTHON_VERSION=${orig#python"$PYVER"_}
PYTHON_VERSION=${PYTHON_VERSION%.orig.tar.*}
[[ $PYTHON_VERSION == "$PYVER".* ]] || die "unexpected version '$PYTHON_VERSION' in Debian's python$PYVER source"
PYTHON_SHA256=$(sha256sum "$BUILD/usr/src/debian/$orig" | cut -d' ' -f1)
say "building CPython $PYTHON_VERSION with $(nproc) jobs (source sha256 ${PYTHON_SHA256:0:16}...)"
install -m 0755 "$(dirname "${BASH_SOURCE[0]}")/standin-build-python.sh" "$BUILD/usr/src/build-python.sh"
touch "$BUILD/usr/src/.labkit-standin-build-root"  # the build script runs only where this marker is
logged "building CPython $PYTHON_VERSION" build-python.log \
    in_root "$BUILD" bash /usr/src/build-python.sh "/usr/src/debian/$orig" "${PIP_PINS[@]}"
say "CPython built and installed in $(since "$t0")"

# ---- 4. the image's rootfs: /usr/local and the libraries CPython links --------------
t0=$EPOCHREALTIME
cp -a "$BUILD/usr/local/." "$ROOTFS/usr/local/"
mapfile -t runtime <"$BUILD/usr/src/runtime-packages"
# Their .debs are in the build root's cache already (dependencies of the -dev packages).
cp -a "$BUILD/var/lib/apt/lists/." "$ROOTFS/var/lib/apt/lists/"
cp -lf "$BUILD"/var/cache/apt/archives/*.deb "$ROOTFS/var/cache/apt/archives/"
umount_api "$BUILD"
rm -rf --one-file-system "$BUILD"
mount_api "$ROOTFS"
logged "installing the runtime libraries" apt-runtime.log \
    in_root "$ROOTFS" apt-get install -y --no-install-recommends "${runtime[@]}"
in_root "$ROOTFS" ldconfig
umount_api "$ROOTFS"
rm -rf "$ROOTFS"/var/lib/apt/lists/* "$ROOTFS"/var/cache/apt/*.bin "$ROOTFS"/var/cache/apt/archives/*.deb
rm -rf "$ROOTFS"/var/log/*.log "$ROOTFS"/var/log/apt/* "$ROOTFS/var/cache/ldconfig/aux-cache" "$ROOTFS/root/.cache"
[[ ! -e $ROOTFS/usr/bin/python3 && ! -e $ROOTFS/usr/bin/python ]] || die "a Debian python3 ended up in /usr/bin"
say "runtime libraries (${#runtime[@]} packages) in $(since "$t0")"

# Anything still mounted inside the work dir would end up in the tarball.
if awk -v r="$WORK/" 'index($2, r) == 1 { found = 1 } END { exit !found }' /proc/self/mounts; then
    die "something is still mounted under $WORK; refusing to import it"
fi

# ---- import: the official image's config, plus the two labkit labels ----------------
say "docker import -> $TAG"
tar --numeric-owner -C "$ROOTFS" -c . | docker import \
    -c "ENV PATH=$IMAGE_PATH" \
    -c 'ENV LANG=C.UTF-8' \
    -c "ENV GPG_KEY=$GPG_KEY" \
    -c "ENV PYTHON_VERSION=$PYTHON_VERSION" \
    -c "ENV PYTHON_SHA256=$PYTHON_SHA256" \
    -c 'CMD ["python3"]' \
    -c 'LABEL org.labkit.standin=true' \
    -c "LABEL org.labkit.standin.recipe=$STANDIN_RECIPE" \
    -m "labkit stand-in for python:3.11-slim (debootstrap $SUITE, CPython $PYTHON_VERSION in /usr/local); not the Docker Hub image" \
    - "$TAG" >/dev/null

# Smoke test: the layout learners rely on (no pull: it is local, run by id).
id=$(docker image inspect -f '{{.Id}}' "$TAG")
docker run --rm "$id" python -c '
import site, sys, ssl, sqlite3, ctypes, lzma, bz2, zlib, readline, uuid, decimal, dbm.gnu, venv
import multiprocessing.synchronize
assert sys.version_info[:2] == (3, 11), sys.version
assert sys.prefix == sys.base_prefix == "/usr/local", sys.prefix
assert site.getsitepackages() == ["/usr/local/lib/python3.11/site-packages"], site.getsitepackages()
' || die "the stand-in $TAG does not run CPython $PYVER from /usr/local"
docker run --rm "$id" pip --version >/dev/null || die "pip does not run in the stand-in $TAG"
say "stand-in $TAG ready: ${id:7:12}, $(docker image inspect -f '{{.Size}}' "$id" | awk '{ printf "%.0f MB", $1 / 1e6 }'), CPython $PYTHON_VERSION"
