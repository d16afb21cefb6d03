//! The shapes of one request's three matrices: A, B and the result C.
//!
//! A sum (`add`, `io`) has three matrices of one shape. A product (`matmul`) has A of r x k,
//! B of k x c and C of r x c: a band is some rows of A and of C, and reads all of B. Storage,
//! memory charges and bands are all sized from these shapes.

use crate::work::Work;

/// Rows and columns of A, B and the result, in that order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shapes {
    pub a: (usize, usize),
    pub b: (usize, usize),
    pub out: (usize, usize),
}

/// Two matrices that cannot be combined by the work asked for.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShapeMismatch {
    #[error("a is {}x{} but b is {}x{}; work={work} needs two matrices of the same shape", .a.0, .a.1, .b.0, .b.1)]
    Sum {
        a: (usize, usize),
        b: (usize, usize),
        work: &'static str,
    },
    #[error(
        "a is {}x{} but b is {}x{}; work=matmul needs b to have as many rows as a has columns ({})",
        .a.0, .a.1, .b.0, .b.1, .a.1
    )]
    Product { a: (usize, usize), b: (usize, usize) },
}

impl Shapes {
    /// A + B, both `rows` x `cols`.
    pub fn sum(rows: usize, cols: usize) -> Self {
        Self {
            a: (rows, cols),
            b: (rows, cols),
            out: (rows, cols),
        }
    }

    /// A·B with A `rows` x `inner` and B `inner` x `cols`.
    pub fn product(rows: usize, inner: usize, cols: usize) -> Self {
        Self {
            a: (rows, inner),
            b: (inner, cols),
            out: (rows, cols),
        }
    }

    /// The shapes of `work` on two generated `n` x `n` matrices.
    pub fn square(work: Work, n: usize) -> Self {
        if work.multiplies() {
            Self::product(n, n, n)
        } else {
            Self::sum(n, n)
        }
    }

    /// The shapes of `work` on posted matrices of shapes `a` and `b`, if they fit together.
    pub fn of(work: Work, a: (usize, usize), b: (usize, usize)) -> Result<Self, ShapeMismatch> {
        match work.multiplies() {
            true if a.1 == b.0 => Ok(Self::product(a.0, a.1, b.1)),
            true => Err(ShapeMismatch::Product { a, b }),
            false if a == b => Ok(Self::sum(a.0, a.1)),
            false => Err(ShapeMismatch::Sum {
                a,
                b,
                work: work.name(),
            }),
        }
    }

    pub fn a_len(&self) -> usize {
        self.a.0 * self.a.1
    }

    pub fn b_len(&self) -> usize {
        self.b.0 * self.b.1
    }

    pub fn out_len(&self) -> usize {
        self.out.0 * self.out.1
    }

    /// Elements of all three matrices: what a request's storage and memory charge hold.
    pub fn elements(&self) -> usize {
        self.a_len() + self.b_len() + self.out_len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_product_takes_its_rows_from_a_and_its_columns_from_b() {
        let shapes = Shapes::of(Work::Matmul, (2, 3), (3, 5)).unwrap();
        assert_eq!(shapes, Shapes::product(2, 3, 5));
        assert_eq!((shapes.a_len(), shapes.b_len(), shapes.out_len()), (6, 15, 10));
        assert_eq!(shapes.elements(), 31);
        assert_eq!(Shapes::square(Work::Matmul, 4).elements(), 48);
        assert_eq!(Shapes::square(Work::Add, 4), Shapes::sum(4, 4));
    }

    #[test]
    fn shapes_that_do_not_fit_are_named_with_the_rule() {
        let err = Shapes::of(Work::Matmul, (2, 3), (2, 3)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "a is 2x3 but b is 2x3; work=matmul needs b to have as many rows as a has columns (3)"
        );
        let err = Shapes::of(Work::Io { wait_ms: 1 }, (2, 3), (3, 2)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "a is 2x3 but b is 3x2; work=io needs two matrices of the same shape"
        );
        assert_eq!(Shapes::of(Work::Add, (2, 3), (2, 3)), Ok(Shapes::sum(2, 3)));
    }
}
