# Sourced by scripts/build-image.sh: the container tools' settings, from the repository, so that
# nothing depends on hand-edited files in /etc. Images are stored under target/containers/
# (vfs), apart from any other storage on the machine. tests/suite/container/image.rs sets the same.
containers_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo_root="$(cd "$containers_dir/../.." && pwd)"
export CONTAINERS_CONF="$containers_dir/containers.conf"
export CONTAINERS_STORAGE_CONF="$containers_dir/storage.conf"
# buildah/podman flags naming that storage.
storage_flags=(--root "$repo_root/target/containers/storage" --runroot "$repo_root/target/containers/run" --storage-driver vfs)
