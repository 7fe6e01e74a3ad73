//! How much stack the process's main thread has left, worked out without reading
//! `/proc/self/maps` (which is what asking the thread library for a stack's bounds costs on
//! the main thread: the kernel writes out every mapping of the process, and the C library
//! scans the text).
//!
//! The main thread's stack ends where the kernel put the program's path, the first thing it
//! copies onto a new stack (its address is `AT_EXECFN` in the auxiliary vector); it may grow
//! down to the stack size limit (`RLIMIT_STACK`) below that end.

/// A main thread's stack taken to be at most this large, whatever the limit says (an
/// unlimited stack included): the kernel keeps at least 128 MiB free below the stack's end.
const LARGEST: usize = 64 << 20;

/// Bytes of stack left below the caller's frame, when the caller runs on the process's main
/// thread (Linux); `None` on any other thread or when it cannot be told.
pub(crate) fn main_thread_left() -> Option<usize> {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: plain system calls without arguments that point anywhere.
        let (tid, pid) = unsafe { (libc::syscall(libc::SYS_gettid), libc::getpid()) };
        if tid != libc::c_long::from(pid) {
            return None;
        }
        let limit = stack_limit()?;
        let end = main_stack_end()?;
        let marker = 0_u8;
        let here = std::hint::black_box(&raw const marker) as usize;
        let used = end.checked_sub(here)?;
        limit.checked_sub(used)
    }
    #[cfg(not(target_os = "linux"))]
    None
}

/// The soft stack size limit, at most [`LARGEST`].
#[cfg(target_os = "linux")]
fn stack_limit() -> Option<usize> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `limit` is a valid place for the answer.
    if unsafe { libc::getrlimit(libc::RLIMIT_STACK, &raw mut limit) } != 0 {
        return None;
    }
    if limit.rlim_cur == libc::RLIM_INFINITY {
        return Some(LARGEST);
    }
    Some(usize::try_from(limit.rlim_cur).map_or(LARGEST, |l| l.min(LARGEST)))
}

/// The end (highest address) of the main thread's stack: the page boundary just above the
/// program path the kernel copied there.
#[cfg(target_os = "linux")]
fn main_stack_end() -> Option<usize> {
    // SAFETY: reading the auxiliary vector has no preconditions.
    let (path, page) = unsafe {
        (
            libc::getauxval(libc::AT_EXECFN) as usize,
            libc::getauxval(libc::AT_PAGESZ) as usize,
        )
    };
    if path == 0 || !page.is_power_of_two() {
        return None;
    }
    // SAFETY: `AT_EXECFN` points at a NUL-terminated string that lives as long as the
    // process (the top of the main stack is never unmapped).
    let len = unsafe { std::ffi::CStr::from_ptr(path as *const libc::c_char) }
        .to_bytes()
        .len();
    (path + len + 1).checked_next_multiple_of(page)
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    /// The end worked out from the program path is the end of the mapping the kernel calls
    /// `[stack]`.
    #[test]
    fn the_main_stack_ends_where_the_kernel_says() {
        let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
        let line = maps.lines().find(|l| l.ends_with("[stack]")).unwrap();
        let range = line.split_whitespace().next().unwrap();
        let end = usize::from_str_radix(range.split('-').nth(1).unwrap(), 16).unwrap();
        assert_eq!(main_stack_end(), Some(end));
    }

    /// Tests run on threads of their own: not the main thread.
    #[test]
    fn other_threads_are_not_told_the_main_threads_room() {
        assert_eq!(main_thread_left(), None);
        let on_a_thread = std::thread::spawn(main_thread_left).join().unwrap();
        assert_eq!(on_a_thread, None);
    }
}
