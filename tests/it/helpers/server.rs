use std::net::SocketAddr;
use std::sync::mpsc;

use ticketgate::app::{App, StopHandle};
use ticketgate::auth::customer_tokens::TokenSecret;
use ticketgate::config::ServeOptions;

/// A ticketgate server on a free port, in a thread of its own with its own actix system,
/// stopped when dropped.
pub struct TestServer {
    pub addr: SocketAddr,
    handle: StopHandle,
}

pub struct TestServerBuilder {
    url: String,
    options: ServeOptions,
    tokens: Option<TokenSecret>,
}

/// The customer-token secret of test servers (see `customer_token`).
pub const TEST_TOKEN_SECRET: &[u8] = b"test-secret-test-secret-test-secret!";

/// A customer token for `distinct_id` of `team`, valid for `seconds`, signed as test
/// servers expect.
pub fn customer_token(team: uuid::Uuid, distinct_id: &str, seconds: i64) -> String {
    TokenSecret::new(TEST_TOKEN_SECRET).expect("secret").mint(
        team,
        distinct_id,
        chrono::Utc::now() + chrono::Duration::seconds(seconds),
    )
}

impl TestServerBuilder {
    pub fn options(mut self, change: impl FnOnce(&mut ServeOptions)) -> Self {
        change(&mut self.options);
        self
    }

    pub fn start(self) -> TestServer {
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            actix_web::rt::System::new().block_on(async move {
                match App::build(&self.url, &self.options, self.tokens).await {
                    Ok(app) => {
                        let _ = tx.send(Ok((app.addr(), app.handle())));
                        let _ = app.run().await;
                    }
                    Err(err) => {
                        let _ = tx.send(Err(err.to_string()));
                    }
                }
            });
        });
        let (addr, handle) = rx
            .recv()
            .expect("server thread")
            .unwrap_or_else(|err| panic!("server failed to start: {err}"));
        TestServer { addr, handle }
    }
}

impl TestServer {
    pub fn builder(url: &str) -> TestServerBuilder {
        ticketgate::app::raise_open_file_limit();
        let options = ServeOptions {
            listen: "127.0.0.1:0".parse().expect("addr"),
            workers: Some(1),
            pool_size: 4,
            key_usage_flush_secs: 3600,
            // Background jobs would wake the fixtures' (past) snoozes mid-test and add
            // statements to the counts; tests that want them turn them on.
            jobs_interval_ms: 3_600_000,
            // Tests send bursts with one key; the limit has a test of its own.
            rate_limit_per_second: 0,
            ..ServeOptions::default()
        };
        TestServerBuilder {
            url: url.to_string(),
            options,
            tokens: TokenSecret::new(TEST_TOKEN_SECRET),
        }
    }

    pub fn start(url: &str) -> TestServer {
        Self::builder(url).start()
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn ws_url(&self) -> String {
        format!("ws://{}/graphql", self.addr)
    }

    pub fn client(&self, key: &str) -> super::Client {
        super::Client::new(self.url("/graphql"), key)
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        // `stop` sends the command at once; nobody needs to wait for the future.
        drop(self.handle.stop(false));
    }
}
