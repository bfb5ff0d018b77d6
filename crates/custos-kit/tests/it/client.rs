//! A person's browser, as far as HTTP goes: a cookie jar, no automatic
//! redirects (tests look at each 303), and the CSRF token of the last form
//! seen.

use std::sync::Arc;

use reqwest::cookie::{CookieStore, Jar};
use reqwest::header::{HeaderMap, ORIGIN};
use reqwest::redirect::Policy;
use reqwest::StatusCode;

pub(crate) struct Client {
    http: reqwest::Client,
    jar: Arc<Jar>,
    pub(crate) base: String,
}

/// A response, read whole.
#[derive(Debug)]
pub(crate) struct Answer {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: String,
}

impl Answer {
    /// Where a redirect goes.
    pub(crate) fn location(&self) -> &str {
        self.headers.get("location").map_or("", |value| value.to_str().unwrap())
    }

    /// Every `Set-Cookie` of the response.
    pub(crate) fn set_cookies(&self) -> Vec<&str> {
        self.headers.get_all("set-cookie").iter().map(|value| value.to_str().unwrap()).collect()
    }

    /// The value of the page's (first) `csrf_token` field.
    pub(crate) fn csrf(&self) -> String {
        let marker = r#"name="csrf_token" value=""#;
        let start = self.body.find(marker).unwrap_or_else(|| panic!("no CSRF field in:\n{}", self.body)) + marker.len();
        let end = self.body[start..].find('"').unwrap() + start;
        self.body[start..end].to_owned()
    }

    #[track_caller]
    pub(crate) fn assert(&self, status: StatusCode) -> &Answer {
        assert_eq!(self.status, status, "body:\n{}", self.body);
        self
    }

    #[track_caller]
    pub(crate) fn assert_redirect(&self, location: &str) -> &Answer {
        assert_eq!(self.status, StatusCode::SEE_OTHER, "body:\n{}", self.body);
        assert_eq!(self.location(), location);
        self
    }

    #[track_caller]
    pub(crate) fn assert_contains(&self, text: &str) -> &Answer {
        assert!(self.body.contains(text), "{text:?} not in:\n{}", self.body);
        self
    }
}

impl Client {
    pub(crate) fn new(base: &str) -> Client {
        Client::sharing(base, Arc::new(Jar::default()))
    }

    /// A client of `base` with the cookie jar of another (the same browser).
    pub(crate) fn sharing(base: &str, jar: Arc<Jar>) -> Client {
        let http = reqwest::Client::builder().cookie_provider(jar.clone()).redirect(Policy::none()).build().unwrap();
        Client { http, jar, base: base.to_owned() }
    }

    pub(crate) fn jar(&self) -> Arc<Jar> {
        self.jar.clone()
    }

    /// The cookies this client would send to its service.
    pub(crate) fn cookies(&self) -> String {
        let url = self.base.parse().unwrap();
        self.jar.cookies(&url).map(|value| value.to_str().unwrap().to_owned()).unwrap_or_default()
    }

    fn url(&self, path: &str) -> String {
        if path.starts_with("http") {
            path.to_owned()
        } else {
            format!("{}{path}", self.base)
        }
    }

    async fn read(response: reqwest::Response) -> Answer {
        let status = response.status();
        let headers = response.headers().clone();
        let body = response.text().await.unwrap();
        Answer { status, headers, body }
    }

    pub(crate) async fn get(&self, path: &str) -> Answer {
        Client::read(self.http.get(self.url(path)).send().await.unwrap()).await
    }

    /// Posts `fields` as a browser would from a page of the service.
    pub(crate) async fn post(&self, path: &str, fields: &[(&str, &str)]) -> Answer {
        self.post_from(path, fields, &self.base).await
    }

    /// Posts `fields` with `Origin: origin`.
    pub(crate) async fn post_from(&self, path: &str, fields: &[(&str, &str)], origin: &str) -> Answer {
        let request = self.http.post(self.url(path)).header(ORIGIN, origin).form(fields);
        Client::read(request.send().await.unwrap()).await
    }

    /// Posts a body that is not a form.
    pub(crate) async fn post_raw(&self, path: &str, content_type: &str, body: &str) -> Answer {
        let request = self.http.post(self.url(path)).header("content-type", content_type).body(body.to_owned());
        Client::read(request.send().await.unwrap()).await
    }

    /// Sets a password through `link` (absolute) and follows to the home page.
    pub(crate) async fn set_password(&self, link: &str, password: &str) -> Answer {
        let form = self.get(link).await;
        form.assert(StatusCode::OK);
        let csrf = form.csrf();
        let answer =
            self.post(link, &[("csrf_token", &csrf), ("password", password), ("confirm_password", password)]).await;
        answer.assert_redirect("/");
        answer
    }

    /// Signs in through `/login` (asked to go on to `next` when given).
    pub(crate) async fn sign_in(&self, email: &str, password: &str, next: Option<&str>) -> Answer {
        let path = match next {
            Some(next) => format!("/login?next={}", urlencode(next)),
            None => "/login".to_owned(),
        };
        let form = self.get(&path).await;
        form.assert(StatusCode::OK);
        let csrf = form.csrf();
        self.post(&path, &[("csrf_token", &csrf), ("email", email), ("password", password)]).await
    }

    /// Signs out through the form of `page`.
    pub(crate) async fn sign_out(&self) -> Answer {
        let page = self.get("/keys").await;
        page.assert(StatusCode::OK);
        self.post("/logout", &[("csrf_token", &page.csrf())]).await
    }
}

pub(crate) fn urlencode(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}
