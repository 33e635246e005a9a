# Sourced by the bench scripts: `have NAME` (a command, also in /usr/sbin or /sbin) and
# `apt_install WHO PACKAGE...` (apt-get update once, then install; sudo unless root; no-op
# without packages).
have() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ] || [ -x "/sbin/$1" ]; }

apt_install() {
  local who="$1"
  shift
  [ $# -gt 0 ] || return 0
  echo "$who: installing $*" >&2
  local sudo=()
  [ "$(id -u)" -eq 0 ] || sudo=(sudo)
  export DEBIAN_FRONTEND=noninteractive
  "${sudo[@]}" apt-get update -qq
  "${sudo[@]}" apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}
