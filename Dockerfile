# ringnats in a container: built in the Rust image, run from a slim Debian.
#   docker build -t ringnats .
#   docker run --rm -p 4222:4222 -p 8080:8080 ringnats
# Docker's default seccomp profile refuses io_uring: ringnats then runs on
# epoll and says so. To run on io_uring, allow its three system calls:
#   docker run --security-opt seccomp=docker/seccomp-io_uring.json ...
FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p ringnats \
 && install -m 0755 target/release/ringnats /usr/local/bin/ringnats

FROM debian:bookworm-slim
COPY --from=build /usr/local/bin/ringnats /usr/local/bin/ringnats
COPY docker/nats.conf /etc/ringnats/nats.conf
EXPOSE 4222 8080 8222
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/ringnats"]
CMD ["-c", "/etc/ringnats/nats.conf"]
