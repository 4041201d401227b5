//! Work run with as many at once as the location's in-flight size allows at the moment
//! (`Loader::in_flight`), in any order.

use std::future::Future;

use futures::stream::FuturesUnordered;
use futures::StreamExt as _;

/// Runs every future of `work` with at most `width()` at once (asked again as each one ends,
/// so it may change meanwhile), handing each result to `done` as it comes.
pub async fn each_within<T, Fut: Future<Output = T>>(
    work: impl IntoIterator<Item = Fut>,
    width: impl Fn() -> usize,
    mut done: impl FnMut(T),
) {
    let mut work = work.into_iter();
    let mut running = FuturesUnordered::new();
    loop {
        while running.len() < width().max(1) {
            match work.next() {
                Some(f) => running.push(f),
                None => break,
            }
        }
        match running.next().await {
            Some(out) => done(out),
            None => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    #[tokio::test]
    async fn at_most_the_width_of_the_moment_run_at_once() {
        let running = AtomicUsize::new(0);
        let most = AtomicUsize::new(0);
        let ended = AtomicUsize::new(0);
        let work = (0..40).map(|_| async {
            let now = running.fetch_add(1, Ordering::SeqCst) + 1;
            most.fetch_max(now, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(2)).await;
            running.fetch_sub(1, Ordering::SeqCst);
            now
        });
        let mut early = 0;
        each_within(
            work,
            || {
                if ended.load(Ordering::SeqCst) < 10 {
                    2
                } else {
                    6
                }
            },
            |now| {
                if ended.fetch_add(1, Ordering::SeqCst) < 8 {
                    early = early.max(now);
                }
            },
        )
        .await;
        assert_eq!(ended.load(Ordering::SeqCst), 40);
        assert_eq!(early, 2);
        assert_eq!(most.load(Ordering::SeqCst), 6);
    }
}
