//! The kinds of work the harness asks the lab servers for (`--work`): the servers' `work`
//! parameter, as a scenario's variable.

use serde::{Deserialize, Serialize};

/// A kind of work, as the servers' `work` parameter names it.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize, clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum WorkKind {
    /// C = A + B, the original lab's job: memory-bound, a fifth of a millisecond at n=500.
    #[default]
    Add,
    /// C = A·B: CPU-bound, O(n³).
    Matmul,
    /// The sum after `--wait-ms` of blocking waiting spread over the bands: IO-bound.
    Io,
}

/// Every kind, in the order reports list them.
pub const ALL_WORK: [WorkKind; 3] = [WorkKind::Add, WorkKind::Matmul, WorkKind::Io];

impl WorkKind {
    pub fn name(self) -> &'static str {
        match self {
            Self::Add => "add",
            Self::Matmul => "matmul",
            Self::Io => "io",
        }
    }

    /// What the kind adds to a lab server's query: nothing for `add` (the servers' default, so
    /// the classic run's URLs stay as they were), `&work=matmul`, or `&work=io&wait_ms=W`.
    pub fn query(self, wait_ms: Option<u32>) -> String {
        match (self, wait_ms) {
            (Self::Add, _) => String::new(),
            (Self::Io, Some(wait)) => format!("&work=io&wait_ms={wait}"),
            (kind, _) => format!("&work={}", kind.name()),
        }
    }

    /// What limits it, for reports.
    pub fn bound(self) -> &'static str {
        match self {
            Self::Add => "memory-bound",
            Self::Matmul => "CPU-bound",
            Self::Io => "IO-bound",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_names_itself_in_the_query_as_the_servers_do() {
        assert_eq!(WorkKind::Add.query(Some(100)), "");
        assert_eq!(WorkKind::Matmul.query(None), "&work=matmul");
        assert_eq!(WorkKind::Io.query(Some(100)), "&work=io&wait_ms=100");
        let names: Vec<_> = ALL_WORK.iter().map(|w| w.name()).collect();
        assert_eq!(names, matrix_service::work::WORK_KINDS, "the servers' kinds, in order");
        assert_eq!(serde_json::to_string(&WorkKind::Matmul).unwrap(), r#""matmul""#);
    }
}
