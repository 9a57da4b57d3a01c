#!/usr/bin/env bash
# Moves the QuickJS patch series between patches/ and a git repository, so that changing a
# patch or upgrading QuickJS is ordinary git work (edit a commit, rebase onto new sources)
# and the result is exported back as the series (see VOLLEY.md, "Upgrading").
#
#   patches.sh to-git DIR     a new repository in DIR: quickjs/ as committed here, tagged
#                             `upstream`, then one commit per patch (git am)
#   patches.sh from-git DIR   writes the commits upstream..HEAD of DIR to patches/, keeping
#                             the file name of each patch already there at the same number
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
export GIT_AUTHOR_NAME=Volley GIT_AUTHOR_EMAIL=volley@localhost
export GIT_COMMITTER_NAME=Volley GIT_COMMITTER_EMAIL=volley@localhost

usage() {
  sed -n 's/^#   //p' "$0" >&2
  exit 2
}

[ $# -eq 2 ] || usage
dir=$2
case $1 in
  to-git)
    [ ! -e "$dir" ] || { echo "$dir exists" >&2; exit 1; }
    git init -q "$dir"
    cp -R "$here/quickjs" "$dir/quickjs"
    git -C "$dir" add -A
    git -C "$dir" commit -q -m "QuickJS as vendored (upstream, unpatched)"
    git -C "$dir" tag upstream
    git -C "$dir" am -q "$here"/patches/*.patch
    git -C "$dir" log --oneline upstream..HEAD
    ;;
  from-git)
    out=$(mktemp -d)
    trap 'rm -rf "$out"' EXIT
    git -C "$dir" format-patch -q --zero-commit --no-signature -o "$out" upstream..HEAD
    declare -A old_names=()
    for f in "$here"/patches/*.patch; do
      [ -e "$f" ] || continue
      name=$(basename "$f")
      old_names[${name%%-*}]=$name
    done
    rm -f "$here"/patches/*.patch
    for f in "$out"/*.patch; do
      name=$(basename "$f")
      num=${name%%-*}
      cp "$f" "$here/patches/${old_names[$num]:-$name}"
    done
    ls "$here/patches"
    ;;
  *)
    usage
    ;;
esac
