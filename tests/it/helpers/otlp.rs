//! A small OTLP/HTTP receiver (JSON encoding): what a collector sees of the servers'
//! traces. It answers every POST with 200 and keeps the spans of `/v1/traces`.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

/// One exported span, flattened with its resource's attributes.
#[derive(Clone, Debug)]
pub struct Span {
    pub name: String,
    pub trace_id: String,
    pub span_id: String,
    pub parent_span_id: String,
    pub attributes: Vec<(String, Value)>,
    pub resource: Vec<(String, Value)>,
}

impl Span {
    /// A string attribute of the span.
    pub fn attribute(&self, key: &str) -> Option<&str> {
        find(&self.attributes, key)
    }

    /// A string attribute of the span's resource (service name, instance id…).
    pub fn resource(&self, key: &str) -> Option<&str> {
        find(&self.resource, key)
    }
}

fn find<'a>(attributes: &'a [(String, Value)], key: &str) -> Option<&'a str> {
    attributes
        .iter()
        .find(|(name, _)| name == key)
        .and_then(|(_, value)| value["stringValue"].as_str())
}

pub struct Receiver {
    pub endpoint: String,
    spans: Arc<Mutex<Vec<Span>>>,
}

impl Receiver {
    pub fn start() -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let endpoint = format!("http://{}", listener.local_addr().expect("addr"));
        let spans: Arc<Mutex<Vec<Span>>> = Arc::default();
        let kept = spans.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().map_while(Result::ok) {
                let kept = kept.clone();
                std::thread::spawn(move || serve(stream, &kept));
            }
        });
        Receiver { endpoint, spans }
    }

    /// The spans received so far.
    pub fn spans(&self) -> Vec<Span> {
        self.spans.lock().expect("spans").clone()
    }

    /// Waits up to `wait` until `done` holds for the spans received, and returns them
    /// (failing the test with what did arrive otherwise).
    pub fn until(&self, wait: Duration, what: &str, done: impl Fn(&[Span]) -> bool) -> Vec<Span> {
        let deadline = Instant::now() + wait;
        loop {
            let spans = self.spans();
            if done(&spans) {
                return spans;
            }
            if Instant::now() >= deadline {
                let names: Vec<_> = spans
                    .iter()
                    .map(|span| format!("{} {} {}", span.trace_id, span.name, span.span_id))
                    .collect();
                panic!(
                    "no {what} within {wait:?}; spans received:\n{}",
                    names.join("\n")
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// Reads HTTP/1.1 requests off one connection (kept alive) and answers each with 200.
fn serve(stream: TcpStream, spans: &Mutex<Vec<Span>>) {
    let mut writer = stream.try_clone().expect("clone");
    let mut reader = BufReader::new(stream);
    loop {
        let mut request_line = String::new();
        if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
            return;
        }
        let mut length = 0;
        loop {
            let mut header = String::new();
            if reader.read_line(&mut header).unwrap_or(0) == 0 {
                return;
            }
            let header = header.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':') {
                if name.eq_ignore_ascii_case("content-length") {
                    length = value.trim().parse().unwrap_or(0);
                }
            }
        }
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        if request_line.contains("/v1/traces") {
            if let Ok(export) = serde_json::from_slice::<Value>(&body) {
                spans.lock().expect("spans").extend(flatten(&export));
            }
        }
        let answer =
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}";
        if writer.write_all(answer.as_bytes()).is_err() {
            return;
        }
    }
}

/// The spans of an `ExportTraceServiceRequest` in its JSON form.
fn flatten(export: &Value) -> Vec<Span> {
    let pairs = |attributes: &Value| -> Vec<(String, Value)> {
        attributes
            .as_array()
            .into_iter()
            .flatten()
            .map(|pair| {
                (
                    pair["key"].as_str().unwrap_or_default().to_string(),
                    pair["value"].clone(),
                )
            })
            .collect()
    };
    let text = |value: &Value| value.as_str().unwrap_or_default().to_string();
    let mut spans = Vec::new();
    for resource_spans in export["resourceSpans"].as_array().into_iter().flatten() {
        let resource = pairs(&resource_spans["resource"]["attributes"]);
        for scope in resource_spans["scopeSpans"]
            .as_array()
            .into_iter()
            .flatten()
        {
            for span in scope["spans"].as_array().into_iter().flatten() {
                spans.push(Span {
                    name: text(&span["name"]),
                    trace_id: text(&span["traceId"]),
                    span_id: text(&span["spanId"]),
                    parent_span_id: text(&span["parentSpanId"]),
                    attributes: pairs(&span["attributes"]),
                    resource: resource.clone(),
                });
            }
        }
    }
    spans
}
