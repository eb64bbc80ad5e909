#!/usr/bin/env bash
# The release archive deploy/ansible/site.yml installs: the code committed at HEAD plus the
# built static bundle, so the host needs no Node.js. Usage: make-release.sh [OUT.tar.gz]
set -euo pipefail
cd "$(dirname "$0")/../.."
out=$(realpath -m "${1:-/tmp/united.tar.gz}")
npm run --silent build
tar_file=$(mktemp)
trap 'rm -f "$tar_file"' EXIT
git archive --format=tar -o "$tar_file" HEAD
tar --append -f "$tar_file" static/dist
gzip -c "$tar_file" > "$out"
echo "$out"
