//! Every `unsafe` operation of this crate, and the whole life of a forked child, split by
//! concern: [`child`] (what a band child runs, from fork to `_exit`), [`fork`] (forking band
//! children and single-threaded helpers), [`fds`] (the descriptors a child or worker keeps, and
//! descriptors passed over a socket), [`reap`] (`wait4`, a child's status with its CPU), [`shm`] (memory shared with children and workers) and
//! [`signals`]. It is the only place in the crate the workspace lints allow `unsafe` in.
//!
//! Why each rule exists, and the pitfalls the tests check: `docs/multiprocessing.md`.

pub mod child;
pub mod fds;
pub mod fork;
pub mod reap;
pub mod shm;
pub mod signals;

pub use child::{BAND_CHILD_NAME, BandTask, MAX_RESULT_COLS, write_all};
pub use fds::{WORKER_MEMORY_FD, close_all_fds_but, close_stray_fds, pass_worker_memory, receive_with_fds};
pub use fork::{
    fork_band_child, fork_band_child_for_parent, fork_exiting_child, fork_pool_worker, fork_single_threaded,
    thread_count,
};
pub use reap::{Reaped, wait_with_usage};
pub use shm::{SharedMemory, SlotMemory};
pub use signals::{ignore_stop_signals, interrupt_on, signal_own_thread, signals_handled};
