#!/usr/bin/env bash
# Installs the OHIF Viewer that Bastion serves under /viewer/: the prebuilt
# dist/ of the pinned npm package @ohif/app (only its own tarball is fetched,
# none of its build dependencies), checked against the pinned integrity hash,
# then prepared for the /viewer/ mount. The result goes to web/viewer/dist
# (or $1), which is Bastion's default [web] viewer_dir.
#
# OHIF's build assumes it is served at "/": its page names its files as
# "/app.bundle.….js", and webpack's public path is "/". Both are rewritten to
# "/viewer/"; each rewrite must change exactly what is expected, so that a
# different OHIF build fails here rather than half-working in a browser.
# Idempotent: does nothing when the prepared version is already there.
set -euo pipefail

version="3.13.2"
integrity="sha512-WZdxmpmG7rqFgW9ZJLcbgr3XCtLi1KDNPoMaeY5PPe6j4G4fjEjjkycZM6C6Zk2F87BKxFfpq+jd5xXZB9E8EA=="
mount="/viewer/"

root="$(cd "$(dirname "$0")/.." && pwd)"
dest="${1:-$root/web/viewer/dist}"
marker="$dest/bastion-viewer.json"

if [ -f "$marker" ] && grep -q "\"version\": \"$version\"" "$marker" && grep -q "\"mount\": \"$mount\"" "$marker"; then
  exit 0
fi
if ! command -v npm >/dev/null || ! command -v node >/dev/null; then
  echo "install-viewer: Node.js and npm are needed (scripts/install-deps.sh installs them)" >&2
  exit 1
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
echo "install-viewer: fetching @ohif/app@$version" >&2
(cd "$work" && npm pack --silent --loglevel=error "@ohif/app@$version" >/dev/null)
tarball="$work/ohif-app-$version.tgz"
got="sha512-$(openssl dgst -sha512 -binary "$tarball" | base64 -w0)"
if [ "$got" != "$integrity" ]; then
  echo "install-viewer: @ohif/app@$version does not match its pinned integrity hash; refusing it" >&2
  echo "  expected $integrity" >&2
  echo "  got      $got" >&2
  exit 1
fi
tar -xzf "$tarball" -C "$work" package/dist
dist="$work/package/dist"

# Rewrites a fixed string in a file and checks how many times it occurred.
rewrite() {
  local file="$1" from="$2" to="$3" want="$4"
  local n
  n="$(grep -o -F -- "$from" "$file" | wc -l)"
  if [ "$n" -ne "$want" ]; then
    echo "install-viewer: expected $want of '$from' in $(basename "$file"), found $n; this OHIF build is not the one this script knows" >&2
    exit 1
  fi
  FROM="$from" TO="$to" perl -0pi -e 's/\Q$ENV{FROM}\E/$ENV{TO}/g' "$file"
}

# The page: every absolute reference, and the public URL its scripts read.
rewrite "$dist/index.html" 'window.PUBLIC_URL="/"' "window.PUBLIC_URL=\"$mount\"" 2
perl -pi -e 's{(href|src)="/(?!/)}{$1="'"$mount"'}g' "$dist/index.html"
if grep -E -q '(href|src)="/[^v/]' "$dist/index.html"; then
  echo "install-viewer: index.html still has references outside $mount" >&2
  exit 1
fi
# webpack's public path, in every bundle that loads chunks or workers.
for f in "$dist"/*.js; do
  if grep -q -F '__webpack_require__.p = "/";' "$f"; then
    rewrite "$f" '__webpack_require__.p = "/";' "__webpack_require__.p = \"$mount\";" 1
  fi
done
# Style sheets: fonts named from the root.
for f in "$dist"/*.css; do
  perl -pi -e 's{url\(/(?!/)}{url('"$mount"'}g' "$f"
done
if grep -q 'url(/[^v]' "$dist"/*.css; then
  echo "install-viewer: a style sheet still refers outside $mount" >&2
  exit 1
fi
# Nothing of the service worker: Bastion does not serve it.
rm -f "$dist/sw.js" "$dist/_headers" "$dist/_redirects" "$dist/serve.json"
# OHIF's own sample configuration: Bastion generates app-config.js itself.
rm -f "$dist/app-config.js"

printf '{"package": "@ohif/app", "version": "%s", "integrity": "%s", "mount": "%s"}\n' \
  "$version" "$integrity" "$mount" >"$dist/bastion-viewer.json"
mkdir -p "$(dirname "$dest")"
rm -rf "$dest.new" "$dest.old"
mv "$dist" "$dest.new"
if [ -d "$dest" ]; then mv "$dest" "$dest.old"; fi
mv "$dest.new" "$dest"
rm -rf "$dest.old"
echo "install-viewer: OHIF Viewer $version ready in $dest" >&2
