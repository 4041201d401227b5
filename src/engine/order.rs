//! Row scheduling for `run`: requests complete in any order (a slow answer costs only its own
//! time, not the time of every row behind it), while reports stay in input order through a
//! bounded reorder buffer; and rows that share a key (email or phone) are processed one after
//! the other in file order, whatever the concurrency, so the same file always gives the same
//! result.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;

use futures::stream::FuturesUnordered;
use futures::StreamExt;
use tokio::sync::watch;

/// Rows that may wait, finished, for an earlier slow row (beyond the ones in flight).
pub(super) const REORDER_WINDOW: usize = 4096;

/// Hands out, in input order, the waits that keep rows sharing a key in file order: a row waits
/// for the last earlier row that had any of its keys.
#[derive(Default)]
pub(super) struct KeyOrder {
    last: HashMap<String, watch::Receiver<()>>,
    registered: usize,
}

/// Held by a row while it is processed; dropping it lets the next row with its keys go on.
pub(super) struct Turn {
    _done: watch::Sender<()>,
    waits: Vec<watch::Receiver<()>>,
}

impl Turn {
    /// Waits until every earlier row sharing a key with this one is done.
    pub async fn ready(&mut self) {
        for w in &mut self.waits {
            // `changed` fails when the earlier row's sender is dropped: it is done.
            while w.changed().await.is_ok() {}
        }
    }
}

impl KeyOrder {
    /// The turn of the next row, whose keys are `keys` (rows must be registered in input order).
    pub fn register<'k>(&mut self, keys: impl IntoIterator<Item = &'k str>) -> Turn {
        let (tx, rx) = watch::channel(());
        let mut waits = Vec::new();
        for k in keys {
            if let Some(prev) = self.last.insert(k.to_owned(), rx.clone()) {
                if prev.has_changed().is_ok() {
                    waits.push(prev);
                }
            }
        }
        self.registered += 1;
        if self.registered.is_multiple_of(4096) {
            // Forget keys whose last row is done: memory stays bounded by the rows in flight.
            self.last.retain(|_, r| r.has_changed().is_ok());
        }
        Turn { _done: tx, waits }
    }
}

/// Runs `work` on every item of `input` with at most `width()` at once (asked again as items
/// finish, and at the time it says it may grow with nothing finished, so it may change during
/// the run), completing in any order, and hands the results to `sink` in input order. At most
/// [`REORDER_WINDOW`] finished results wait for an earlier one; beyond that no new item is
/// started until it comes.
pub(super) async fn in_order<I, F, Fut, T>(
    mut input: I,
    width: impl Fn() -> (usize, Option<std::time::Instant>),
    mut work: F,
    mut sink: impl FnMut(T) -> anyhow::Result<()>,
) -> anyhow::Result<()>
where
    I: futures::Stream + Unpin,
    F: FnMut(I::Item) -> Fut,
    Fut: Future<Output = T>,
{
    let mut running = FuturesUnordered::new();
    let mut done: BTreeMap<u64, T> = BTreeMap::new();
    let (mut next_in, mut next_out) = (0u64, 0u64);
    let mut input_open = true;
    loop {
        let (wide, grows_at) = width();
        let room = running.len() < wide.max(1) && done.len() < REORDER_WINDOW;
        if input_open && room {
            tokio::select! {
                biased;
                Some((seq, out)) = running.next(), if !running.is_empty() => {
                    done.insert(seq, out);
                }
                item = input.next() => match item {
                    Some(item) => {
                        let fut = work(item);
                        let seq = next_in;
                        next_in += 1;
                        running.push(async move { (seq, fut.await) });
                    }
                    None => input_open = false,
                },
            }
        } else {
            // The width may grow while nothing finishes (a request slow at the server becomes
            // a straggler): asked again then.
            let recheck = grows_at.filter(|_| input_open && done.len() < REORDER_WINDOW);
            let grown = async {
                match recheck {
                    Some(t) => tokio::time::sleep_until(t.into()).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                biased;
                next = running.next() => match next {
                    Some((seq, out)) => {
                        done.insert(seq, out);
                    }
                    None if !input_open => break,
                    None => {}
                },
                () = grown => {}
            }
        }
        while let Some(out) = done.remove(&next_out) {
            sink(out)?;
            next_out += 1;
        }
    }
    while let Some(out) = done.remove(&next_out) {
        sink(out)?;
        next_out += 1;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    #[tokio::test]
    async fn the_width_is_asked_again_as_items_finish() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        // 1 at a time for the first 10 items, then 8: the most running at once follows.
        let finished = Arc::new(AtomicUsize::new(0));
        let (running, most) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let mut early_most = 0;
        in_order(
            futures::stream::iter(0..60u64),
            || {
                if finished.load(Ordering::SeqCst) < 10 {
                    (1, None)
                } else {
                    (8, None)
                }
            },
            |i| {
                let (running, most) = (Arc::clone(&running), Arc::clone(&most));
                async move {
                    let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                    most.fetch_max(now, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(5)).await;
                    running.fetch_sub(1, Ordering::SeqCst);
                    (i, now)
                }
            },
            |(i, now)| {
                finished.fetch_add(1, Ordering::SeqCst);
                if i < 9 {
                    early_most = early_most.max(now);
                }
                Ok(())
            },
        )
        .await
        .unwrap();
        assert_eq!(early_most, 1);
        assert_eq!(most.load(Ordering::SeqCst), 8);
    }

    #[tokio::test]
    async fn a_width_that_grows_while_nothing_finishes_is_followed() {
        // Item 0 takes 400 ms; the width is 1 for 50 ms, then 4 (its request became a
        // straggler): item 1 starts then, not when item 0 finishes.
        let started = std::time::Instant::now();
        let first_of_rest = Arc::new(Mutex::new(None));
        in_order(
            futures::stream::iter(0..4u64),
            || match started.elapsed() < Duration::from_millis(50) {
                true => (1, Some(started + Duration::from_millis(50))),
                false => (4, None),
            },
            |i| {
                let first = Arc::clone(&first_of_rest);
                async move {
                    if i == 0 {
                        tokio::time::sleep(Duration::from_millis(400)).await;
                    } else {
                        first.lock().unwrap().get_or_insert(started.elapsed());
                    }
                }
            },
            |()| Ok(()),
        )
        .await
        .unwrap();
        let at = first_of_rest.lock().unwrap().expect("the rest ran");
        assert!(at < Duration::from_millis(200), "{at:?}");
    }

    #[tokio::test]
    async fn results_come_in_input_order_while_slow_items_do_not_hold_up_the_rest() {
        let started = std::time::Instant::now();
        let mut got = Vec::new();
        // Item 0 takes 300 ms, the 40 others 10 ms each: with 4 at a time, in order, the rest
        // would wait behind item 0; unordered, they are done meanwhile.
        in_order(
            futures::stream::iter(0..41u64),
            || (4, None),
            |i| async move {
                let ms = if i == 0 { 300 } else { 10 };
                tokio::time::sleep(Duration::from_millis(ms)).await;
                i
            },
            |i| {
                got.push(i);
                Ok(())
            },
        )
        .await
        .unwrap();
        assert_eq!(got, (0..41).collect::<Vec<_>>());
        assert!(
            started.elapsed() < Duration::from_millis(450),
            "{:?}",
            started.elapsed()
        );
    }

    #[tokio::test]
    async fn rows_sharing_a_key_run_one_after_the_other_in_file_order() {
        let mut order = KeyOrder::default();
        let log = Arc::new(Mutex::new(Vec::new()));
        let keys = [["a", "p1"], ["b", "p1"], ["c", "p2"], ["a", "p3"]];
        let mut turns: Vec<Turn> = keys
            .iter()
            .map(|k| order.register(k.iter().copied()))
            .collect();
        // Start them in reverse: the shared keys still decide the order.
        let mut tasks = Vec::new();
        for (i, mut t) in turns.drain(..).enumerate().rev() {
            let log = Arc::clone(&log);
            tasks.push(tokio::spawn(async move {
                t.ready().await;
                tokio::time::sleep(Duration::from_millis(20)).await;
                log.lock().unwrap().push(i);
                drop(t);
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        let log = log.lock().unwrap().clone();
        let pos = |i: usize| log.iter().position(|x| *x == i).unwrap();
        assert!(pos(0) < pos(1), "p1: row 0 before row 1: {log:?}");
        assert!(pos(0) < pos(3), "a: row 0 before row 3: {log:?}");
    }
}
