//! A small client of the node's HTTP API: log in as a user, then read and write as them, with the
//! session cookie and the CSRF token every write needs.

use std::time::Duration;

use reqwest::Method;
use serde_json::Value;

/// How long one API request may take. The demo's requests are small and on loopback; a login waits
/// for one argon2id hash. The bound only keeps a stuck node from hanging the demo.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// A logged-in user of one node.
#[derive(Debug, Clone)]
pub struct ApiSession {
    http: reqwest::Client,
    base: String,
    cookie: String,
    csrf_token: String,
}

impl ApiSession {
    /// Logs `username` in at the node at `base` (`http://host:port`).
    pub async fn login(base: &str, username: &str, password: &str) -> Result<Self, String> {
        let http = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .build()
            .map_err(|error| error.to_string())?;
        let response = http
            .post(format!("{base}/api/v1/session"))
            .json(&serde_json::json!({ "username": username, "password": password }))
            .send()
            .await
            .map_err(|error| format!("login of {username}: {error}"))?;
        if !response.status().is_success() {
            return Err(format!("login of {username}: {}", response.status()));
        }
        let cookie = response
            .headers()
            .get(reqwest::header::SET_COOKIE)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.split(';').next())
            .ok_or_else(|| format!("login of {username}: no session cookie"))?
            .to_owned();
        let body: Value = response
            .json()
            .await
            .map_err(|error| format!("login of {username}: {error}"))?;
        let csrf_token = body["csrf_token"]
            .as_str()
            .ok_or_else(|| format!("login of {username}: no CSRF token"))?
            .to_owned();
        Ok(Self {
            http,
            base: base.to_owned(),
            cookie,
            csrf_token,
        })
    }

    pub async fn get(&self, path: &str) -> Result<Value, String> {
        self.request(Method::GET, path, None).await
    }

    pub async fn post(&self, path: &str, body: Value) -> Result<Value, String> {
        self.request(Method::POST, path, Some(body)).await
    }

    pub async fn put(&self, path: &str, body: Value) -> Result<Value, String> {
        self.request(Method::PUT, path, Some(body)).await
    }

    /// One request; an answer other than 2xx is an error naming the route and the node's message.
    async fn request(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, String> {
        let mut request = self
            .http
            .request(method.clone(), format!("{}{path}", self.base))
            .header(reqwest::header::COOKIE, &self.cookie)
            .header("x-csrf-token", &self.csrf_token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request
            .send()
            .await
            .map_err(|error| format!("{method} {path}: {error}"))?;
        let status = response.status();
        let text = response
            .text()
            .await
            .map_err(|error| format!("{method} {path}: {error}"))?;
        if !status.is_success() {
            return Err(format!("{method} {path}: {status} {text}"));
        }
        if text.is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_str(&text).map_err(|error| format!("{method} {path}: {error}"))
    }
}

/// The node's sync state (`standalone`, `offline`, `reconciling`, `sending`, `in_sync`), or `None`
/// when it does not answer. The state is all the status tells without an administrator's login,
/// and all the demo needs.
pub async fn sync_state(base: &str) -> Option<String> {
    let http = reqwest::Client::builder()
        .timeout(REQUEST_TIMEOUT)
        .build()
        .ok()?;
    let status: Value = http
        .get(format!("{base}/api/v1/sync/status"))
        .send()
        .await
        .ok()?
        .json()
        .await
        .ok()?;
    status["state"].as_str().map(str::to_owned)
}

/// Whether a sync `state` means the node is linked to the relay.
pub fn is_online(state: &str) -> bool {
    matches!(state, "reconciling" | "sending" | "in_sync")
}
