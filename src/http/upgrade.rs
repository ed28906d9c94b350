//! Upgrade requests (`Upgrade: websocket`), which actix-http hands over with the socket.
//!
//! The app answers them as it answers any request (routing, middleware, the websocket
//! handler's checks). When the answer is a websocket handshake carrying a `Handoff`, the
//! handshake is written and the bare socket (with whatever the client sent after its
//! request) goes to the handoff: the connection then holds no HTTP machinery at all. Any
//! other answer is written and the connection closed.

use std::future::Future;
use std::io;
use std::rc::Rc;

use actix_codec::{Framed, FramedParts};
use actix_http::body::{BodySize, BoxBody, MessageBody};
use actix_http::h1::{Codec, Message};
use actix_http::header;
use actix_http::{HttpMessage, Request, Response, StatusCode};
use actix_service::{fn_factory, fn_service, Service, ServiceFactory};
use actix_web::web::{Bytes, BytesMut};
use futures_util::future::LocalBoxFuture;
use futures_util::SinkExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::http::slow_clients::Replayed;

/// Set on requests that came through here: only these may be answered with a handoff.
#[derive(Clone, Copy, Debug)]
pub struct Upgradable;

/// What serves the socket once the handshake is written: the socket, and the bytes the
/// client already sent past its request (in the dispatcher's 8 KiB buffer: keep a copy).
pub struct Handoff(Box<dyn FnOnce(TcpStream, BytesMut) -> LocalBoxFuture<'static, ()>>);

impl Handoff {
    pub fn new<F, Fut>(serve: F) -> Handoff
    where
        F: FnOnce(TcpStream, BytesMut) -> Fut + 'static,
        Fut: Future<Output = ()> + 'static,
    {
        Handoff(Box::new(move |io, read| Box::pin(serve(io, read))))
    }
}

type Upgrade = (Request, Framed<Replayed, Codec>);

/// The upgrade service of one worker, in front of its own instance of the app.
pub fn service<AF, A, B>(
    app: AF,
) -> impl ServiceFactory<Upgrade, Config = (), Response = (), Error = actix_http::Error, InitError = ()>
where
    AF: Fn() -> A + 'static,
    A: ServiceFactory<
            Request,
            Config = (),
            Response = Response<B>,
            Error = Response<BoxBody>,
            InitError = (),
        > + 'static,
    A::Service: 'static,
    B: MessageBody + 'static,
{
    fn_factory(move || {
        let app = app();
        async move {
            let app = Rc::new(app.new_service(()).await?);
            Ok(fn_service(move |(req, framed): Upgrade| {
                let app = app.clone();
                async move {
                    // A client gone while its answer was written is no server error.
                    if let Err(err) = serve(app, req, framed).await {
                        tracing::debug!(error = %err, "upgrade request: the answer was not written");
                    }
                    Ok::<_, actix_http::Error>(())
                }
            }))
        }
    })
}

async fn serve<S, B>(
    app: Rc<S>,
    req: Request,
    mut framed: Framed<Replayed, Codec>,
) -> io::Result<()>
where
    S: Service<Request, Response = Response<B>, Error = Response<BoxBody>>,
    B: MessageBody + 'static,
{
    req.extensions_mut().insert(Upgradable);
    let mut response = match app.call(req).await {
        Ok(response) => response.map_into_boxed_body(),
        Err(response) => response,
    };
    let handoff = response.extensions_mut().remove::<Handoff>();
    match handoff {
        Some(Handoff(serve)) if response.status() == StatusCode::SWITCHING_PROTOCOLS => {
            let (head, _) = response.into_parts();
            framed.send(Message::Item((head, BodySize::None))).await?;
            // The codec and both 8 KiB buffers go now (this future lives as long as the
            // socket): only the socket and the unread bytes are kept.
            let FramedParts {
                io,
                mut read_buf,
                write_buf,
                codec,
                ..
            } = framed.into_parts();
            drop((write_buf, codec));
            // What the header deadline read ahead comes after what actix-http read of it.
            let (tcp, ahead) = io.into_parts();
            read_buf.extend_from_slice(&ahead);
            serve(tcp, read_buf).await;
            Ok(())
        }
        _ => respond(framed, response).await,
    }
}

/// Writes an answer that is not a handshake, then closes the connection (what else the
/// client sent after an upgrade request is not HTTP we could read).
///
/// Written by hand rather than through the h1 codec: after an upgrade request the codec
/// is in its streaming state and its answer never reached clients (they saw the socket
/// close mid-handshake). The head is the app's own (status, headers), with the body's
/// length and `connection: close`.
async fn respond(framed: Framed<Replayed, Codec>, response: Response<BoxBody>) -> io::Result<()> {
    let (head, body) = response.into_parts();
    let body: Bytes = actix_http::body::to_bytes(body)
        .await
        .map_err(|_| io::Error::other("the response body failed"))?;
    let mut out = BytesMut::with_capacity(256 + body.len());
    let status = head.status();
    out.extend_from_slice(
        format!(
            "HTTP/1.1 {} {}\r\n",
            status.as_str(),
            status.canonical_reason().unwrap_or("")
        )
        .as_bytes(),
    );
    for (name, value) in head.headers().iter() {
        let framing = [
            header::CONTENT_LENGTH,
            header::CONNECTION,
            header::TRANSFER_ENCODING,
        ];
        if framing.contains(name) {
            continue;
        }
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(
        format!(
            "content-length: {}\r\nconnection: close\r\n\r\n",
            body.len()
        )
        .as_bytes(),
    );
    out.extend_from_slice(&body);
    let mut io = framed.into_parts().io;
    io.write_all(&out).await?;
    io.shutdown().await?;
    // Unread bytes at close make the kernel reset the socket, and a reset can reach the
    // client before the answer: read what it still sends, briefly.
    let mut unread = [0u8; 512];
    let drain = async { while io.read(&mut unread).await.is_ok_and(|n| n > 0) {} };
    let _ = tokio::time::timeout(LINGER, drain).await;
    Ok(())
}

/// How long a refused upgrade's last bytes are read and dropped.
const LINGER: std::time::Duration = std::time::Duration::from_secs(2);
