//! A school node for API tests: standalone school 30076 in municipality 092 with the bulk roster
//! fixture imported (`tests/fixtures/oneroster/bulk`), every user's password set to
//! [`PASSWORD`], served over real HTTP on loopback.
//!
//! Users of the fixture: teachers `leena.korhonen` (T01: 7A and 7B maths) and `mikko.nieminen`
//! (T02: 7A mother tongue, 7AB English), admin `sari.lehtonen` (ADM01), pupils P01–P12 (P01–P06 in
//! 7A, P07–P12 in 7B; e.g. `aino.makinen01` is P01, `leo.koskinen08` is P08), guardians G01–G06 (G01
//! `marja.makinen` of P01 and P02, G04 `pekka.koskinen` of P07 and P08).

#![allow(dead_code)]

use std::path::Path;

use node::config::NodeConfig;
use node::identity::NodeIdentity;
use node::model::credentials::{CredentialsDocument, credentials_doc};
use node::model::roster::{RosterUsersDocument, roster_users_doc};
use node::server::{self, RunningNode};
use serde_json::Value;
use tempfile::TempDir;

pub const PASSWORD: &str = "correct horse battery staple";

pub struct TestSchool {
    pub dir: TempDir,
    pub node: RunningNode,
    pub base: String,
}

impl TestSchool {
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    pub async fn start_with(adjust: impl FnOnce(&mut NodeConfig)) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut config = NodeConfig {
            data_dir: dir.path().join("node"),
            ..NodeConfig::default()
        };
        config.http.listen = "127.0.0.1:0".parse().expect("address");
        adjust(&mut config);
        NodeIdentity::init_standalone(
            &config,
            "30076".parse().expect("school"),
            "092".parse().expect("municipality"),
        )
        .expect("init");
        let node = server::start(config).await.expect("node starts");
        let repository = node.state.repository.clone();
        let school = node.state.identity.school.clone();
        tokio::task::spawn_blocking(move || {
            let fixture =
                Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/oneroster/bulk");
            node::school::roster::import_package(&repository, &school, &fixture)
                .expect("the fixture imports");
            let hash = node::auth::hash_password(PASSWORD).expect("hash");
            let users: RosterUsersDocument = repository
                .read_or_default(&roster_users_doc(&school))
                .expect("users");
            repository
                .update(
                    &credentials_doc(&school),
                    |credentials: &mut CredentialsDocument| {
                        for user in users.users.values() {
                            credentials.set_hash(&user.sourced_id, &hash)?;
                        }
                        Ok::<_, node::model::common::ModelError>(())
                    },
                )
                .expect("passwords set");
        })
        .await
        .expect("setup");
        let base = format!("http://{}", node.http_address);
        Self { dir, node, base }
    }

    /// A school around a node the test started itself (on a store it prepared), without the
    /// fixture import and passwords of [`Self::start`].
    pub fn serving(dir: TempDir, node: RunningNode) -> Self {
        let base = format!("http://{}", node.http_address);
        Self { dir, node, base }
    }

    /// A logged-in client for `username`.
    pub async fn login(&self, username: &str) -> Client {
        let http = reqwest::Client::new();
        let response = http
            .post(format!("{}/api/v1/session", self.base))
            .json(&serde_json::json!({ "username": username, "password": PASSWORD }))
            .send()
            .await
            .expect("login request");
        assert!(
            response.status().is_success(),
            "{username} logs in: {}",
            response.status()
        );
        let cookie = response
            .headers()
            .get("set-cookie")
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.split(';').next())
            .expect("session cookie")
            .to_owned();
        let body: Value = response.json().await.expect("login body");
        Client {
            http,
            base: self.base.clone(),
            cookie,
            csrf: body["csrf_token"].as_str().expect("csrf token").to_owned(),
            user_id: body["user_id"].as_str().expect("user id").to_owned(),
        }
    }

    /// Publishes an OpenID Connect client in the national catalogue through the node's own
    /// repository, as the operator's sync would bring it: service `id` with `redirect_uri`, allowed
    /// `claims` (scope names). Returns the client secret (whose SHA-256 the catalogue keeps).
    pub async fn publish_oidc_service(
        &self,
        id: &str,
        redirect_uri: &str,
        claims: &[&str],
    ) -> String {
        self.publish_service(
            id,
            redirect_uri,
            claims,
            None,
            true,
            node::model::catalogue::ServiceCategory::Optional,
        )
        .await
    }

    /// The same, with the address a home page opens it at, whether it works offline, and its
    /// category (own and common services are every user's tools; optional ones are placed in
    /// classes).
    pub async fn publish_service(
        &self,
        id: &str,
        redirect_uri: &str,
        claims: &[&str],
        launch_url: Option<&str>,
        works_offline: bool,
        category: node::model::catalogue::ServiceCategory,
    ) -> String {
        use node::model::catalogue::{
            CatalogueDocument, ReleasableClaim, ServiceInput, ServiceProtocol, catalogue_doc,
            client_secret_sha256,
        };
        let secret = format!("{id}-secret-{}", "s".repeat(40));
        let input = ServiceInput {
            id: id.to_owned(),
            name: format!("Palvelu {id}"),
            provider: "Testikustantamo Oy".to_owned(),
            category,
            protocol: ServiceProtocol::Oidc,
            redirect_uris: vec![redirect_uri.to_owned()],
            launch_url: launch_url.map(str::to_owned),
            allowed_claims: claims
                .iter()
                .map(|scope| ReleasableClaim::from_scope(scope).expect("a known claim"))
                .collect(),
            works_offline,
            client_secret_sha256: Some(client_secret_sha256(&secret)),
            lti: None,
        };
        let repository = self.node.state.repository.clone();
        tokio::task::spawn_blocking(move || {
            repository
                .update(&catalogue_doc(), |catalogue: &mut CatalogueDocument| {
                    catalogue.publish(
                        input,
                        node::model::common::NodeTime::from_unix_millis(1_800_000_000_000),
                    )
                })
                .expect("the service is published");
        })
        .await
        .expect("publish task");
        secret
    }

    /// Publishes an LTI 1.3 tool in the national catalogue (as the operator's sync would bring
    /// it): service `id` whose login initiation URL, launch (redirect) URI and deep linking URL
    /// are `tool_base` + `/login`, `/launch` and `/deep`, verified with `public_jwk`, allowed
    /// `claims` (scope names), an optional service (placed in classes by teachers).
    pub async fn publish_lti_tool(
        &self,
        id: &str,
        tool_base: &str,
        public_jwk: &str,
        claims: &[&str],
    ) {
        use node::model::catalogue::{
            CatalogueDocument, LtiTool, ReleasableClaim, ServiceCategory, ServiceInput,
            ServiceProtocol, catalogue_doc,
        };
        let input = ServiceInput {
            id: id.to_owned(),
            name: format!("Työkalu {id}"),
            provider: "Testikustantamo Oy".to_owned(),
            category: ServiceCategory::Optional,
            protocol: ServiceProtocol::Lti13,
            redirect_uris: vec![format!("{tool_base}/launch")],
            launch_url: Some(format!("{tool_base}/launch")),
            allowed_claims: claims
                .iter()
                .map(|scope| ReleasableClaim::from_scope(scope).expect("a known claim"))
                .collect(),
            works_offline: true,
            client_secret_sha256: None,
            lti: Some(LtiTool {
                login_initiation_url: format!("{tool_base}/login"),
                public_jwk: public_jwk.to_owned(),
                deep_linking_url: Some(format!("{tool_base}/deep")),
            }),
        };
        let repository = self.node.state.repository.clone();
        tokio::task::spawn_blocking(move || {
            repository
                .update(&catalogue_doc(), |catalogue: &mut CatalogueDocument| {
                    catalogue.publish(
                        input,
                        node::model::common::NodeTime::from_unix_millis(1_800_000_000_000),
                    )
                })
                .expect("the tool is published");
        })
        .await
        .expect("publish task");
    }

    /// A client with no session.
    pub fn anonymous(&self) -> Client {
        Client {
            http: reqwest::Client::new(),
            base: self.base.clone(),
            cookie: String::new(),
            csrf: String::new(),
            user_id: String::new(),
        }
    }
}

/// A browser stand-in: the session cookie and the CSRF token on every request.
pub struct Client {
    pub http: reqwest::Client,
    pub base: String,
    pub cookie: String,
    pub csrf: String,
    pub user_id: String,
}

impl Client {
    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if !self.cookie.is_empty() {
            request = request
                .header("cookie", &self.cookie)
                .header("x-csrf-token", &self.csrf);
        }
        request
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        into_parts(self.request(reqwest::Method::GET, path).send().await).await
    }

    pub async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        into_parts(
            self.request(reqwest::Method::POST, path)
                .json(&body)
                .send()
                .await,
        )
        .await
    }

    pub async fn put(&self, path: &str, body: Value) -> (u16, Value) {
        into_parts(
            self.request(reqwest::Method::PUT, path)
                .json(&body)
                .send()
                .await,
        )
        .await
    }

    pub async fn delete(&self, path: &str) -> (u16, Value) {
        into_parts(self.request(reqwest::Method::DELETE, path).send().await).await
    }

    /// Uploads raw bytes (a file) with the given query string.
    pub async fn upload(&self, path: &str, bytes: Vec<u8>, media_type: &str) -> (u16, Value) {
        into_parts(
            self.request(reqwest::Method::POST, path)
                .header("content-type", media_type)
                .body(bytes)
                .send()
                .await,
        )
        .await
    }

    /// Downloads raw bytes with extra request headers, answering the response headers too.
    pub async fn download_with(
        &self,
        path: &str,
        headers: &[(&str, &str)],
    ) -> (u16, reqwest::header::HeaderMap, Vec<u8>) {
        let mut request = self.request(reqwest::Method::GET, path);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = request.send().await.expect("request");
        let status = response.status().as_u16();
        let response_headers = response.headers().clone();
        (
            status,
            response_headers,
            response.bytes().await.expect("body").to_vec(),
        )
    }

    /// Downloads raw bytes.
    pub async fn download(&self, path: &str) -> (u16, Vec<u8>) {
        let response = self
            .request(reqwest::Method::GET, path)
            .send()
            .await
            .expect("request");
        let status = response.status().as_u16();
        (status, response.bytes().await.expect("body").to_vec())
    }
}

async fn into_parts(response: reqwest::Result<reqwest::Response>) -> (u16, Value) {
    let response = response.expect("request sent");
    let status = response.status().as_u16();
    let text = response.text().await.expect("body");
    let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, value)
}
