#!/usr/bin/env bash
# Copy third-party front-end assets from the npm registry into static/vendor/ (committed),
# so that pages never load anything from a CDN at runtime. Re-run to upgrade; pin versions here.
set -euo pipefail
cd "$(dirname "$0")/.."
ECHARTS_VERSION=5.6.0
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/echarts"
(cd "$work/echarts" && npm pack --silent "echarts@${ECHARTS_VERSION}" >/dev/null && tar xzf echarts-*.tgz)
mkdir -p static/vendor/echarts
cp "$work/echarts/package/dist/echarts.min.js" static/vendor/echarts/echarts.min.js
cp "$work/echarts/package/LICENSE" static/vendor/echarts/LICENSE
echo "echarts ${ECHARTS_VERSION}" > static/vendor/echarts/VERSION
echo "vendored echarts ${ECHARTS_VERSION}"
