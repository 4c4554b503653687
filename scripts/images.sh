#!/usr/bin/env bash
# Builds the systemd base images Molecule and the lab boot, from Debian's archive (no registry is
# reachable), and writes .cache/molecule.env with the image names and the cgroup mount to use.
# An image is tagged with a hash of this recipe, so it is rebuilt only when missing or changed.
# Override an image (e.g. from your registry): SPM_IMAGE_OVERRIDES="bookworm=reg/img:12 forky=reg/img:t"
set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

SUITES=(bookworm trixie forky)
PACKAGES=systemd,systemd-sysv,dbus,python3,python3-apt,ca-certificates,curl,procps,iproute2
IMAGE_REPOSITORY=${SPM_IMAGE_REPOSITORY:-spm-base}
BUILD_DIR=${SPM_BUILD_DIR:-/var/tmp}
MIN_FREE_MB=1024
MOLECULE_ENV="$CACHE_DIR/molecule.env"

# Only what goes into an image counts, so editing the rest of this script rebuilds nothing.
recipe_hash() { { echo "$PACKAGES"; declare -f build_image; } | sha256sum | cut -c1-12; }

# Drops this suite's images built from older recipes; one still used by a container stays.
remove_outdated_images() {
  local suite=$1 current=$2 image
  for image in $(docker images --format '{{.Repository}}:{{.Tag}}' "$IMAGE_REPOSITORY" | grep "^$IMAGE_REPOSITORY:$suite-"); do
    [ "$image" = "$current" ] || docker rmi "$image" >/dev/null 2>&1 || true
  done
}

# The mirror this machine already uses for its own Debian release (never a hard-coded host).
debian_mirror() {
  local codename
  codename=$(. /etc/os-release && echo "$VERSION_CODENAME")
  # shellcheck disable=SC2016 # $(...) here is apt's format syntax, not the shell's
  apt-get indextargets --format '$(REPO_URI) $(CODENAME) $(LABEL)' 'Identifier: Packages' |
    awk -v c="$codename" '$2 == c && $3 == "Debian" { print $1; exit }'
}

require_free_space() {
  local dir=$1 free_mb
  free_mb=$(df -Pm "$dir" | awk 'NR == 2 { print $4 }')
  [ "$free_mb" -ge "$MIN_FREE_MB" ] ||
    die "only ${free_mb} MB free in $dir; building an image needs ${MIN_FREE_MB} MB (free some space or set SPM_IMAGE_OVERRIDES)"
}

build_image() {
  local suite=$1 tag=$2 mirror=$3 rootfs script
  script=$suite
  # Debian testing has no debootstrap script of its own yet; sid's works for it.
  [ -e "/usr/share/debootstrap/scripts/$suite" ] || script=sid
  require_free_space "$BUILD_DIR"
  require_free_space "$(docker info --format '{{.DockerRootDir}}')"
  rootfs=$(mktemp -d "$BUILD_DIR/spm-rootfs-$suite.XXXXXX")
  # shellcheck disable=SC2064 # expand now: the trap must remove this very directory
  trap "rm -rf '$rootfs'" RETURN
  log "debootstrap $suite from $mirror (about a minute)"
  debootstrap --variant=minbase --include="$PACKAGES" "$suite" "$rootfs" "$mirror" \
    "/usr/share/debootstrap/scripts/$script" >"$rootfs.log" 2>&1 ||
    {
      tail -n 20 "$rootfs.log" >&2
      die "debootstrap of $suite failed (full log: $rootfs.log)"
    }
  rm -f "$rootfs.log"
  # The testing suite's Release file in a snapshot mirror may be past its Valid-Until date.
  echo 'Acquire::Check-Valid-Until "false";' >"$rootfs/etc/apt/apt.conf.d/99spm-no-valid-until"
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*_Packages
  tar -C "$rootfs" -c . | docker import \
    -c 'CMD ["/lib/systemd/systemd"]' -c 'ENV container=docker' \
    - "$tag" >/dev/null
  log "built $tag"
}

# Parses SPM_IMAGE_OVERRIDES into IMAGE_OVERRIDE[suite]=image, refusing unknown platform names.
declare -A IMAGE_OVERRIDE=()
parse_overrides() {
  local entry suite image
  for entry in ${SPM_IMAGE_OVERRIDES:-}; do
    suite=${entry%%=*}
    image=${entry#*=}
    [[ " ${SUITES[*]} " == *" $suite "* ]] ||
      DIE_STATUS=2 die "SPM_IMAGE_OVERRIDES names unknown platform '$suite'; known: ${SUITES[*]}"
    if [ -z "$image" ] || [ "$image" = "$entry" ]; then
      DIE_STATUS=2 die "SPM_IMAGE_OVERRIDES entry '$entry' must look like SUITE=IMAGE"
    fi
    IMAGE_OVERRIDE[$suite]=$image
  done
}

# cgroup v2 must appear at /sys/fs/cgroup in the containers: on a hybrid host it lives at
# /sys/fs/cgroup/unified, on a pure v2 host at /sys/fs/cgroup itself.
cgroup_volume() {
  if [ "$(stat -fc %T /sys/fs/cgroup)" = cgroup2fs ]; then
    echo /sys/fs/cgroup:/sys/fs/cgroup:rw
  elif [ "$(stat -fc %T /sys/fs/cgroup/unified 2>/dev/null)" = cgroup2fs ]; then
    echo /sys/fs/cgroup/unified:/sys/fs/cgroup:rw
  else
    die "no cgroup v2 hierarchy at /sys/fs/cgroup or /sys/fs/cgroup/unified: systemd in containers needs it"
  fi
}

main() {
  parse_overrides
  local hash suite tag mirror=""
  hash=$(recipe_hash)
  mkdir -p "$CACHE_DIR"
  {
    echo "SPM_CGROUP_VOLUME=$(cgroup_volume)"
    for suite in "${SUITES[@]}"; do
      tag=${IMAGE_OVERRIDE[$suite]:-$IMAGE_REPOSITORY:$suite-$hash}
      if [ -n "${IMAGE_OVERRIDE[$suite]:-}" ]; then
        log "using $tag for $suite (SPM_IMAGE_OVERRIDES)"
      elif docker image inspect "$tag" >/dev/null 2>&1; then
        log "image $tag is up to date"
      else
        [ -n "$mirror" ] || mirror=$(debian_mirror)
        [ -n "$mirror" ] || die "could not find this machine's Debian mirror in its apt configuration"
        build_image "$suite" "$tag" "$mirror"
        remove_outdated_images "$suite" "$tag"
      fi
      echo "SPM_IMAGE_${suite^^}=$tag"
    done
  } >"$MOLECULE_ENV.tmp"
  mv "$MOLECULE_ENV.tmp" "$MOLECULE_ENV"
  log "wrote $MOLECULE_ENV"
}

main "$@"
