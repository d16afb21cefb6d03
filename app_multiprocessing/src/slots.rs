//! Request-sized slots of memory shared with worker processes, and the workspace a request
//! holds one of.
//!
//! Both process engines keep a request's matrices here rather than on the heap. The pool's
//! workers (started once) map the same memfd; children forked per request inherit the mapping.
//! Because the mapping is shared rather than private, a fork neither copies its page tables nor
//! write-protects it: the server's later writes to it (the next request's matrices) take no
//! copy-on-write faults and no TLB shootdowns, however many children are alive.

use std::sync::{Arc, Mutex, PoisonError};

use matrix_service::{Operands, Workspace};

use crate::sys::{SharedMemory, SlotMemory};

/// Free slots of one shared memory region.
#[derive(Debug)]
pub struct SlotPool {
    memory: Arc<SharedMemory>,
    free: Mutex<Vec<SlotMemory>>,
    count: usize,
    slot_elements: usize,
    resident_elements: usize,
}

impl SlotPool {
    /// `count` slots of `slot_elements` elements (room for A, B and the sum of the largest
    /// request); after a request, each keeps `resident_elements` resident and gives the rest
    /// of its pages back to the OS.
    pub fn new(count: usize, slot_elements: usize, resident_elements: usize) -> std::io::Result<Self> {
        let memory = Arc::new(SharedMemory::create(count * slot_elements)?);
        let free = memory.into_slots(count, slot_elements);
        Ok(Self {
            memory,
            free: Mutex::new(free),
            count,
            slot_elements,
            resident_elements,
        })
    }

    pub fn memory(&self) -> &SharedMemory {
        &self.memory
    }

    /// A request's workspace for `rows` x `cols` matrices, or why there is none now.
    pub fn workspace(self: &Arc<Self>, rows: usize, cols: usize) -> Result<SlotWorkspace, String> {
        assert!(
            3 * rows * cols <= self.slot_elements,
            "the server's limits keep every request within a slot"
        );
        let slot = self.lock().pop().ok_or_else(|| {
            format!(
                "all {} shared-memory slots are in use (--max-active-requests)",
                self.count
            )
        })?;
        Ok(SlotWorkspace {
            slot: Some(slot),
            rows,
            cols,
            slots: Arc::clone(self),
        })
    }

    /// Takes a slot back after its request; frees its pages beyond the resident size.
    fn give(&self, slot: SlotMemory) {
        if slot.lent() > 0 {
            // A killed worker may still write here until it is reaped: never reuse.
            tracing::error!(
                start = slot.start(),
                "a killed worker was not reaped in time; its memory slot is retired"
            );
            return;
        }
        if let Err(e) = slot.release_beyond(self.resident_elements) {
            tracing::warn!("could not return a slot's pages to the OS: {e}");
        }
        self.lock().push(slot);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<SlotMemory>> {
        self.free.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A request's slot: A, then B, then the sum, `rows * cols` elements each.
pub struct SlotWorkspace {
    slot: Option<SlotMemory>,
    rows: usize,
    cols: usize,
    slots: Arc<SlotPool>,
}

impl SlotWorkspace {
    /// Elements per matrix.
    pub fn len(&self) -> usize {
        self.rows * self.cols
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn slot_mut(&mut self) -> &mut SlotMemory {
        self.slot.as_mut().expect("a workspace holds its slot until dropped")
    }

    fn slot(&self) -> &SlotMemory {
        self.slot.as_ref().expect("a workspace holds its slot until dropped")
    }

    /// A and B, to read.
    pub fn inputs(&self) -> Operands<'_> {
        let len = self.len();
        Operands::new(
            self.slot().elements(0..len),
            self.slot().elements(len..2 * len),
            self.cols,
        )
    }

    /// The inputs to read and the sum to write, borrowed at once.
    pub fn split(&mut self) -> (Operands<'_>, &mut [i64]) {
        let (len, cols) = (self.len(), self.cols);
        let (a, b, sum) = self.slot_mut().three(len);
        (Operands::new(a, b, cols), sum)
    }
}

impl Workspace for SlotWorkspace {
    fn shape(&self) -> (usize, usize) {
        (self.rows, self.cols)
    }

    fn inputs_mut(&mut self) -> (&mut [i64], &mut [i64]) {
        let len = self.len();
        self.slot_mut().two_mut(0..len, len..2 * len)
    }

    fn sum(&self) -> &[i64] {
        let len = self.len();
        self.slot().elements(2 * len..3 * len)
    }
}

impl Drop for SlotWorkspace {
    fn drop(&mut self) {
        if let Some(slot) = self.slot.take() {
            self.slots.give(slot);
        }
    }
}
