//! The allocator policy both servers run with, so a memory comparison between them is about
//! threads and processes, not about what glibc happens to cache. The crate's only `unsafe` code.

/// Asks glibc to give every large block back to the OS when it is freed.
///
/// By default glibc raises its mmap threshold after the first large free and from then on keeps
/// freed matrices in its heaps (one per thread, up to 8 per core): a server's resident memory
/// grows to the peak of all concurrent requests and stays there. For the forking server that
/// also makes every fork slower, since fork copies page tables in proportion to resident memory.
/// A fixed threshold keeps each large block in its own mapping, unmapped when freed.
///
/// Call it once, at start-up, before other threads exist.
pub fn return_large_frees_to_the_os() {
    const THRESHOLD_BYTES: libc::c_int = 128 * 1024;
    // SAFETY: mallopt only sets allocator parameters, taking glibc's own lock; it is called
    // before the server starts any thread, and touches no Rust-visible memory.
    unsafe { libc::mallopt(libc::M_MMAP_THRESHOLD, THRESHOLD_BYTES) };
}
