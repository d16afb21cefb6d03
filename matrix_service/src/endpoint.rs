//! A server's words: its endpoint's name, the answer's `method`, and its page's title and
//! description. They belong to the server (both of `app_multiprocessing`'s strategies answer on
//! `/multiprocessing` as `"Multiprocessing"`), not to the engine that computes.

use crate::params::Limits;
use crate::work::{DEFAULT_WAIT_MS, MAX_WAIT_MS, WorkKind};

/// What a server calls its endpoint and how its page describes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Endpoint {
    /// The path segment, such as `"threading"` for `/threading`.
    pub name: &'static str,
    /// The answer's `method` field, such as `"Multithreading"`.
    pub method: &'static str,
    /// The index page's title.
    pub title: &'static str,
    /// One paragraph for the index page: what this server does and how (HTML).
    pub description: &'static str,
}

impl Endpoint {
    /// The endpoint's path, such as `/threading`.
    pub fn path(&self) -> String {
        format!("/{}", self.name)
    }

    /// The `GET /` page: a form that calls the endpoint, with the server's limits filled in.
    pub fn render_page(&self, limits: &Limits) -> String {
        include_str!("index.html")
            .replace("{{TITLE}}", self.title)
            .replace("{{DESCRIPTION}}", self.description)
            .replace("{{PATH}}", &self.path())
            .replace("{{WORKERS}}", &limits.default_workers.to_string())
            .replace("{{MAX_N}}", &limits.max_n.to_string())
            .replace("{{MAX_WORKERS}}", &limits.max_workers.to_string())
            .replace("{{WORK_OPTIONS}}", &work_options())
            .replace("{{MAX_WAIT_MS}}", &MAX_WAIT_MS.to_string())
            .replace("{{DEFAULT_WAIT_MS}}", &DEFAULT_WAIT_MS.to_string())
    }
}

/// `http://` and the `Host` the page was asked for, for the page's curl example; a host that is
/// not a plain name, address and port (it is the client's text) is not echoed.
pub fn origin(host: &str) -> String {
    let plain = !host.is_empty()
        && (host.chars()).all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'));
    if plain {
        format!("http://{host}")
    } else {
        "http://HOST:PORT".to_owned()
    }
}

/// The `<option>`s of the page's `work` menu, the default first.
fn work_options() -> String {
    WorkKind::ALL
        .map(|kind| format!(r#"<option value="{0}">{0}</option>"#, kind.name()))
        .into_iter()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::origin;

    #[test]
    fn the_curl_example_names_the_host_the_visitor_used() {
        assert_eq!(origin("127.0.0.1:8000"), "http://127.0.0.1:8000");
        assert_eq!(origin("[::1]:8001"), "http://[::1]:8001");
        assert_eq!(origin("lab.example"), "http://lab.example");
        // The Host header is the client's text: anything but a plain host is not echoed.
        assert_eq!(origin("a\"><script>"), "http://HOST:PORT");
        assert_eq!(origin(""), "http://HOST:PORT");
    }
}
