#!/usr/bin/env bash
# Copy third-party front-end assets from the npm registry into static/vendor/ (committed),
# so that pages never load anything from a CDN at runtime. Re-run to upgrade; pin versions here.
set -euo pipefail
cd "$(dirname "$0")/.."
HTMX_VERSION=2.0.8
ECHARTS_VERSION=5.6.0
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "htmx.org@${HTMX_VERSION}" >/dev/null && tar xzf htmx.org-*.tgz)
mkdir -p "$work/echarts"
(cd "$work/echarts" && npm pack --silent "echarts@${ECHARTS_VERSION}" >/dev/null && tar xzf echarts-*.tgz)
mkdir -p static/vendor/htmx
cp "$work/package/dist/htmx.min.js" static/vendor/htmx/htmx.min.js
cp "$work/package/LICENSE" static/vendor/htmx/LICENSE
echo "htmx ${HTMX_VERSION}" > static/vendor/htmx/VERSION
mkdir -p static/vendor/echarts
cp "$work/echarts/package/dist/echarts.min.js" static/vendor/echarts/echarts.min.js
cp "$work/echarts/package/LICENSE" static/vendor/echarts/LICENSE
echo "echarts ${ECHARTS_VERSION}" > static/vendor/echarts/VERSION
echo "vendored htmx ${HTMX_VERSION}, echarts ${ECHARTS_VERSION}"
