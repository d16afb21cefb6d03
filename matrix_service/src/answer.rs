//! The JSON answer to a request whose work succeeded (any kind: add, matmul, io).

use ndarray::ArrayView2;
use serde::ser::{Serialize, SerializeSeq, Serializer};

/// The shape fields: `n` for a generated square, `rows` and `cols` for a posted matrix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(untagged)]
pub enum Shape {
    Square { n: usize },
    Rect { rows: usize, cols: usize },
}

/// The answer to `GET` or `POST` on the endpoint. Keys are part of the lab's contract.
#[derive(Debug, serde::Serialize)]
pub struct Answer<'a> {
    pub status: &'static str,
    pub method: &'static str,
    #[serde(flatten)]
    pub shape: Shape,
    pub workers: usize,
    /// The kind of work: `add` or `io`.
    pub work: &'static str,
    /// For `io`: the request's waiting, spread over its bands.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wait_ms: Option<u64>,
    /// The seed the matrices came from; `null` if none was given (or for `POST`).
    pub seed: Option<u64>,
    /// The parallel addition alone, as in the original lab.
    pub execution_time_sec: f64,
    /// Making the inputs: generating them (`GET`) or decoding the body (`POST`).
    pub generation_time_sec: f64,
    /// From the request's arrival at the handler to the answer being ready.
    pub total_time_sec: f64,
    pub sample: Vec<i64>,
    pub checksum: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub child_pids: Option<&'a [i32]>,
    /// The whole sum, for `POST` only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result: Option<Rows<'a>>,
}

/// Serializes a matrix as an array of row arrays, without copying it.
#[derive(Debug, Clone, Copy)]
pub struct Rows<'a>(pub ArrayView2<'a, i64>);

impl Serialize for Rows<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut rows = serializer.serialize_seq(Some(self.0.nrows()))?;
        for row in self.0.rows() {
            rows.serialize_element(&Row(row))?;
        }
        rows.end()
    }
}

struct Row<'a>(ndarray::ArrayView1<'a, i64>);

impl Serialize for Row<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.iter())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn a_post_answer_has_rows_cols_and_the_result_rows() {
        let sum = array![[1, 2, 3], [4, 5, 6]];
        let answer = Answer {
            status: "ok",
            method: "Multiprocessing",
            shape: Shape::Rect { rows: 2, cols: 3 },
            workers: 2,
            work: "io",
            wait_ms: Some(100),
            seed: None,
            execution_time_sec: 0.5,
            generation_time_sec: 0.25,
            total_time_sec: 1.0,
            sample: vec![1, 2, 3],
            checksum: 21,
            child_pids: Some(&[10, 11]),
            result: Some(Rows(sum.view())),
        };
        let json = serde_json::to_string(&answer).unwrap();
        assert_eq!(
            json,
            r#"{"status":"ok","method":"Multiprocessing","rows":2,"cols":3,"workers":2,"work":"io","wait_ms":100,"seed":null,"execution_time_sec":0.5,"generation_time_sec":0.25,"total_time_sec":1.0,"sample":[1,2,3],"checksum":21,"child_pids":[10,11],"result":[[1,2,3],[4,5,6]]}"#
        );
    }
}
