//! A request's matrices on the heap, in buffers reused across requests: the storage of engines
//! whose workers see the server's own memory (threads).

use std::sync::Arc;

use crate::buffers::BufferPool;
use crate::engine::Workspace;
use crate::matrix::Operands;

/// A request's three matrices in buffers from a [`BufferPool`], given back when dropped: the
/// workspace of engines whose workers see the server's own memory (threads, forked children).
#[derive(Debug)]
pub struct HeapWorkspace {
    a: Vec<i64>,
    b: Vec<i64>,
    sum: Vec<i64>,
    rows: usize,
    cols: usize,
    pool: Arc<BufferPool>,
}

impl HeapWorkspace {
    /// A workspace that holds `a` and `b` themselves (`rows * cols` elements each), with no copy:
    /// for posted matrices, already parsed into buffers of `pool`'s.
    pub fn with_inputs(a: Vec<i64>, b: Vec<i64>, rows: usize, cols: usize, pool: &Arc<BufferPool>) -> Self {
        assert_eq!(
            (a.len(), b.len()),
            (rows * cols, rows * cols),
            "a and b are rows x cols"
        );
        Self {
            a,
            b,
            sum: pool.take(rows * cols),
            rows,
            cols,
            pool: Arc::clone(pool),
        }
    }

    pub fn new(rows: usize, cols: usize, pool: &Arc<BufferPool>) -> Self {
        let len = rows * cols;
        Self {
            a: pool.take(len),
            b: pool.take(len),
            sum: pool.take(len),
            rows,
            cols,
            pool: Arc::clone(pool),
        }
    }

    /// The inputs to read and the sum to write, borrowed at once.
    pub fn split(&mut self) -> (Operands<'_>, &mut [i64]) {
        (Operands::new(&self.a, &self.b, self.cols), &mut self.sum)
    }
}

impl Workspace for HeapWorkspace {
    fn shape(&self) -> (usize, usize) {
        (self.rows, self.cols)
    }

    fn inputs_mut(&mut self) -> (&mut [i64], &mut [i64]) {
        (&mut self.a, &mut self.b)
    }

    fn sum(&self) -> &[i64] {
        &self.sum
    }
}

impl Drop for HeapWorkspace {
    fn drop(&mut self) {
        for buffer in [&mut self.a, &mut self.b, &mut self.sum] {
            self.pool.give(std::mem::take(buffer));
        }
    }
}
