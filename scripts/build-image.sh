#!/usr/bin/env bash
# Builds the container image localhost/mio-echo:latest offline: a static
# musl binary (stripped) in a FROM scratch image, with podman (or buildah,
# or docker). Prints the image's size.
#   scripts/build-image.sh [--save FILE.tar]   (--save: an OCI archive too)
set -euo pipefail
cd "$(dirname "$0")/.."
save=
if [ "${1:-}" = --save ]; then save=${2:?--save needs a file}; fi
target=x86_64-unknown-linux-musl
if rustup target list --installed 2>/dev/null | grep -qx "$target" || rustup target add "$target" >&2; then
    # ring compiles C for the target: musl-gcc (Debian's musl-tools).
    CARGO_PROFILE_RELEASE_STRIP=symbols cargo build --release --quiet --target "$target"
else
    # No musl target to be had (no network for rustup): glibc, linked
    # statically. It serves and loads numeric addresses; host names need
    # glibc's NSS modules, which an empty image does not have.
    echo "note: no $target; building a static glibc binary (names in --addr will not resolve in the image)" >&2
    target=x86_64-unknown-linux-gnu
    RUSTFLAGS="-C target-feature=+crt-static" CARGO_PROFILE_RELEASE_STRIP=symbols \
        cargo build --release --quiet --target "$target"
fi
context=$(mktemp -d)
trap 'rm -rf "$context"' EXIT
cp "${CARGO_TARGET_DIR:-target}/$target/release/mio-echo" Containerfile "$context/"
image=localhost/mio-echo:latest
if command -v podman >/dev/null; then
    podman build --quiet --tag "$image" --file "$context/Containerfile" "$context" >/dev/null
    size=$(podman image inspect --format '{{.Size}}' "$image")
    [ -n "$save" ] && podman save --quiet --format oci-archive --output "$save" "$image"
elif command -v buildah >/dev/null; then
    buildah bud --quiet --tag "$image" --file "$context/Containerfile" "$context" >/dev/null
    size=$(buildah inspect --format '{{.FromImageSize}}' "$image" 2>/dev/null || echo "?")
    [ -n "$save" ] && buildah push "$image" "oci-archive:$save"
else
    docker build --quiet --tag "$image" --file "$context/Containerfile" "$context" >/dev/null
    size=$(docker image inspect --format '{{.Size}}' "$image")
    [ -n "$save" ] && docker save --output "$save" "$image"
fi
echo "built $image: $size bytes${save:+, saved to $save}"
