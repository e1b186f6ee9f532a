#!/bin/sh
# Builds the vendored front-end files into static/vendor/: installs the npm
# packages pinned by web/package-lock.json (npm ci, no install scripts; the
# devDependencies too: playwright-core and axe-core, for tests/browser) and
# copies the CSS the site links. Run by `make build` and `make check`.
#   static/vendor/utrecht/index.css   @utrecht/component-library-css, dist/index.css
#   static/vendor/utrecht/LICENSE.md  its licence (EUPL-1.2)
set -eu
cd "$(dirname "$0")/.."

if ! command -v npm >/dev/null 2>&1; then
	echo "packaging/web.sh: npm is missing (packaging/deps.sh build installs it)" >&2
	exit 1
fi

# A registry that cannot be reached fails after a few tries, not minutes.
if ! (cd web && npm ci --include=dev --ignore-scripts --no-audit --no-fund --loglevel=error \
	--fetch-retries=1 --fetch-retry-mintimeout=2000 --fetch-retry-maxtimeout=10000 --fetch-timeout=60000 \
	>/dev/null); then
	echo "packaging/web.sh: 'npm ci' in web/ failed: the npm registry (or npm's cache)" >&2
	echo "  must be reachable to install the packages web/package-lock.json pins;" >&2
	echo "  static/vendor/ was not updated and the build stops here" >&2
	exit 1
fi

src=web/node_modules/@utrecht/component-library-css
for f in "$src/dist/index.css" "$src/package.json" "$src/LICENSE.md"; do
	if [ ! -f "$f" ]; then
		echo "packaging/web.sh: $f is missing after npm ci" >&2
		exit 1
	fi
done

out=static/vendor/utrecht
mkdir -p "$out"
# Written aside and renamed, so a running daemon never serves half a file.
cp "$src/dist/index.css" "$out/.index.css.tmp"
mv -f "$out/.index.css.tmp" "$out/index.css"
cp "$src/LICENSE.md" "$out/LICENSE.md"
version=$(sed -n 's/^  "version": "\(.*\)",$/\1/p' "$src/package.json")
printf '@utrecht/component-library-css %s (EUPL-1.2), from web/package-lock.json\n' "$version" >"$out/.VERSION.tmp"
mv -f "$out/.VERSION.tmp" "$out/VERSION.txt"
