#!/usr/bin/env bash
# Sets up everything the test suite needs on a fresh machine, then runs it.
# The suite runs on a CPU; browser tests use Debian's Chromium (Playwright's own download is not used).
set -euo pipefail
cd "$(dirname "$0")/.."
python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
if ! command -v chromium >/dev/null 2>&1; then
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
      || echo "warning: could not install chromium; browser tests will be skipped" >&2
  else
    echo "warning: chromium not found; browser tests will be skipped" >&2
  fi
fi
exec python -m pytest -q "$@"
