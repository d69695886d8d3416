#!/bin/sh
# Installs the host packages wharf needs, only those that are missing:
# an OCI runtime (runc; crun where it works), a static busybox for the
# test image, iproute2, and for the tests Debian's registry (push/pull)
# and docker-compose and the Docker SDK for Python (the Docker API suites).
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
	# The Docker SDK for Python suite (integration/pysdk) runs on Debian's
	# interpreter with Debian's SDK.
	/usr/bin/python3 -c 'import docker' >/dev/null 2>&1 || need="$need python3-docker"
	# The console's browser tests drive Debian's chromium headless.
	command -v chromium >/dev/null 2>&1 || need="$need chromium"
	command -v curl >/dev/null 2>&1 || need="$need curl"
	# Debian's awscli is v2: its `logs tail --follow` reads the CloudWatch
	# Logs API (a pip-installed v1 earlier on PATH stays the tests' aws).
	[ -x /usr/bin/aws ] || need="$need awscli"
fi
# The client suites (Python SDK, compose v2) also run against a private
# dockerd when one is installed, proving each assertion is Docker's
# behaviour. WHARF_DOCKERD=1 installs Debian's docker.io for that.
# axe-core (accessibility checks of the console's tests) is not packaged
# by Debian: its npm tarball is fetched, checked against its sha512, and
# its axe.min.js kept where integration/console_test.go looks for it.
axe=/usr/local/share/wharf-test/axe-core-4.14.1/axe.min.js
fetch_axe() {
	tmp=$(mktemp -d)
	curl -fsSL --max-time 120 -o "$tmp/axe.tgz" https://registry.npmjs.org/axe-core/-/axe-core-4.14.1.tgz &&
	echo "1477dafa598d8d065f273d6af302aa203c02e83131707b7fa648cd41bd3d6b734f8c22a0dab86ee6a6f64b8afbe804b214d36db85a2826965edfb3a0b9d546b5  $tmp/axe.tgz" | sha512sum -c --quiet - &&
	tar -xzf "$tmp/axe.tgz" -C "$tmp" package/axe.min.js package/LICENSE &&
	mkdir -p "$(dirname "$axe")" && cp "$tmp/package/axe.min.js" "$tmp/package/LICENSE" "$(dirname "$axe")/"
	axe_status=$?
	rm -rf "$tmp"
	return $axe_status
}
dockerio=""
if [ "${WHARF_DOCKERD:-}" = 1 ] && ! command -v dockerd >/dev/null 2>&1; then
	dockerio=1
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
if [ "${WHARF_TEST_DEPS:-}" = 1 ] && [ ! -f "$axe" ]; then
	echo "installing: axe-core (npm tarball, sha512 checked)"
	fetch_axe || echo "axe-core could not be fetched: the console's accessibility checks will skip" >&2
fi
if [ -n "$dockerio" ]; then
	if [ "$(id -u)" != 0 ]; then
		echo "missing package: docker.io (run as root to install it)" >&2
		exit 1
	fi
	echo "installing: docker.io"
	export DEBIAN_FRONTEND=noninteractive
	[ -n "$need" ] || apt-get update -qq
	# The tests start their own dockerd: a policy-rc.d that refuses every
	# start keeps the package from starting a system one, which would set
	# up docker0 and iptables rules on the host.
	policy=""
	if [ ! -e /usr/sbin/policy-rc.d ]; then
		printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
		chmod 755 /usr/sbin/policy-rc.d
		policy=1
	fi
	apt-get install -y -qq --no-install-recommends docker.io >/dev/null || status=$?
	[ -z "$policy" ] || rm -f /usr/sbin/policy-rc.d
	exit "${status:-0}"
fi
