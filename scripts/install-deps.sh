#!/bin/sh
# Installs the host packages wharf needs, only those that are missing:
# an OCI runtime (runc; crun where it works), a static busybox for the
# test image, iproute2, and for the tests Debian's registry (push/pull)
# and docker-compose (the Docker API suite).
set -eu
need=""
command -v runc >/dev/null 2>&1 || need="$need runc"
command -v crun >/dev/null 2>&1 || need="$need crun"
[ -x /bin/busybox ] && /bin/busybox --list >/dev/null 2>&1 || need="$need busybox-static"
command -v ip >/dev/null 2>&1 || need="$need iproute2"
command -v ps >/dev/null 2>&1 || need="$need procps"
if [ "${WHARF_TEST_DEPS:-}" = 1 ]; then
	command -v docker-registry >/dev/null 2>&1 || need="$need docker-registry"
	# The docker CLI and compose drive the Docker API suite (the docker CLI
	# ships with these machines; Debian's docker.io would start a dockerd).
	command -v docker-compose >/dev/null 2>&1 || need="$need docker-compose"
fi
if [ -n "$need" ]; then
	if [ "$(id -u)" != 0 ]; then
		echo "missing packages:$need (run as root to install them)" >&2
		exit 1
	fi
	echo "installing:$need"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	# shellcheck disable=SC2086
	apt-get install -y -qq --no-install-recommends $need >/dev/null
fi
