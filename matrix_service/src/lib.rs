//! What both lab servers share.
//!
//! `app_threading` and `app_multiprocessing` differ in one thing only, the [`AddEngine`] that
//! adds two matrices in parallel. Everything around it lives here, once: request parameters and
//! their limits ([`params`], [`body`]), seeded matrices and the addition kernel ([`matrix`]),
//! splitting rows into bands ([`bands`]), reusing matrix buffers ([`buffers`]), the JSON answers and errors ([`answer`], [`error`]),
//! the bound on live workers ([`admission`]), the budget for request memory ([`memory_budget`]),
//! receiving a body ([`upload`]), the routes ([`http`]) and start-up ([`server`]),
//! the allocator policy both run with ([`memory`]), and running a server binary from another
//! program ([`launch`]).

pub mod admission;
pub mod answer;
pub mod bands;
pub mod body;
pub mod buffers;
pub mod engine;
pub mod error;
pub mod http;
pub mod launch;
pub mod matrix;
pub mod memory;
pub mod memory_budget;
pub mod params;
pub mod server;
#[cfg(feature = "testing")]
pub mod testing;
pub mod upload;

pub use buffers::{BufferPool, HeapWorkspace};
pub use engine::{AddEngine, AddError, Addition, Workspace};
pub use matrix::{Matrix, Operands};
pub use server::{CommonArgs, ServerConfig, serve};
