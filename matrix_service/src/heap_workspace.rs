//! A request's matrices on the heap, in buffers reused across requests: the storage of engines
//! whose workers see the server's own memory (threads).

use std::sync::Arc;

use crate::buffers::BufferPool;
use crate::engine::Workspace;
use crate::shapes::Shapes;

/// A request's three matrices in buffers from a [`BufferPool`], given back when dropped: the
/// workspace of engines whose workers see the server's own memory.
#[derive(Debug)]
pub struct HeapWorkspace {
    a: Vec<i64>,
    b: Vec<i64>,
    result: Vec<i64>,
    shapes: Shapes,
    pool: Arc<BufferPool>,
}

impl HeapWorkspace {
    /// A workspace that holds `a` and `b` themselves (of `shapes`), with no copy: for posted
    /// matrices, already parsed into buffers of `pool`'s.
    pub fn with_inputs(a: Vec<i64>, b: Vec<i64>, shapes: Shapes, pool: &Arc<BufferPool>) -> Self {
        assert_eq!(
            (a.len(), b.len()),
            (shapes.a_len(), shapes.b_len()),
            "a and b have the request's shapes"
        );
        Self {
            a,
            b,
            result: pool.take(shapes.out_len()),
            shapes,
            pool: Arc::clone(pool),
        }
    }

    pub fn new(shapes: Shapes, pool: &Arc<BufferPool>) -> Self {
        Self::with_inputs(pool.take(shapes.a_len()), pool.take(shapes.b_len()), shapes, pool)
    }

    /// The inputs to read and the result to write, borrowed at once.
    pub fn split(&mut self) -> (&[i64], &[i64], &mut [i64]) {
        (&self.a, &self.b, &mut self.result)
    }
}

impl Workspace for HeapWorkspace {
    fn shapes(&self) -> Shapes {
        self.shapes
    }

    fn inputs_mut(&mut self) -> (&mut [i64], &mut [i64]) {
        (&mut self.a, &mut self.b)
    }

    fn result(&self) -> &[i64] {
        &self.result
    }
}

impl Drop for HeapWorkspace {
    fn drop(&mut self) {
        for buffer in [&mut self.a, &mut self.b, &mut self.result] {
            self.pool.give(std::mem::take(buffer));
        }
    }
}
