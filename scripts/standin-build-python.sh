#!/usr/bin/env bash
# Runs INSIDE the stand-in's build root (make-standin-image.sh copies it there and
# chroots): builds CPython from Debian's orig tarball into /usr/local the way
# docker-library/python's 3.11/slim-bookworm Dockerfile does, without PGO/LTO.
#
#   build-python.sh /usr/src/debian/python3.11_X.orig.tar.gz PIP_PIN...
#
# Leaves the list of Debian packages whose libraries the build links in
# /usr/src/runtime-packages (the image installs only those).
set -eux   # no pipefail: ldd and dpkg-query fail on some inputs by design (scripts, unowned files)

# It installs into /usr/local and deletes files there: never on a host, only in the build root.
[[ -e /usr/src/.labkit-standin-build-root ]] || { echo "refusing to run outside the stand-in's build root" >&2; exit 1; }

orig=$1; shift
debian=$(dirname "$orig")

mkdir -p /usr/src/python
tar --extract --directory /usr/src/python --strip-components=1 --file "$orig"
tar --extract --directory "$debian" --file "$(ls "$debian"/*.debian.tar.*)"
cd /usr/src/python
# The upstream security fixes Debian backports: its series from the first CVE patch
# on. The patches before that one change Debian's own layout (dist-packages,
# multiarch, locations) and must not apply here.
sed -n '/^CVE-/,$p' "$debian/debian/patches/series" | sed 's/[[:space:]]*#.*//; /^$/d' \
    | while read -r p; do patch -p1 --forward --silent <"$debian/debian/patches/$p"; done

# Debian builds pyexpat into the interpreter; upstream's setup.py builds it as a module, and
# the CVE-2026-4224 backport's internal header (pycore_ceval.h) then needs the define that
# every module using internal headers carries (as _json.c does).
if grep -q '^#include "pycore_' Modules/pyexpat.c && ! grep -q Py_BUILD_CORE_MODULE Modules/pyexpat.c; then
    sed -i '1i #ifndef Py_BUILD_CORE_BUILTIN\n#  define Py_BUILD_CORE_MODULE 1\n#endif' Modules/pyexpat.c
fi

gnuArch="$(dpkg-architecture --query DEB_BUILD_GNU_TYPE)"
# --with-system-expat: Debian's libexpat1 carries the security fixes that the expat
# bundled with this release lacks (Debian's own build uses it too).
./configure \
    --build="$gnuArch" \
    --enable-loadable-sqlite-extensions \
    --enable-option-checking=fatal \
    --enable-shared \
    --with-ensurepip \
    --with-system-expat
# `make install` byte-compiles the stdlib three times, and the official image then deletes
# every .pyc: skip the compiling (each compileall run becomes `python -c pass`).
sed -i 's|$(DESTDIR)$(LIBDEST)/compileall.py|-c pass|' Makefile
nproc="$(nproc)"
EXTRA_CFLAGS="$(dpkg-buildflags --get CFLAGS)"
LDFLAGS="$(dpkg-buildflags --get LDFLAGS)"
LDFLAGS="${LDFLAGS:-} -Wl,--strip-all"
make -j "$nproc" "EXTRA_CFLAGS=${EXTRA_CFLAGS:-}" "LDFLAGS=${LDFLAGS:-}"
# docker-library/python#784: the binary loads its own libpython, never a system one.
rm python
make -j "$nproc" "EXTRA_CFLAGS=${EXTRA_CFLAGS:-}" "LDFLAGS=${LDFLAGS:-} -Wl,-rpath='\$\$ORIGIN/../lib'" python
make install

cd /
find /usr/local -depth \
    \( \
        \( -type d -a \( -name test -o -name tests -o -name idle_test \) \) \
        -o \( -type f -a \( -name '*.pyc' -o -name '*.pyo' -o -name 'libpython*.a' \) \) \
    \) -exec rm -rf '{}' +
ldconfig

export PYTHONDONTWRITEBYTECODE=1
python3 --version
# A module that failed to build only gets a line in make's output: fail here instead.
python3 -c 'import _bz2, _ctypes, _curses, _decimal, _gdbm, _hashlib, _lzma, _multiprocessing, _posixshmem, _sqlite3, _ssl, _uuid, pyexpat, readline, zlib'
pip3 install --disable-pip-version-check --no-cache-dir --no-compile "$@"
# Upgrading pip writes a `pip` script that ensurepip does not: the official image has none
# there, only the `pip -> pip3` link made below.
rm -f /usr/local/bin/pip
pip3 --version

# /usr/local/bin/python and friends, as the official image has them.
for src in idle3 pip3 pydoc3 python3 python3-config; do
    dst="$(echo "$src" | tr -d 3)"
    [ -s "/usr/local/bin/$src" ]
    [ ! -e "/usr/local/bin/$dst" ]
    ln -svT "$src" "/usr/local/bin/$dst"
done

# The Debian packages whose shared libraries CPython links (tkinter left out, as upstream).
find /usr/local -type f -executable -not \( -name '*tkinter*' \) -exec ldd '{}' ';' \
    | awk '/=>/ { so = $(NF-1); if (index(so, "/usr/local/") == 1) { next }; gsub("^/(usr/)?", "", so); printf "*%s\n", so }' \
    | sort -u \
    | xargs -r dpkg-query --search \
    | awk 'sub(":$", "", $1) { print $1 }' \
    | sort -u >/usr/src/runtime-packages
