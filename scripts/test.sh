#!/usr/bin/env bash
# Install everything the test-suite needs, then run it. Used by CI (.ci/run) and by hand.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" = 0 ]; then
  missing=()
  [ -x /usr/bin/chromium ] || missing+=(chromium)
  command -v ip >/dev/null || missing+=(iproute2)
  if [ ${#missing[@]} -gt 0 ]; then
    echo "installing ${missing[*]} (Debian packages) ..."
    apt-get update -q >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >/dev/null
  fi
else
  echo "not root: browser and network-namespace tests will be skipped" >&2
fi

echo "installing reactor_runtime with its test extras ..."
python -m pip install -q --disable-pip-version-check -e '.[test]'

if command -v npm >/dev/null; then
  echo "installing the official JS client for conformance tests ..."
  (cd tests/e2e/clients/js && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
fi

python -m pytest -q "$@"
