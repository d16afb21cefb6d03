//! What both lab servers share.
//!
//! `app_threading` and `app_multiprocessing` differ in the [`Engine`] that runs a request's
//! bands in parallel, and in the words of their [`Endpoint`]. Everything around them lives here,
//! once: request parameters and their limits ([`params`], [`body`]), the kinds of work
//! ([`work`]) and the shapes of their matrices ([`shapes`]), seeded matrices and the addition
//! kernel ([`matrix`]), the product kernels ([`matmul`]), what a band computes ([`task`]),
//! splitting rows into bands ([`bands`]), reusing matrix buffers on the heap
//! ([`buffers`], [`heap_workspace`]), the JSON answers and errors ([`answer`], [`error`]),
//! the bound on live workers ([`admission`]), the budget for request memory ([`memory_budget`]),
//! receiving a body ([`upload`]), the routes ([`http`]) and start-up ([`server`]),
//! the allocator policy both run with ([`memory`]), and running a server binary from another
//! program ([`launch`]).

pub mod admission;
pub mod answer;
pub mod background;
pub mod bands;
pub mod body;
pub mod buffers;
pub mod endpoint;
pub mod engine;
pub mod error;
pub mod heap_workspace;
pub mod http;
pub mod launch;
pub mod matmul;
pub mod matrix;
pub mod memory;
pub mod memory_budget;
pub mod metrics;
pub mod params;
pub mod server;
pub mod shapes;
pub mod task;
#[cfg(feature = "testing")]
pub mod testing;
pub mod trace;
pub mod upload;
pub mod work;
pub mod work_error;

pub use buffers::BufferPool;
pub use endpoint::Endpoint;
pub use engine::{Computed, Engine, WorkError, Workspace};
pub use heap_workspace::HeapWorkspace;
pub use matrix::Matrix;
pub use server::{CommonArgs, ServerConfig, serve};
pub use shapes::Shapes;
pub use task::{Band, Kernel, Operands, Task};
pub use work::{Work, WorkKind};
