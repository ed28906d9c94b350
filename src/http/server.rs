//! The HTTP server: actix-web's `App` behind actix-http's HTTP/1 service, with an upgrade
//! service for websockets.
//!
//! actix-web's `HttpServer` keeps every connection in actix-http's dispatcher, websockets
//! included: an idle subscriber then holds the dispatcher's 8 KiB read and write buffers,
//! its codec and a payload channel, with actix-ws' own buffers and channel on top, for as
//! long as it is open. Built here from the same parts `HttpServer` uses, the server hands
//! upgrade requests to `upgrade`, which lets the app answer them as usual and, when
//! the answer is a websocket handshake, serves the bare socket with tokio-tungstenite.

use std::net::SocketAddr;
use std::time::Duration;

use actix_http::error::DispatchError;
use actix_http::{HttpService, Protocol, Request, Response};
use actix_service::{
    fn_service, map_config, IntoServiceFactory, Service, ServiceFactory, ServiceFactoryExt,
};
use actix_web::body::MessageBody;
use actix_web::dev::{AppConfig, Server};
use actix_web::Error;
use tokio::net::TcpStream;

use super::slow_clients::{self, HeaderDeadline, Replayed};
use super::upgrade;

/// Where and how to serve.
#[derive(Clone, Debug)]
pub struct Listen {
    pub addr: SocketAddr,
    /// Worker threads (None: one per core).
    pub workers: Option<usize>,
    /// Room for bursts of new connections (the kernel caps it at somaxconn).
    pub backlog: u32,
    /// How long a graceful stop waits for open connections.
    pub shutdown_timeout: Duration,
    /// How long a new connection has to send its first request's head (then 408, counted);
    /// None: no deadline.
    pub header_deadline: Option<HeaderDeadline>,
}

/// Binds `options.addr` and builds the server (not yet running) with its bound address.
/// Signals are left to the caller, as `HttpServer::disable_signals` does.
pub fn bind<F, I, S, B>(factory: F, options: &Listen) -> std::io::Result<(Server, SocketAddr)>
where
    F: Fn() -> I + Send + Clone + 'static,
    I: IntoServiceFactory<S, Request> + 'static,
    S: ServiceFactory<Request, Config = AppConfig, InitError = ()> + 'static,
    S::Error: Into<Error> + 'static,
    S::Response: Into<Response<B>> + 'static,
    S::Service: 'static,
    <S::Service as Service<Request>>::Future: 'static,
    B: MessageBody + 'static,
{
    let listener = listener(options.addr, options.backlog)?;
    let addr = listener.local_addr()?;
    let mut builder = actix_server::Server::build()
        .backlog(options.backlog)
        .shutdown_timeout(options.shutdown_timeout.as_secs())
        .disable_signals();
    if let Some(workers) = options.workers {
        builder = builder.workers(workers);
    }
    let deadline = options.header_deadline.clone();
    // actix-http's own head deadline only backs ours up (a head larger than we read ahead):
    // the same length, zero (none) when ours is off.
    let backstop = deadline.as_ref().map_or(Duration::ZERO, |d| d.timeout);
    let server = builder
        .listen("ticketgate", listener, move || {
            // What `HttpServer` sets by default.
            let app = factory.clone();
            let http = HttpService::build()
                .keep_alive(actix_http::KeepAlive::Timeout(Duration::from_secs(5)))
                .client_request_timeout(backstop)
                .client_disconnect_timeout(Duration::from_secs(1))
                .local_addr(addr)
                .upgrade(upgrade::service(move || app_factory(&app, addr)))
                .finish(app_factory(&factory, addr));
            let deadline = deadline.clone();
            fn_service(move |tcp: TcpStream| accepted(tcp, deadline.clone())).and_then(http)
        })?
        .run();
    Ok((server, addr))
}

/// A new connection, for actix-http once its first request's head arrived in time (what
/// `HttpService::tcp` does, with the header deadline). A connection refused here was
/// answered already: the error only ends it (actix-server drops it unlogged).
async fn accepted(
    tcp: TcpStream,
    deadline: Option<HeaderDeadline>,
) -> Result<(Replayed, Protocol, Option<SocketAddr>), DispatchError> {
    // No Nagle delay for small messages (subscription events, small answers).
    if let Err(err) = tcp.set_nodelay(true) {
        tracing::debug!(error = %err, "could not set TCP_NODELAY");
    }
    let peer = tcp.peer_addr().ok();
    let io = match &deadline {
        Some(deadline) => slow_clients::first_head(tcp, deadline)
            .await
            .ok_or(DispatchError::SlowRequestTimeout)?,
        None => Replayed::new(tcp),
    };
    Ok((io, Protocol::Http1, peer))
}

/// The app as actix-http serves it: its errors rendered as responses.
fn app_factory<F, I, S, B>(
    factory: &F,
    addr: SocketAddr,
) -> impl ServiceFactory<
    Request,
    Config = (),
    Response = Response<B>,
    Error = Response<actix_web::body::BoxBody>,
    InitError = (),
    Service = impl Service<Request, Response = Response<B>, Error = Response<actix_web::body::BoxBody>>,
>
where
    F: Fn() -> I,
    I: IntoServiceFactory<S, Request>,
    S: ServiceFactory<Request, Config = AppConfig, InitError = ()> + 'static,
    S::Error: Into<Error> + 'static,
    S::Response: Into<Response<B>> + 'static,
    S::Service: 'static,
    <S::Service as Service<Request>>::Future: 'static,
    B: MessageBody + 'static,
{
    let app = factory()
        .into_factory()
        .map(Into::into)
        .map_err(|err| Response::from(err.into().error_response()));
    map_config(app, move |_| {
        AppConfig::__priv_test_new(false, addr.to_string(), addr)
    })
}

/// A listening socket as `HttpServer::bind` makes it (address reuse, the given backlog).
fn listener(addr: SocketAddr, backlog: u32) -> std::io::Result<std::net::TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(backlog)?.into_std()
}
