# pbconnector's container image: the one static (musl) binary, nothing else. No shell, no
# libc, no package manager, no /etc files: DNS goes through the /etc/resolv.conf and /etc/hosts
# the container runtime mounts, TLS roots are compiled in (Mozilla's, plus SSL_CERT_FILE /
# SSL_CERT_DIR at run time), and the numeric UID/GID 65532 needs no /etc/passwd.
#
# The build context is the directory scripts/build-image.sh stages: `pbconnector`, built with
#   cargo build --release --locked --no-default-features --target <arch>-unknown-linux-musl
# (no `demo` command: no simulators, no fake token endpoint). So nothing is pulled: this builds
# on machines without access to any registry. The script builds this file with buildah (the
# default), podman or docker and sets the labels' build arguments:
#   scripts/build-image.sh                      # prints target/image/pbconnector-<arch>.oci.tar
#   BUILDER=podman scripts/build-image.sh       # the same archive, with podman build
#   BUILDER=docker scripts/build-image.sh       # pbconnector:VERSION in docker's store
#   scripts/build-image.sh --context-only       # stages the context, prints it and the build args
FROM scratch

ARG VERSION=unknown
ARG REVISION=unknown
ARG SOURCE=unknown

LABEL org.opencontainers.image.title="pbconnector" \
      org.opencontainers.image.description="Kubernetes operator that keeps Password Boss users in step with a Microsoft Entra ID group" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.source="${SOURCE}"

# Owned by root, mode 0555 (staged so): the process cannot change its own binary.
COPY pbconnector /pbconnector
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/pbconnector"]
CMD ["run"]
