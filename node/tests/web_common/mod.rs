//! A browser stand-in for the web UI's tests: follows no redirects by itself (so tests see them),
//! keeps the session and language cookies, and reads the CSRF token out of the page's forms.

#![allow(dead_code)]

use reqwest::StatusCode;
use reqwest::header::{HeaderMap, LOCATION, SET_COOKIE};
use scraper::{Html, Selector};

use super::common::{PASSWORD, TestSchool};

/// One page as the browser got it.
#[derive(Debug)]
pub struct Page {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
}

impl Page {
    pub fn html(&self) -> Html {
        Html::parse_document(&self.body)
    }

    pub fn location(&self) -> Option<String> {
        self.headers
            .get(LOCATION)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned)
    }

    /// The value of the first hidden `csrf_token` field.
    pub fn csrf_token(&self) -> String {
        let selector = Selector::parse("input[name=csrf_token]").expect("selector");
        self.html()
            .select(&selector)
            .next()
            .and_then(|input| input.value().attr("value"))
            .expect("the page has a form with a CSRF token")
            .to_owned()
    }

    /// The text of every element matching `css`, whitespace collapsed.
    pub fn texts(&self, css: &str) -> Vec<String> {
        let selector = Selector::parse(css).expect("selector");
        self.html()
            .select(&selector)
            .map(|element| {
                element
                    .text()
                    .collect::<String>()
                    .split_whitespace()
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect()
    }

    /// The `href` of every link matching `css`.
    pub fn links(&self, css: &str) -> Vec<String> {
        let selector = Selector::parse(css).expect("selector");
        self.html()
            .select(&selector)
            .filter_map(|element| element.value().attr("href").map(str::to_owned))
            .collect()
    }
}

pub struct Browser {
    pub http: reqwest::Client,
    pub base: String,
    pub cookies: Vec<(String, String)>,
    pub accept_language: Option<String>,
}

impl Browser {
    pub fn new(school: &TestSchool) -> Self {
        Self::at(&school.base)
    }

    /// Another tab of the same browser: the same session cookies, sending requests of its own,
    /// as a pupil's second tab or a double click does.
    pub fn another_tab(&self) -> Self {
        Self {
            http: self.http.clone(),
            base: self.base.clone(),
            cookies: self.cookies.clone(),
            accept_language: None,
        }
    }

    pub fn at(base: &str) -> Self {
        Browser {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("client"),
            base: base.to_owned(),
            cookies: Vec::new(),
            accept_language: None,
        }
    }

    /// A browser logged in as `username` through the login form.
    pub async fn logged_in(school: &TestSchool, username: &str) -> Self {
        let mut browser = Browser::new(school);
        let page = browser
            .post_form("/login", &[("username", username), ("password", PASSWORD)])
            .await;
        assert_eq!(page.status, StatusCode::SEE_OTHER, "{username} logs in");
        assert_eq!(page.location().as_deref(), Some("/home"));
        browser
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(name, value)| format!("{name}={value}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    fn keep_cookies(&mut self, headers: &HeaderMap) {
        for value in headers.get_all(SET_COOKIE) {
            let Ok(text) = value.to_str() else { continue };
            let pair = text.split(';').next().unwrap_or("");
            let Some((name, value)) = pair.split_once('=') else {
                continue;
            };
            self.cookies.retain(|(existing, _)| existing != name);
            if !value.is_empty() {
                self.cookies.push((name.to_owned(), value.to_owned()));
            }
        }
    }

    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if !self.cookies.is_empty() {
            request = request.header("cookie", self.cookie_header());
        }
        if let Some(language) = &self.accept_language {
            request = request.header("accept-language", language);
        }
        request
    }

    async fn finish(&mut self, request: reqwest::RequestBuilder) -> Page {
        let response = request.send().await.expect("request");
        let status = response.status();
        let headers = response.headers().clone();
        self.keep_cookies(&headers);
        let body = response.text().await.expect("body");
        Page {
            status,
            headers,
            body,
        }
    }

    pub async fn get(&mut self, path: &str) -> Page {
        let request = self.request(reqwest::Method::GET, path);
        self.finish(request).await
    }

    pub async fn post_form(&mut self, path: &str, fields: &[(&str, &str)]) -> Page {
        let body: String = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(fields)
            .finish();
        let request = self
            .request(reqwest::Method::POST, path)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body);
        self.finish(request).await
    }

    /// Posts `multipart/form-data` as a browser sends a form with a file input.
    pub async fn post_multipart(&mut self, path: &str, parts: &[Part<'_>]) -> Page {
        let boundary = "----digione-test-boundary-7MA4YWxkTrZu0gW";
        let mut body = Vec::new();
        for part in parts {
            body.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
            match part {
                Part::Text(name, value) => {
                    body.extend_from_slice(
                        format!("Content-Disposition: form-data; name=\"{name}\"\r\n\r\n")
                            .as_bytes(),
                    );
                    body.extend_from_slice(value.as_bytes());
                }
                Part::File(name, file_name, media_type, content) => {
                    body.extend_from_slice(
                        format!(
                            "Content-Disposition: form-data; name=\"{name}\"; filename=\"{file_name}\"\r\n\
                             Content-Type: {media_type}\r\n\r\n"
                        )
                        .as_bytes(),
                    );
                    body.extend_from_slice(content);
                }
            }
            body.extend_from_slice(b"\r\n");
        }
        body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
        let request = self
            .request(reqwest::Method::POST, path)
            .header(
                "content-type",
                format!("multipart/form-data; boundary={boundary}"),
            )
            .body(body);
        self.finish(request).await
    }
}

/// One part of a multipart form.
#[derive(Debug)]
pub enum Part<'a> {
    Text(&'a str, &'a str),
    /// Field name, file name, media type, content.
    File(&'a str, &'a str, &'a str, &'a [u8]),
}

/// 7A maths on Mondays 08:15 in the autumn term 2025 (in the node's past, so it may be marked);
/// answers the lesson's id.
pub async fn monday_maths_lesson(school: &TestSchool) -> String {
    let admin = school.login("sari.lehtonen").await;
    let (status, timetable) = admin
        .put(
            "/api/v1/classes/CLS-7A-MA/timetable/TERM-2025-S",
            serde_json::json!({ "lessons": [
                { "weekday": "monday", "start": "08:15", "end": "09:00", "room": "B204", "teacher": "T01" },
            ]}),
        )
        .await;
    assert_eq!(status, 200, "{timetable}");
    timetable["lessons"][0]["id"]
        .as_str()
        .expect("lesson id")
        .to_owned()
}
