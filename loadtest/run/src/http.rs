//! A small blocking HTTP client for the checks around the load (readiness, verification,
//! probes); the load itself always comes from oha.

use std::time::Duration;

use anyhow::Context;
use serde_json::Value;

/// Sends GETs with a timeout and reads JSON answers, whatever their status.
pub struct Client {
    agent: ureq::Agent,
}

impl Client {
    pub fn new(timeout: Duration) -> Self {
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(timeout))
            .build();
        Self { agent: config.into() }
    }

    /// `GET url`: the status and the body parsed as JSON (`Value::Null` if it is not JSON).
    pub fn get_json(&self, url: &str) -> anyhow::Result<(u16, Value)> {
        let (status, body) = self.get_text(url)?;
        Ok((status, serde_json::from_str(&body).unwrap_or(Value::Null)))
    }

    /// `GET url`: the status and the body as text (ureq's 10 MB limit).
    pub fn get_text(&self, url: &str) -> anyhow::Result<(u16, String)> {
        self.get_text_up_to(url, 10 << 20)
    }

    /// `GET url`: the status and the body as text, of at most `limit` bytes.
    pub fn get_text_up_to(&self, url: &str, limit: u64) -> anyhow::Result<(u16, String)> {
        let mut response = self.agent.get(url).call().with_context(|| format!("GET {url}"))?;
        let status = response.status().as_u16();
        let body = (response.body_mut().with_config().limit(limit))
            .read_to_string()
            .with_context(|| format!("reading the answer to GET {url}"))?;
        Ok((status, body))
    }
}
