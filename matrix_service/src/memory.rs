//! The allocator policy both servers run with, so a comparison between them is about threads and
//! processes, not about what glibc happens to cache. The crate's only `unsafe` code.
#![allow(unsafe_code)]

/// Sets glibc's allocator up for the lab's servers:
///
/// - **Every large block goes back to the OS when it is freed.** By default glibc raises its
///   mmap threshold after the first large free and from then on keeps freed matrices in its
///   heaps: a server's resident memory grows to the peak of all concurrent requests and stays
///   there. For the forking server that also makes every fork slower, since fork copies page
///   tables in proportion to resident memory. A fixed threshold keeps each large block in its
///   own mapping, unmapped when freed.
/// - **One heap (arena) for all threads**, not glibc's default of up to 8 per core. A fork
///   write-protects every private page of the server, and right after it glibc unlocks each
///   arena's mutex in the parent: one copy-on-write fault per arena, and, since the server's
///   other threads run on the other CPUs, one TLB shootdown (an inter-processor interrupt) each,
///   for each of a request's forks. Measured with `oha -z 5s -c 20` at n=500 (alternating
///   runs, same build, `GLIBC_TUNABLES=glibc.malloc.arena_max=1` against the default): the
///   fork-per-request server went from 318 and 302 req/s to 359 and 382, its CPU per request
///   from 5.8 and 6.1 ms to 5.1 and 4.7; the threads server moved within noise (1896 and 1807
///   req/s to 1965 and 1848). The hot paths reuse their buffers and allocate little, so the
///   threads hardly contend for the one heap.
///
/// Call it once, at start-up, before other threads exist.
pub fn set_allocator_policy() {
    const THRESHOLD_BYTES: libc::c_int = 128 * 1024;
    // SAFETY: mallopt only sets allocator parameters, taking glibc's own lock; it is called
    // before the server starts any thread, and touches no Rust-visible memory.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, THRESHOLD_BYTES);
        libc::mallopt(libc::M_ARENA_MAX, 1);
    }
}
