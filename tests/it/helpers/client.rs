use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE};
use serde_json::{json, Value};

/// A GraphQL client for one server and key.
#[derive(Clone)]
pub struct Client {
    pub http: reqwest::Client,
    pub endpoint: String,
    pub key: String,
}

impl Client {
    pub fn new(endpoint: String, key: &str) -> Client {
        Client {
            http: reqwest::Client::new(),
            endpoint,
            key: key.to_string(),
        }
    }

    /// POSTs an operation; returns the HTTP status and the JSON body.
    pub async fn post(&self, query: &str, variables: Value) -> (u16, Value) {
        let response = self
            .http
            .post(&self.endpoint)
            .header(AUTHORIZATION, format!("Bearer {}", self.key))
            .header(CONTENT_TYPE, "application/json")
            .header(ACCEPT, "application/json")
            .json(&json!({ "query": query, "variables": variables }))
            .send()
            .await
            .expect("request");
        let status = response.status().as_u16();
        (status, response.json().await.expect("json body"))
    }

    /// The `data` of an operation that must succeed without errors.
    pub async fn data(&self, query: &str, variables: Value) -> Value {
        let (status, body) = self.post(query, variables).await;
        assert_eq!(status, 200, "{body}");
        assert!(body.get("errors").is_none(), "unexpected errors: {body}");
        body["data"].clone()
    }

    /// The first error's `extensions.code`.
    pub async fn error_code(&self, query: &str, variables: Value) -> String {
        let (_, body) = self.post(query, variables).await;
        body["errors"][0]["extensions"]["code"]
            .as_str()
            .unwrap_or_else(|| panic!("no error code in {body}"))
            .to_string()
    }
}
