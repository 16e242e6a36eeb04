//! The component's global allocator: a bump arena for a call's first
//! allocations, then the system allocator (wasi-libc's dlmalloc).
//!
//! The host instantiates the component afresh for every call (a fresh store,
//! memory restored from the image), so an allocator never outlives one call.
//! A push allocates a few kilobytes and ends: bumping a pointer through a
//! static arena costs a few instructions, where dlmalloc walks its bins and,
//! on its first allocation in a fresh instance, grows the memory (the data
//! leaves it almost no heap). `bench push` measured the difference at about
//! 3.8 µs of a 26 µs push. A long call (a nightly step, an import) fills the
//! arena and goes on with the system allocator; what it freed inside the arena
//! is lost until the call ends, so the cost is bounded by the arena's size.
//!
//! Inside the arena a free gives space back only when it is the newest block
//! (a stack discipline, which covers the build-then-drop pattern of keys and
//! messages), and the newest block grows and shrinks in place.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::{Cell, UnsafeCell};

/// The size of the component's arena. A push's allocations peak under
/// 4 KiB (measured with a high-water mark during `bench push`); the rest is
/// room for long IDs, emails and sources. The arena is part of the module's
/// zero-initialised data, so it adds to the memory the host scans and
/// restores after each call: 256 KiB measured 0.2 µs slower per push.
pub const ARENA_BYTES: usize = 64 << 10;

/// A bump arena of `N` bytes in front of the system allocator.
#[repr(C, align(16))]
pub struct CallArena<const N: usize> {
    bytes: UnsafeCell<[u8; N]>,
    used: Cell<usize>,
}

// SAFETY: the component runs single-threaded (wasm32-wasip2 has no threads),
// so the arena's cells are never touched from two threads. The impl exists
// only for that target, where the arena is the global allocator.
#[cfg(all(target_arch = "wasm32", not(target_feature = "atomics")))]
unsafe impl<const N: usize> Sync for CallArena<N> {}

impl<const N: usize> CallArena<N> {
    /// An empty arena.
    pub const fn new() -> Self {
        CallArena {
            bytes: UnsafeCell::new([0; N]),
            used: Cell::new(0),
        }
    }

    fn base(&self) -> usize {
        self.bytes.get() as usize
    }

    /// The bytes handed out (including alignment padding) and not given back.
    pub fn used(&self) -> usize {
        self.used.get()
    }

    /// Whether `ptr` points into the arena (rather than the system heap).
    pub fn owns(&self, ptr: *const u8) -> bool {
        let p = ptr as usize;
        p >= self.base() && p < self.base() + N
    }

    /// Carves `layout` from the free end of the arena, or `None` if it does
    /// not fit.
    fn bump(&self, layout: Layout) -> Option<*mut u8> {
        let base = self.base();
        let start = (base + self.used.get()).checked_next_multiple_of(layout.align())?;
        let end = start.checked_add(layout.size())?;
        if end > base + N {
            return None;
        }
        self.used.set(end - base);
        // Derived from the arena's own pointer so the block keeps its
        // provenance.
        Some(self.bytes.get().cast::<u8>().wrapping_add(start - base))
    }

    /// Whether the block at `ptr` of `size` bytes is the newest one.
    fn is_newest(&self, ptr: *mut u8, size: usize) -> bool {
        ptr as usize + size == self.base() + self.used.get()
    }
}

impl<const N: usize> Default for CallArena<N> {
    fn default() -> Self {
        Self::new()
    }
}

// SAFETY: blocks from the arena are in bounds, aligned as asked and never
// handed out twice while live (`used` only moves back over the newest block
// when it is freed or shrunk); every other block comes from and returns to
// `System` untouched.
unsafe impl<const N: usize> GlobalAlloc for CallArena<N> {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        match self.bump(layout) {
            Some(p) => p,
            // SAFETY: the caller's layout has a non-zero size, as `alloc`
            // requires.
            None => unsafe { System.alloc(layout) },
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if self.owns(ptr) {
            if self.is_newest(ptr, layout.size()) {
                self.used.set(ptr as usize - self.base());
            }
        } else {
            // SAFETY: not in the arena, so `System` allocated it.
            unsafe { System.dealloc(ptr, layout) }
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if !self.owns(ptr) {
            // SAFETY: not in the arena, so `System` allocated it.
            return unsafe { System.realloc(ptr, layout, new_size) };
        }
        let offset = ptr as usize - self.base();
        if self.is_newest(ptr, layout.size()) && offset + new_size <= N {
            self.used.set(offset + new_size);
            return ptr;
        }
        if new_size <= layout.size() {
            // A shrink of an older block: it keeps its place.
            return ptr;
        }
        // SAFETY: `GlobalAlloc::realloc` requires `new_size`, rounded up to
        // the alignment, not to overflow `isize`, so the layout is valid.
        let grown = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        // SAFETY: `grown` has a non-zero size.
        let new = unsafe { self.alloc(grown) };
        if !new.is_null() {
            // SAFETY: both blocks are live and distinct, and the old one holds
            // `layout.size()` bytes.
            unsafe {
                std::ptr::copy_nonoverlapping(ptr, new, layout.size());
                self.dealloc(ptr, layout);
            }
        }
        new
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout(size: usize, align: usize) -> Layout {
        Layout::from_size_align(size, align).unwrap()
    }

    #[test]
    fn blocks_are_aligned_distinct_and_inside_the_arena() {
        let arena = CallArena::<4096>::new();
        let a = unsafe { arena.alloc(layout(3, 1)) };
        let b = unsafe { arena.alloc(layout(8, 8)) };
        let c = unsafe { arena.alloc(layout(32, 16)) };
        for (p, align) in [(a, 1), (b, 8), (c, 16)] {
            assert!(arena.owns(p));
            assert_eq!(p as usize % align, 0);
        }
        assert!(a as usize + 3 <= b as usize);
        assert!(b as usize + 8 <= c as usize);
        unsafe {
            a.write_bytes(0xAA, 3);
            b.write_bytes(0xBB, 8);
            c.write_bytes(0xCC, 32);
            assert_eq!(*a.add(2), 0xAA);
            assert_eq!(*b.add(7), 0xBB);
        }
    }

    #[test]
    fn freeing_the_newest_block_gives_its_space_back_and_older_ones_do_not() {
        let arena = CallArena::<4096>::new();
        let a = unsafe { arena.alloc(layout(100, 4)) };
        let b = unsafe { arena.alloc(layout(100, 4)) };
        let after_two = arena.used();
        unsafe { arena.dealloc(a, layout(100, 4)) };
        assert_eq!(arena.used(), after_two, "an older block stays in place");
        unsafe { arena.dealloc(b, layout(100, 4)) };
        assert_eq!(arena.used(), after_two - 100);
        let c = unsafe { arena.alloc(layout(100, 4)) };
        assert_eq!(c, b, "the freed newest block is handed out again");
    }

    #[test]
    fn the_newest_block_grows_in_place_and_an_older_one_moves_with_its_bytes() {
        let arena = CallArena::<4096>::new();
        let a = unsafe { arena.alloc(layout(16, 8)) };
        unsafe { a.write_bytes(7, 16) };
        let grown = unsafe { arena.realloc(a, layout(16, 8), 64) };
        assert_eq!(grown, a);
        let _b = unsafe { arena.alloc(layout(8, 8)) };
        let moved = unsafe { arena.realloc(grown, layout(64, 8), 128) };
        assert_ne!(moved, grown);
        assert!(arena.owns(moved));
        assert_eq!(moved as usize % 8, 0);
        for i in 0..16 {
            assert_eq!(unsafe { *moved.add(i) }, 7, "byte {i} kept");
        }
        let shrunk = unsafe { arena.realloc(moved, layout(128, 8), 32) };
        assert_eq!(shrunk, moved, "the newest block shrinks in place");
    }

    #[test]
    fn a_full_arena_falls_back_to_the_system_allocator_and_frees_there() {
        let arena = CallArena::<256>::new();
        let a = unsafe { arena.alloc(layout(200, 8)) };
        assert!(arena.owns(a));
        let big = unsafe { arena.alloc(layout(1000, 8)) };
        assert!(!big.is_null());
        assert!(!arena.owns(big), "too big for what is left");
        unsafe { big.write_bytes(1, 1000) };
        // Growing an arena block past the arena moves it to the system heap.
        unsafe { a.write_bytes(9, 200) };
        let out = unsafe { arena.realloc(a, layout(200, 8), 4000) };
        assert!(!arena.owns(out));
        assert_eq!(unsafe { *out.add(199) }, 9);
        let grown = unsafe { arena.realloc(big, layout(1000, 8), 5000) };
        assert_eq!(unsafe { *grown.add(999) }, 1);
        unsafe {
            arena.dealloc(out, layout(4000, 8));
            arena.dealloc(grown, layout(5000, 8));
        }
    }

    #[test]
    fn alignment_larger_than_the_arena_s_own_is_honoured() {
        let arena = CallArena::<8192>::new();
        let _ = unsafe { arena.alloc(layout(1, 1)) };
        let p = unsafe { arena.alloc(layout(64, 256)) };
        assert_eq!(p as usize % 256, 0);
        assert!(arena.owns(p));
    }
}
