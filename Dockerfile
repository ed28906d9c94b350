# A ticketgate image for docker-compose.yml (not used by the tests).
FROM rust:1.89-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin ticketgate

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends libpq5 ca-certificates curl \
    && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/target/release/ticketgate /usr/local/bin/ticketgate
USER nobody
EXPOSE 8080
ENTRYPOINT ["ticketgate"]
CMD ["serve", "--listen", "0.0.0.0:8080"]
