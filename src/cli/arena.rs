//! The command's memory allocator: allocations are carved out of one fixed block of memory
//! (the arena) and never given back, until the block is used up; then the system allocator
//! takes over. A command like `render` allocates about 1.2 MB in all and then exits, so it
//! runs entirely in the arena: no allocator bookkeeping, no freeing piece by piece.
//! Longer commands (apply, wait) use the arena for their first allocations and the system
//! allocator after that, so what the arena cannot give back is bounded by its size.
//!
//! Only the `runnerctl` binary installs it (`#[global_allocator]` in `main.rs`); the library
//! never chooses an allocator for the programs that embed it.
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::UnsafeCell;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

/// A bump allocator over `N` bytes of static memory, falling back to [`System`].
///
/// Memory from the arena is freed only when the process ends; memory from the system
/// allocator is freed as usual. The static block sits in zero-filled memory: only the pages
/// actually handed out are ever touched.
///
/// Huge pages: an arena of 4 MiB or more hands out its first 256 KiB in ordinary 4 KiB pages
/// and the rest from 2 MiB boundaries on, which it asks the kernel to back with transparent
/// huge pages (`madvise(MADV_HUGEPAGE)` at the first allocation, Linux only). A command that
/// allocates little (help, `--version`, an early error) never touches a huge page, whose
/// first touch clears 2 MiB; a render (about 1.2 MB) faults in 64 small pages and one huge
/// one instead of about 300 small ones. Where the kernel's huge pages are off, the advice
/// does nothing. The block's first 1.75 MiB are never handed out (nor touched, so they take
/// no memory).
#[repr(C, align(2097152))]
pub struct Arena<const N: usize> {
    memory: UnsafeCell<[u8; N]>,
    /// Bytes handed out so far from the origin (`START` bytes into `memory`), alignment gaps
    /// included.
    used: AtomicUsize,
}

/// A transparent huge page on x86-64 and aarch64 (4 KiB base pages).
const HUGE_PAGE: usize = 2 << 20;
/// What an arena with huge pages hands out in ordinary pages first.
const SMALL_PAGES: usize = 256 << 10;

// SAFETY: the block is only reached through ranges handed out once each (a compare-and-swap
// on `used` reserves them), so no two threads ever get the same bytes.
unsafe impl<const N: usize> Sync for Arena<N> {}

impl<const N: usize> Arena<N> {
    /// Where handing out starts: `SMALL_PAGES` before the first huge page when the block has
    /// room for that and one more huge page, else at the start.
    const START: usize = if N >= 2 * HUGE_PAGE {
        HUGE_PAGE - SMALL_PAGES
    } else {
        0
    };

    /// The bytes handed out from `START` on.
    const CAPACITY: usize = N - Self::START;

    /// An arena with nothing handed out yet. All zero, so the block sits in zero-filled
    /// memory that is not part of the binary.
    #[allow(clippy::new_without_default)]
    pub const fn new() -> Self {
        Arena {
            memory: UnsafeCell::new([0; N]),
            used: AtomicUsize::new(0),
        }
    }

    fn base(&self) -> usize {
        self.memory.get() as usize
    }

    /// The address of the first byte handed out.
    fn origin(&self) -> usize {
        self.base() + Self::START
    }

    /// Whether `ptr` points into the arena's block.
    fn owns(&self, ptr: *mut u8) -> bool {
        (self.origin()..self.base() + N).contains(&(ptr as usize))
    }

    /// Reserves `size` bytes aligned to `align`, if they fit in what is left.
    fn bump(&self, size: usize, align: usize) -> Option<*mut u8> {
        let origin = self.origin();
        let mut used = self.used.load(Relaxed);
        loop {
            let start = (origin + used).checked_next_multiple_of(align)? - origin;
            let end = start
                .checked_add(size)
                .filter(|end| *end <= Self::CAPACITY)?;
            match self.used.compare_exchange_weak(used, end, Relaxed, Relaxed) {
                Ok(_) => {
                    if used == 0 && Self::START > 0 {
                        self.advise_huge_pages();
                    }
                    return Some((origin + start) as *mut u8);
                }
                Err(now) => used = now,
            }
        }
    }

    /// Asks the kernel to back the block from its first huge page boundary after the start
    /// with huge pages (a hint: failure changes nothing).
    fn advise_huge_pages(&self) {
        #[cfg(target_os = "linux")]
        // SAFETY: the range lies in this block (page-aligned: the block starts on a huge page
        // boundary), which lives as long as the program; the advice changes neither its
        // contents nor who may use it.
        unsafe {
            libc::madvise(
                self.memory.get().cast::<u8>().add(HUGE_PAGE).cast(),
                N - HUGE_PAGE,
                libc::MADV_HUGEPAGE,
            );
        }
    }

    /// Bytes handed out from the arena so far (including alignment gaps).
    pub fn used(&self) -> usize {
        self.used.load(Relaxed)
    }
}

// SAFETY: `alloc` returns either a range of the block reserved for this call alone, aligned
// as asked, or the system allocator's answer; `dealloc` and `realloc` pass the system
// allocator's pointers back to it and never free arena memory.
unsafe impl<const N: usize> GlobalAlloc for Arena<N> {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        match self.bump(layout.size(), layout.align()) {
            Some(ptr) => ptr,
            // SAFETY: the caller's layout contract is passed on unchanged.
            None => unsafe { System.alloc(layout) },
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if !self.owns(ptr) {
            // SAFETY: `ptr` came from `System` with this layout (arena pointers stay here).
            unsafe { System.dealloc(ptr, layout) }
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if !self.owns(ptr) {
            // SAFETY: `ptr` came from `System` with this layout.
            return unsafe { System.realloc(ptr, layout, new_size) };
        }
        if new_size <= layout.size() {
            return ptr;
        }
        // The last allocation grows where it is.
        let start = ptr as usize - self.origin();
        let (old_end, new_end) = (start + layout.size(), start.saturating_add(new_size));
        if new_end <= Self::CAPACITY
            && self
                .used
                .compare_exchange(old_end, new_end, Relaxed, Relaxed)
                .is_ok()
        {
            return ptr;
        }
        // SAFETY: `new_size` with the old alignment is a valid layout (the caller's contract).
        let new_layout = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        // SAFETY: as for `alloc`.
        let moved = unsafe { self.alloc(new_layout) };
        if !moved.is_null() {
            // SAFETY: both ranges are valid for `layout.size()` bytes and distinct.
            unsafe { std::ptr::copy_nonoverlapping(ptr, moved, layout.size()) };
        }
        moved
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout(size: usize, align: usize) -> Layout {
        Layout::from_size_align(size, align).unwrap()
    }

    #[test]
    fn a_large_arena_starts_in_small_pages_then_reaches_its_huge_pages() {
        static ARENA: Arena<{ 4 << 20 }> = Arena::new();
        // Nothing but zero bytes before the first allocation: the static takes no room in
        // the binary (it goes to zero-filled memory) and its pages are not file-backed, which
        // huge pages need.
        let bytes = unsafe {
            std::slice::from_raw_parts(
                (&raw const ARENA).cast::<u8>(),
                std::mem::size_of_val(&ARENA),
            )
        };
        assert!(bytes.iter().all(|b| *b == 0));
        let base = ARENA.base();
        assert_eq!(ARENA.used(), 0);
        // The first bytes sit just before the first huge page boundary after the start.
        let first = unsafe { ARENA.alloc(layout(1000, 8)) } as usize;
        assert_eq!(first, base + HUGE_PAGE - SMALL_PAGES);
        let rest = unsafe { ARENA.alloc(layout(SMALL_PAGES, 8)) } as usize;
        assert!(
            rest + SMALL_PAGES > base + HUGE_PAGE,
            "crosses into the huge pages"
        );
        assert_eq!(ARENA.used(), 1000 + SMALL_PAGES);
        // Everything up to the end of the block can be handed out, and no more.
        let left = (4 << 20) - (HUGE_PAGE - SMALL_PAGES) - ARENA.used();
        let last = unsafe { ARENA.alloc(layout(left, 1)) };
        assert!(ARENA.owns(last) && ARENA.owns(unsafe { last.add(left - 1) }));
        unsafe { std::ptr::write_bytes(last, 0xCD, left) };
        let beyond = unsafe { ARENA.alloc(layout(1, 1)) };
        assert!(
            !ARENA.owns(beyond),
            "the system allocator answers when full"
        );
        unsafe { ARENA.dealloc(beyond, layout(1, 1)) };
    }

    #[test]
    fn allocations_are_aligned_distinct_and_fall_back_when_full() {
        static ARENA: Arena<4096> = Arena::new();
        assert_eq!(
            ARENA.base() % (2 << 20),
            0,
            "starts on a huge-page boundary"
        );
        let mut seen: Vec<(usize, usize)> = Vec::new();
        for (size, align) in [
            (1, 1),
            (8, 8),
            (3, 2),
            (64, 64),
            (100, 16),
            (7, 4),
            (512, 256),
        ] {
            let p = unsafe { ARENA.alloc(layout(size, align)) };
            assert!(ARENA.owns(p), "{size}/{align} fits");
            assert_eq!(p as usize % align, 0, "{size}/{align} aligned");
            unsafe { std::ptr::write_bytes(p, 0xAB, size) };
            let range = (p as usize, p as usize + size);
            assert!(
                seen.iter().all(|r| range.1 <= r.0 || r.1 <= range.0),
                "overlap"
            );
            seen.push(range);
        }
        // Larger than what is left: the system allocator answers, and frees it again.
        let big = layout(8192, 8);
        let p = unsafe { ARENA.alloc(big) };
        assert!(!p.is_null() && !ARENA.owns(p));
        unsafe {
            std::ptr::write_bytes(p, 1, 8192);
            ARENA.dealloc(p, big);
        }
        // Freeing arena memory gives nothing back.
        let before = ARENA.used();
        unsafe { ARENA.dealloc(seen[0].0 as *mut u8, layout(1, 1)) };
        assert_eq!(ARENA.used(), before);
    }

    #[test]
    fn the_last_allocation_grows_in_place_others_move_with_their_bytes() {
        static ARENA: Arena<4096> = Arena::new();
        let l = layout(16, 8);
        let a = unsafe { ARENA.alloc(l) };
        unsafe { std::ptr::copy_nonoverlapping(b"0123456789abcdef".as_ptr(), a, 16) };
        let grown = unsafe { ARENA.realloc(a, l, 64) };
        assert_eq!(grown, a, "last allocation grows in place");
        let b = unsafe { ARENA.alloc(layout(8, 8)) };
        let moved = unsafe { ARENA.realloc(a, layout(64, 8), 128) };
        assert_ne!(moved, a, "no longer the last: moved");
        assert!(moved as usize > b as usize);
        let bytes = unsafe { std::slice::from_raw_parts(moved, 16) };
        assert_eq!(bytes, b"0123456789abcdef");
        assert_eq!(
            unsafe { ARENA.realloc(moved, layout(128, 8), 8) },
            moved,
            "shrinks in place"
        );
        // Growing past the end of the block moves to the system allocator, bytes kept.
        let out = unsafe { ARENA.realloc(moved, layout(128, 8), 10_000) };
        assert!(!ARENA.owns(out));
        assert_eq!(
            unsafe { std::slice::from_raw_parts(out, 16) },
            b"0123456789abcdef"
        );
        unsafe { ARENA.dealloc(out, layout(10_000, 8)) };
    }

    #[test]
    fn threads_never_get_the_same_bytes() {
        static ARENA: Arena<{ 64 * 1024 }> = Arena::new();
        let ranges: Vec<Vec<(usize, usize)>> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..4u8)
                .map(|t| {
                    s.spawn(move || {
                        (0..200)
                            .map(|i| {
                                let size = 8 + (i % 5) * 8;
                                let p = unsafe { ARENA.alloc(layout(size, 8)) };
                                unsafe { std::ptr::write_bytes(p, t, size) };
                                (p as usize, size)
                            })
                            .collect()
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        for (t, list) in ranges.iter().enumerate() {
            for &(p, size) in list {
                let bytes = unsafe { std::slice::from_raw_parts(p as *const u8, size) };
                assert!(
                    bytes.iter().all(|b| *b == t as u8),
                    "bytes of thread {t} kept"
                );
            }
        }
        let mut all: Vec<(usize, usize)> = ranges.into_iter().flatten().collect();
        all.sort();
        assert!(
            all.windows(2).all(|w| w[0].0 + w[0].1 <= w[1].0),
            "no overlap"
        );
    }
}
