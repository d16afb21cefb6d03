//! Request-sized slots of memory shared with worker processes, and the workspace a request
//! holds one of.
//!
//! Both process engines keep a request's matrices here rather than on the heap. The pool's
//! workers (started once) map the same memfd; children forked per request inherit the mapping.
//! Because the mapping is shared rather than private, a fork neither copies its page tables nor
//! write-protects it: the server's later writes to it (the next request's matrices) take no
//! copy-on-write faults and no TLB shootdowns, however many children are alive.
//!
//! A free slot keeps its pages while requests keep coming and gives those beyond a floor back
//! to the OS once it has been unused for [`RECLAIM_AFTER`], as the threads server's heap buffers
//! do (see [`matrix_service::buffers`]). Releasing them after every request instead made each
//! request above the floor fault its slot in afresh, a jump in CPU per request from n=500 to
//! n=1000.

use std::ops::Range;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use matrix_service::buffers::RECLAIM_AFTER;
use matrix_service::{Shapes, Workspace};

use crate::sys::{SharedMemory, SlotMemory};

/// Free slots of one shared memory region.
#[derive(Debug)]
pub struct SlotPool {
    memory: Arc<SharedMemory>,
    free: Mutex<Vec<FreeSlot>>,
    count: usize,
    slot_elements: usize,
    resident_elements: usize,
    /// How many free slots, the most recently used, keep `resident_elements` when idle; the
    /// others give all their pages back.
    resident_slots: usize,
}

impl SlotPool {
    /// `count` slots of `slot_elements` elements (room for A, B and the sum of the largest
    /// request). A slot unused for [`RECLAIM_AFTER`] keeps its first `resident_elements`
    /// resident and gives the rest of its pages back to the OS.
    pub fn new(count: usize, slot_elements: usize, resident_elements: usize) -> std::io::Result<Self> {
        let memory = Arc::new(SharedMemory::create(count * slot_elements)?);
        let free = (memory.into_slots(count, slot_elements).into_iter())
            .map(|slot| FreeSlot {
                slot,
                since: Instant::now(),
                touched: 0,
            })
            .collect();
        Ok(Self {
            memory,
            free: Mutex::new(free),
            count,
            slot_elements,
            resident_elements,
            resident_slots: count,
        })
    }

    /// Lets only the `slots` most recently used free slots keep their resident floor when
    /// idle: the server has a slot for every request that may wait (`work=io`) as well as
    /// every one that may compute, and only the latter should keep memory between requests.
    pub fn keeping_floor_in(mut self, slots: usize) -> Self {
        self.resident_slots = slots;
        self
    }

    /// The floor of the free slot at `index` of `free` (the last is the most recently used).
    fn floor(&self, index: usize, free: usize) -> usize {
        if free - index <= self.resident_slots {
            self.resident_elements
        } else {
            0
        }
    }

    pub fn memory(&self) -> &SharedMemory {
        &self.memory
    }

    /// The memory, to keep: for the fork server, whose children read from it.
    pub fn memory_handle(&self) -> Arc<SharedMemory> {
        Arc::clone(&self.memory)
    }

    /// A request's workspace for matrices of `shapes`, or why there is none now.
    pub fn workspace(self: &Arc<Self>, shapes: Shapes) -> Result<SlotWorkspace, String> {
        assert!(
            shapes.elements() <= self.slot_elements,
            "the server's limits keep every request within a slot"
        );
        // The slot freed last: its pages are the likeliest to be resident still.
        let free = self.lock().pop().ok_or_else(|| {
            format!(
                "all {} shared-memory slots are in use (--max-active-requests)",
                self.count
            )
        })?;
        Ok(SlotWorkspace {
            slot: Some(free.slot),
            touched: free.touched.max(shapes.elements()),
            shapes,
            slots: Arc::clone(self),
        })
    }

    /// Takes a slot back after its request, `touched` elements of it possibly resident.
    fn give(&self, slot: SlotMemory, touched: usize) {
        if slot.lent() > 0 {
            // A killed worker may still write here until it is reaped: never reuse.
            tracing::error!(
                start = slot.start(),
                "a killed worker was not reaped in time; its memory slot is retired"
            );
            return;
        }
        self.lock().push(FreeSlot {
            slot,
            since: Instant::now(),
            touched,
        });
    }

    /// Gives the pages beyond its floor of every slot unused since `now - RECLAIM_AFTER` back
    /// to the OS.
    pub fn reclaim_idle(&self, now: Instant) {
        let mut slots = self.lock();
        let count = slots.len();
        for (index, free) in slots.iter_mut().enumerate() {
            let floor = self.floor(index, count);
            if free.touched > floor && now.saturating_duration_since(free.since) >= RECLAIM_AFTER {
                match free.slot.release_beyond(floor) {
                    Ok(()) => free.touched = floor,
                    Err(e) => tracing::warn!("could not return a slot's pages to the OS: {e}"),
                }
            }
        }
    }

    /// Elements of free slots possibly resident beyond their floor.
    pub fn idle_excess_elements(&self) -> usize {
        let slots = self.lock();
        (slots.iter().enumerate())
            .map(|(index, free)| free.touched.saturating_sub(self.floor(index, slots.len())))
            .sum()
    }

    fn lock(&self) -> MutexGuard<'_, Vec<FreeSlot>> {
        self.free.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A slot nobody holds, since when, and how much of it may be resident (elements from its start).
#[derive(Debug)]
struct FreeSlot {
    slot: SlotMemory,
    since: Instant,
    touched: usize,
}

/// A request's slot: A, then B, then the result, one after the other.
pub struct SlotWorkspace {
    slot: Option<SlotMemory>,
    touched: usize,
    shapes: Shapes,
    slots: Arc<SlotPool>,
}

impl SlotWorkspace {
    pub fn slot_mut(&mut self) -> &mut SlotMemory {
        self.slot.as_mut().expect("a workspace holds its slot until dropped")
    }

    fn slot(&self) -> &SlotMemory {
        self.slot.as_ref().expect("a workspace holds its slot until dropped")
    }

    /// Where A, B and the result lie in the slot.
    pub fn spans(&self) -> [Range<usize>; 3] {
        let (a, b) = (self.shapes.a_len(), self.shapes.b_len());
        [0..a, a..a + b, a + b..a + b + self.shapes.out_len()]
    }

    /// A and B, to read.
    pub fn inputs(&self) -> (&[i64], &[i64]) {
        let [a, b, _] = self.spans();
        (self.slot().elements(a), self.slot().elements(b))
    }

    /// The inputs to read and the result to write, borrowed at once.
    pub fn split(&mut self) -> (&[i64], &[i64], &mut [i64]) {
        let shapes = self.shapes;
        self.slot_mut()
            .three((shapes.a_len(), shapes.b_len(), shapes.out_len()))
    }
}

impl Workspace for SlotWorkspace {
    fn shapes(&self) -> Shapes {
        self.shapes
    }

    fn inputs_mut(&mut self) -> (&mut [i64], &mut [i64]) {
        let [a, b, _] = self.spans();
        self.slot_mut().two_mut(a, b)
    }

    fn result(&self) -> &[i64] {
        let [_, _, out] = self.spans();
        self.slot().elements(out)
    }
}

impl Drop for SlotWorkspace {
    fn drop(&mut self) {
        if let Some(slot) = self.slot.take() {
            self.slots.give(slot, self.touched);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    const MIB: u64 = 1 << 20;

    /// Writes every element of a request's three matrices, as a request does.
    fn serve(slots: &Arc<SlotPool>, n: usize) {
        let mut work = slots.workspace(Shapes::sum(n, n)).expect("a free slot");
        let (a, b) = work.inputs_mut();
        a.fill(1);
        b.fill(2);
        work.split().2.fill(3);
    }

    #[test]
    fn a_slot_keeps_its_pages_between_requests_and_gives_them_back_once_idle() {
        let floor = 3 * 100 * 100;
        let slots = Arc::new(SlotPool::new(1, 3 * 1000 * 1000, floor).expect("shared memory"));
        serve(&slots, 1000);
        let allocated = || slots.memory().allocated_bytes().expect("fstat");
        assert!(allocated() >= 22 * MIB, "{} bytes", allocated());
        // Just used: a second request at n=1000 finds its pages still there.
        slots.reclaim_idle(Instant::now());
        assert!(allocated() >= 22 * MIB, "{} bytes", allocated());
        assert_eq!(slots.idle_excess_elements(), 3 * 1000 * 1000 - floor);
        // Idle for longer than RECLAIM_AFTER: down to the floor.
        slots.reclaim_idle(Instant::now() + RECLAIM_AFTER + Duration::from_millis(1));
        assert!(allocated() <= MIB, "{} bytes", allocated());
        assert_eq!(slots.idle_excess_elements(), 0);
        // And usable again at any size.
        serve(&slots, 700);
        assert!(allocated() >= 11 * MIB, "{} bytes", allocated());
    }
}
