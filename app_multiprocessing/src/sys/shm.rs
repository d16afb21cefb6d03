//! Memory shared with the pool's workers and the fork-per-request children.
//!
//! Pool workers are different from band children: the first ones are forked while the server
//! still has one thread (before any runtime exists), and replacements are started with a fresh
//! exec of this binary. Either way a worker begins life single-threaded with a clean memory
//! image, so it may allocate and use the standard library like any program.
#![allow(unsafe_code)]

use std::num::NonZeroUsize;
use std::ops::Range;
use std::os::fd::{AsFd, BorrowedFd, FromRawFd, OwnedFd};
use std::ptr::NonNull;
use std::sync::Arc;

use nix::fcntl::{FallocateFlags, fallocate};
use nix::sys::memfd::{MFdFlags, memfd_create};
use nix::sys::mman::{MapFlags, ProtFlags, mmap, munmap};
use nix::unistd::ftruncate;

use matrix_service::matrix::BandSum;

use crate::protocol::BandSpec;

use super::fds::WORKER_MEMORY_FD;

/// Memory shared with the pool's workers: one memfd, mapped `MAP_SHARED` in every process.
///
/// (`MAP_SHARED | MAP_ANONYMOUS` would be shared with forked workers too, but not with a
/// re-executed replacement; a memfd can be handed to both.)
#[derive(Debug)]
pub struct SharedMemory {
    base: NonNull<i64>,
    elements: usize,
    fd: OwnedFd,
}

// SAFETY: the mapping lives as long as the value and is not tied to a thread; every access to
// its contents goes through `SlotMemory` (parent) or `add_band` (worker), whose rules make
// concurrent accesses touch disjoint elements.
unsafe impl Send for SharedMemory {}
// SAFETY: as above; `&SharedMemory` gives no access to the contents by itself.
unsafe impl Sync for SharedMemory {}

impl SharedMemory {
    /// A new memfd of `elements` zeroed `i64`s, mapped shared. Pages are only allocated when
    /// first touched, so a large region costs address space, not memory.
    pub fn create(elements: usize) -> std::io::Result<Self> {
        let fd = memfd_create(c"matrix-lab-pool", MFdFlags::MFD_CLOEXEC)?;
        let bytes = elements.max(1) * size_of::<i64>();
        ftruncate(&fd, bytes as libc::off_t)?;
        Self::map(fd, elements)
    }

    /// The memory a pool worker was started with, on [`WORKER_MEMORY_FD`]. For a worker
    /// process only, once: it takes ownership of that descriptor.
    pub fn inherited() -> std::io::Result<Self> {
        // SAFETY: the pool starts every worker with its memfd on this descriptor (dup2'ed in
        // `worker_fds` or in the re-exec's pre_exec hook) and nothing else in the worker opens or
        // owns it; this is called once, at the start of the worker.
        let fd = unsafe { OwnedFd::from_raw_fd(WORKER_MEMORY_FD) };
        let bytes = nix::sys::stat::fstat(&fd)?.st_size as usize;
        Self::map(fd, bytes / size_of::<i64>())
    }

    fn map(fd: OwnedFd, elements: usize) -> std::io::Result<Self> {
        let length = NonZeroUsize::new(elements.max(1) * size_of::<i64>()).expect("at least one element");
        // SAFETY: a fresh shared mapping of a memfd at an address the kernel picks: it aliases
        // no Rust object. It is unmapped only in `Drop`, after every slice into it is gone
        // (slices borrow from `self`).
        let base = unsafe {
            mmap(
                None,
                length,
                ProtFlags::PROT_READ | ProtFlags::PROT_WRITE,
                MapFlags::MAP_SHARED,
                &fd,
                0,
            )
        }?;
        Ok(Self {
            base: base.cast(),
            elements,
            fd,
        })
    }

    pub fn len(&self) -> usize {
        self.elements
    }

    pub fn is_empty(&self) -> bool {
        self.elements == 0
    }

    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// Gives the pages of `span` back to the OS (they read as zeros afterwards), so one big
    /// request does not leave its memory resident in the pool for good.
    /// Bytes of the memory that hold pages now (the memfd's allocated blocks).
    pub fn allocated_bytes(&self) -> nix::Result<u64> {
        let stat = nix::sys::stat::fstat(&self.fd)?;
        Ok(u64::try_from(stat.st_blocks).unwrap_or(0) * 512)
    }

    pub fn release(&self, span: Range<usize>) -> nix::Result<()> {
        let span = span.start.min(self.elements)..span.end.min(self.elements);
        if span.is_empty() {
            return Ok(());
        }
        let size = size_of::<i64>() as libc::off_t;
        fallocate(
            &self.fd,
            FallocateFlags::FALLOC_FL_PUNCH_HOLE | FallocateFlags::FALLOC_FL_KEEP_SIZE,
            span.start as libc::off_t * size,
            span.len() as libc::off_t * size,
        )
    }

    /// Worker side: runs `band` on the shared memory, into its output span. `None` if a span
    /// is out of bounds, the output overlaps an input, or the lengths do not make one band of
    /// its kernel (a corrupt job).
    pub fn run_band(&self, band: &BandSpec) -> Option<BandSum> {
        let (a, b) = self.input_spans(band)?;
        let out = self.span_of(band.out, band.out_len)?;
        let overlaps = |x: &Range<usize>| x.start < out.end && out.start < x.end;
        if !out.is_empty() && (overlaps(&a) || overlaps(&b)) {
            return None;
        }
        // SAFETY: the spans are in bounds (checked above) and the output overlaps neither
        // input. By the pool's protocol the parent hands this band to this worker alone and
        // neither writes the inputs nor touches the output until the worker's Done message
        // (or its death), so nothing else accesses these elements while the slices live.
        let (a, b, out) = unsafe {
            (
                std::slice::from_raw_parts(self.base.as_ptr().add(a.start), a.len()),
                std::slice::from_raw_parts(self.base.as_ptr().add(b.start), b.len()),
                std::slice::from_raw_parts_mut(self.base.as_ptr().add(out.start), out.len()),
            )
        };
        Some(band.kernel.run(a, b, out))
    }

    /// Fork-server side: a band's inputs, to hand to the child forked for it. `None` if either
    /// is out of bounds or the lengths do not make one band of its kernel (a corrupt request).
    pub fn band_inputs(&self, band: &BandSpec) -> Option<(&[i64], &[i64])> {
        let (a, b) = self.input_spans(band)?;
        // SAFETY: both spans are in bounds (checked above). The server writes a request's
        // inputs before it asks for the request's children and not again until it has reaped
        // them, so nothing writes these elements while the child (the only reader) runs.
        Some(unsafe {
            (
                std::slice::from_raw_parts(self.base.as_ptr().add(a.start), a.len()),
                std::slice::from_raw_parts(self.base.as_ptr().add(b.start), b.len()),
            )
        })
    }

    /// The spans of a band's A and B, if in bounds and of lengths that fit its kernel.
    fn input_spans(&self, band: &BandSpec) -> Option<(Range<usize>, Range<usize>)> {
        let (a, b) = (self.span_of(band.a, band.a_len)?, self.span_of(band.b, band.b_len)?);
        let out_len = usize::try_from(band.out_len).ok()?;
        band.kernel.fits(a.len(), b.len(), out_len).then_some((a, b))
    }

    /// The span a message names, if in bounds.
    fn span_of(&self, start: u64, len: u64) -> Option<Range<usize>> {
        self.span(usize::try_from(start).ok()?, usize::try_from(len).ok()?)
    }

    /// Where `elements` start in this memory, if they lie wholly inside it: the offset a
    /// request to the fork server names them by.
    pub fn offset_of(&self, elements: &[i64]) -> Option<usize> {
        let base = self.base.as_ptr() as usize;
        let start = (elements.as_ptr() as usize).checked_sub(base)? / size_of::<i64>();
        self.span(start, elements.len()).map(|span| span.start)
    }

    /// Elements `start..start + len`, if in bounds.
    fn span(&self, start: usize, len: usize) -> Option<Range<usize>> {
        start
            .checked_add(len)
            .filter(|end| *end <= self.elements)
            .map(|end| start..end)
    }

    /// Parent side: the memory cut into `count` disjoint slots of `each` elements. Call once:
    /// every slot is the only handle to its elements in this process.
    pub fn into_slots(self: &Arc<Self>, count: usize, each: usize) -> Vec<SlotMemory> {
        assert!(count * each <= self.elements, "the slots fit the memory");
        (0..count)
            .map(|i| SlotMemory {
                memory: Arc::clone(self),
                start: i * each,
                len: each,
                lent: 0,
            })
            .collect()
    }
}

impl Drop for SharedMemory {
    fn drop(&mut self) {
        let length = self.elements.max(1) * size_of::<i64>();
        // SAFETY: `base` is this value's own mapping of `length` bytes, and no slice into it
        // outlives `self` (every accessor borrows from `self` or holds an `Arc` of it).
        let _ = unsafe { munmap(self.base.cast(), length) };
    }
}

/// One request's share of the pool's memory: the parent's exclusive handle to `len` elements.
///
/// While bands of it are lent to workers (between a job and its Done, or the worker's death)
/// the parent must not look at it: the accessors check that nothing is lent, so a mistake in
/// the pool's bookkeeping is a panic (a 500) rather than a data race with another process.
#[derive(Debug)]
pub struct SlotMemory {
    memory: Arc<SharedMemory>,
    start: usize,
    len: usize,
    lent: usize,
}

impl SlotMemory {
    /// Where the slot starts in the shared memory, in elements: jobs name absolute offsets.
    pub fn start(&self) -> usize {
        self.start
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Bands lent to workers and not yet given back.
    pub fn lent(&self) -> usize {
        self.lent
    }

    /// Records a band lent to a worker.
    pub fn lend(&mut self) {
        self.lent += 1;
    }

    /// Records a band given back: its worker sent Done, or is dead and reaped.
    pub fn give_back(&mut self) {
        self.lent = self.lent.checked_sub(1).expect("only lent bands come back");
    }

    /// The elements `span` (relative to the slot).
    pub fn elements(&self, span: Range<usize>) -> &[i64] {
        let span = self.checked(span);
        // SAFETY: `checked` keeps the span inside this slot, which no other slot overlaps, and
        // asserts no band is lent, so no worker writes here while the shared borrow lives.
        unsafe { std::slice::from_raw_parts(self.memory.base.as_ptr().add(span.start), span.len()) }
    }

    /// Two disjoint spans (relative to the slot), writable.
    pub fn two_mut(&mut self, first: Range<usize>, second: Range<usize>) -> (&mut [i64], &mut [i64]) {
        let (first, second) = (self.checked(first), self.checked(second));
        assert!(
            first.end <= second.start || second.end <= first.start,
            "the spans are disjoint"
        );
        let base = self.memory.base.as_ptr();
        // SAFETY: both spans lie inside this slot (checked), do not overlap each other
        // (asserted), and no band is lent (checked), so these are the only references to those
        // elements in any process while the `&mut self` borrow lives.
        unsafe {
            (
                std::slice::from_raw_parts_mut(base.add(first.start), first.len()),
                std::slice::from_raw_parts_mut(base.add(second.start), second.len()),
            )
        }
    }

    /// The slot's first three spans, of `lens` elements (A, B and the result, one after the
    /// other): the first two to read, the third to write.
    pub fn three(&mut self, (a_len, b_len, out_len): (usize, usize, usize)) -> (&[i64], &[i64], &mut [i64]) {
        let whole = self.checked(0..a_len + b_len + out_len);
        let base = self.memory.base.as_ptr();
        // SAFETY: the three spans lie inside this slot (checked), do not overlap, and no band is
        // lent (checked), so these are the only references to those elements in this process
        // while the `&mut self` borrow lives; children forked meanwhile only read A and B.
        unsafe {
            let a = base.add(whole.start);
            (
                std::slice::from_raw_parts(a, a_len),
                std::slice::from_raw_parts(a.add(a_len), b_len),
                std::slice::from_raw_parts_mut(a.add(a_len + b_len), out_len),
            )
        }
    }

    /// Frees the slot's pages from element `keep` on (relative), keeping the first ones
    /// resident for the next request.
    pub fn release_beyond(&self, keep: usize) -> nix::Result<()> {
        self.memory
            .release(self.start + keep.min(self.len)..self.start + self.len)
    }

    fn checked(&self, span: Range<usize>) -> Range<usize> {
        assert_eq!(self.lent, 0, "no band of the slot is lent to a worker");
        assert!(
            span.start <= span.end && span.end <= self.len,
            "the span lies in the slot"
        );
        self.start + span.start..self.start + span.end
    }
}
