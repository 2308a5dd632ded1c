//! A client of the daemon's local API for the `api_*` scenarios: the `[api]` table that turns
//! it on (a fresh token in a 0600 file, a free loopback port), plain requests with or without
//! the token, and waiting for `/health` to turn red for a part or green again.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result, ensure};
use serde_json::Value;

use crate::support::{free_port, poll_until};

/// How long a health change may take to show (the outbox monitor and the store watch look
/// every few seconds; a broker reconnect backs off).
pub const HEALTH_WAIT: Duration = Duration::from_secs(90);

pub struct ApiClient {
    http: reqwest::Client,
    root: String,
    pub token: String,
    /// The `[api]` table that enables it, to append to a daemon config.
    pub table: String,
}

/// An answer: status, whether it carried `WWW-Authenticate: Bearer …`, and the body as JSON
/// (`Value::Null` when it was not JSON; `text` keeps it).
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub bearer_challenge: bool,
    pub body: Value,
    pub text: String,
}

impl ApiClient {
    /// A token in `dir/api-token` and a free port; the audit names it `api:<token_name>`.
    pub fn new(dir: &Path, token_name: &str) -> Result<ApiClient> {
        let token: String = (0..32).map(|_| fastrand::alphanumeric()).collect();
        let file = dir.join("api-token");
        std::fs::write(&file, format!("{token}\n"))?;
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600))?;
        let port = free_port()?;
        let table = format!(
            "\n[api]\nlisten = \"127.0.0.1:{port}\"\ntoken_file = \"{}\"\ntoken_name = \"{token_name}\"\n",
            file.display()
        );
        Ok(ApiClient {
            http: reqwest::Client::builder().no_proxy().build()?,
            root: format!("http://127.0.0.1:{port}"),
            token,
            table,
        })
    }

    /// Appends the `[api]` table to the config file at `config`.
    pub fn enable(&self, config: &Path) -> Result<()> {
        let text = std::fs::read_to_string(config)?;
        std::fs::write(config, format!("{text}{}", self.table))?;
        Ok(())
    }

    pub async fn get(&self, path: &str) -> Result<Answer> {
        answer(self.http.get(format!("{}{path}", self.root))).await
    }

    /// POSTs `body` (JSON) to `path`, with the token when `token`.
    pub async fn post(&self, path: &str, body: &Value, token: bool) -> Result<Answer> {
        let auth = token.then(|| format!("Bearer {}", self.token));
        self.post_as(path, body, auth.as_deref()).await
    }

    /// POSTs `body` with `Authorization: <auth>` (none when `None`).
    pub async fn post_as(&self, path: &str, body: &Value, auth: Option<&str>) -> Result<Answer> {
        let mut req = (self.http.post(format!("{}{path}", self.root)))
            .header("content-type", "application/json")
            .body(body.to_string());
        if let Some(a) = auth {
            req = req.header("authorization", a);
        }
        answer(req).await
    }

    /// Waits until `GET /health` answers 503 naming `part` with a problem containing `text`;
    /// every reason must have a part, a sentence and an RFC 3339 since. Returns that reason.
    pub async fn wait_red(&self, part: &str, text: &str) -> Result<Value> {
        let what = format!("/health red for {part} ({text})");
        poll_until(&what, HEALTH_WAIT, async || {
            let a = self.get("/health").await?;
            check_reasons(&a)?;
            let found = (a.body["problems"].as_array().into_iter().flatten())
                .find(|p| {
                    p["part"] == part && p["problem"].as_str().is_some_and(|t| t.contains(text))
                })
                .cloned();
            match found {
                Some(reason) => {
                    ensure!(a.status == 503 && a.body["healthy"] == false, "{a:?}");
                    Ok(Some(reason))
                }
                None => Ok(None),
            }
        })
        .await
    }

    /// Waits until `GET /health` answers 200 with no problem at all.
    pub async fn wait_green(&self) -> Result<()> {
        poll_until("/health green", HEALTH_WAIT, async || {
            let a = self.get("/health").await?;
            check_reasons(&a)?;
            let none = a.body["problems"].as_array().is_some_and(Vec::is_empty);
            ensure!(
                none == (a.status == 200) && none == (a.body["healthy"] == true),
                "the status and the reasons disagree: {a:?}"
            );
            Ok(none.then_some(()))
        })
        .await
    }
}

/// Every reason of a health answer has a part, a sentence and a since (RFC 3339).
fn check_reasons(a: &Answer) -> Result<()> {
    ensure!(a.status == 200 || a.status == 503, "GET /health: {a:?}");
    let problems = a.body["problems"].as_array().context("no problems list")?;
    for p in problems {
        let sentence = p["problem"].as_str().unwrap_or("");
        let since = p["since"].as_str().unwrap_or("");
        ensure!(
            p["part"].as_str().is_some_and(|s| !s.is_empty())
                && sentence.len() > 10
                && chrono::DateTime::parse_from_rfc3339(since).is_ok(),
            "a reason without part, sentence or since: {p}"
        );
    }
    Ok(())
}

async fn answer(req: reqwest::RequestBuilder) -> Result<Answer> {
    let resp = req.send().await.context("API request")?;
    let bearer_challenge = (resp.headers().get("www-authenticate"))
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("Bearer"));
    let status = resp.status().as_u16();
    let text = resp.text().await?;
    let body = serde_json::from_str(&text).unwrap_or(Value::Null);
    Ok(Answer {
        status,
        bearer_challenge,
        body,
        text,
    })
}
