# Flotilla as a container: a release build, then a small runtime with what agents and
# verification need (git, bubblewrap, CA certificates), run as a non-root user.
#
#   docker build -t flotilla .
#   docker run --security-opt seccomp=unconfined --security-opt apparmor=unconfined \
#     -e FLOTILLA_APP_ID=… -e FLOTILLA_PRIVATE_KEY_FILE=/run/secrets/app.pem … flotilla
#
# bubblewrap needs unprivileged user namespaces, which Docker's default seccomp and
# AppArmor profiles refuse; the options above allow them (see README, "Running it in a
# container").

FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin flotilla

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends git bubblewrap ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --create-home --uid 10001 flotilla \
    && mkdir -p /var/lib/flotilla \
    && chown flotilla:flotilla /var/lib/flotilla
COPY --from=build /src/target/release/flotilla /usr/local/bin/flotilla
USER flotilla
ENV FLOTILLA_LISTEN=0.0.0.0:3000 \
    FLOTILLA_DATA_DIR=/var/lib/flotilla
VOLUME /var/lib/flotilla
EXPOSE 3000
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s \
    CMD curl -fsS http://127.0.0.1:3000/healthz || exit 1
ENTRYPOINT ["flotilla"]
CMD ["serve"]
