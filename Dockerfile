# syntax=docker/dockerfile:1
#
# The worker image: the `indexer` binary alone on a minimal base, as a non-root user.
# ECS runs it with a read-only root filesystem; the only writable place it needs is its working
# directory (/work, where a dead-letter file goes unless --dead-letter names an s3:// prefix),
# which the task definition mounts as a scratch volume. ECS gives such a bind mount the image's
# owner and mode for that path, so the image makes /work the task user's (65532, owner-only):
# a WORKDIR alone would create it owned by root, and the first dead letter would fail the run.
# Locally: docker run --read-only --tmpfs /work:uid=65532,gid=65532,mode=0700 IMAGE rebuild --help
#
# A batch job, not a server: ECS tracks it by its exit code, so it has no HEALTHCHECK.
# checkov:skip=CKV_DOCKER_2: a batch task that exits when done has nothing for a health check to probe; ECS reads its exit code

FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin indexer \
    && cp target/release/indexer /usr/local/bin/indexer
# The scratch directory, copied below as an entry of /scratch so that --chown applies to it.
RUN install -d -m 0700 /scratch/work

# glibc and libgcc only, no shell or package manager; "nonroot" is uid 65532.
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /usr/local/bin/indexer /usr/local/bin/indexer
COPY --from=build --chown=65532:65532 /scratch/ /
WORKDIR /work
ENV LOG_FORMAT=json
USER nonroot
ENTRYPOINT ["/usr/local/bin/indexer"]
# The launcher overrides the command with the run's mode (rebuild, sync, verify, resync).
CMD ["rebuild"]
