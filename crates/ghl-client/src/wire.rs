//! Requests in flight across the whole process — every location, every client. Each holds a
//! connection (HTTP/1.1: one request at a time per connection), and a connection is an open
//! file, so the number is bounded by the open-file limit: without a bound, hundreds of locations
//! whose in-flight size grows with the answer time (a saturated machine answers slowly) would
//! open connections until the process may open no more files. A request that finds none free
//! waits in its location's queue, before its window slot is taken (`ratelimit.rs`).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

use tokio::sync::Semaphore;

/// The most connections, whatever the open-file limit: enough for 500 locations at GHL's rate
/// with a 0.8 s answer time.
const MOST: usize = 4096;

/// The open-file limit, its soft value raised to the hard one first (often 1,024 → 524,288).
pub fn open_file_limit() -> u64 {
    static LIMIT: OnceLock<u64> = OnceLock::new();
    *LIMIT.get_or_init(|| {
        #[cfg(unix)]
        {
            let mut lim = libc::rlimit {
                rlim_cur: 0,
                rlim_max: 0,
            };
            // SAFETY: getrlimit/setrlimit only read and write the struct passed.
            unsafe {
                if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
                    return 1024;
                }
                if lim.rlim_cur < lim.rlim_max {
                    let raised = libc::rlimit {
                        rlim_cur: lim.rlim_max,
                        rlim_max: lim.rlim_max,
                    };
                    if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                        lim.rlim_cur = lim.rlim_max;
                    }
                }
            }
            lim.rlim_cur
        }
        #[cfg(not(unix))]
        {
            8192
        }
    })
}

/// How many requests may be in flight at once in this process: a quarter of the open-file limit
/// (each connection is two files when the sandbox runs in the same process; the rest is for the
/// locations' journals and reports), at least 16, at most [`MOST`].
pub fn budget() -> usize {
    ((open_file_limit() / 4) as usize).clamp(16, MOST)
}

/// The process's connections.
pub fn connections() -> &'static Semaphore {
    static WIRE: OnceLock<Semaphore> = OnceLock::new();
    WIRE.get_or_init(|| Semaphore::new(budget()))
}

/// Locations loading rows at this moment, in this process.
static LOADING: AtomicUsize = AtomicUsize::new(0);

/// The fewest requests in flight a location is ever held to by its share.
const FEWEST_PER_LOCATION: usize = 8;

/// A location loading rows, for as long as it is held: counted in [`share`].
#[derive(Debug)]
pub struct Loading(());

impl Loading {
    /// Counts one more location loading rows until the value is dropped.
    pub fn start() -> Loading {
        LOADING.fetch_add(1, Ordering::Relaxed);
        Loading(())
    }
}

impl Drop for Loading {
    fn drop(&mut self) {
        LOADING.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The requests one location may keep in flight while the others load too: twice its even
/// share of the process's connections (answer times differ between locations), at least
/// [`FEWEST_PER_LOCATION`]. More would not go any sooner — each waits for a connection — and
/// every row in flight holds its state in memory (500 locations × a first window of 100 rows
/// each held 50,000 rows, ~800 MB, for 4,096 connections).
pub fn share() -> usize {
    share_of(budget(), LOADING.load(Ordering::Relaxed))
}

fn share_of(budget: usize, loading: usize) -> usize {
    (2 * budget / loading.max(1)).max(FEWEST_PER_LOCATION)
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_location_gets_twice_its_even_share_of_the_connections() {
        assert_eq!(super::share_of(4096, 0), 8192);
        assert_eq!(super::share_of(4096, 1), 8192);
        assert_eq!(super::share_of(4096, 500), 16);
        assert_eq!(super::share_of(4096, 2000), 8);
        assert_eq!(super::share_of(16, 3), 10);
    }

    #[test]
    fn a_loading_location_is_counted_while_held() {
        let before = super::share();
        let held: Vec<_> = (0..4).map(|_| super::Loading::start()).collect();
        assert!(super::share() <= before);
        assert_eq!(
            super::share(),
            super::share_of(
                super::budget(),
                super::LOADING.load(super::Ordering::Relaxed)
            )
        );
        drop(held);
        assert_eq!(super::share(), before);
    }

    #[test]
    fn the_budget_leaves_files_for_the_rest() {
        let limit = super::open_file_limit();
        let b = super::budget() as u64;
        assert!((16..=4096).contains(&b), "{b}");
        assert!(b * 2 < limit.max(64), "{b} of {limit}");
    }
}
