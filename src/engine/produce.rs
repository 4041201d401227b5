//! The reading side of `run`: a blocking thread reads the source in batches, transforms each
//! batch on all cores and dedups the rows in order, handing `(Record, Step)` over a bounded
//! channel; and the planning pass that `keep: last|merge` need first.

use crate::config::{Keep, Source};
use crate::extract::{SourceItem, SourceReader};
use crate::record::Record;
use crate::transform::dedup::{Dedup, PhoneOwners, Plan, Planner};
use crate::transform::profile::Unmapped;
use crate::transform::{apply_batch, Transformer, BATCH_ROWS};

use super::rows::Step;

/// Reads, transforms and dedups every row in order, on a blocking thread, and hands them on a
/// batch at a time (one wake-up of the writer per batch, not per row). Returns the reader so
/// that its final state (errors, incremental mark) can be read.
pub(super) fn produce(
    mut reader: SourceReader,
    transformer: Transformer,
    mut dedup: Dedup,
    mut phones: Option<PhoneOwners>,
    mut unmapped: Option<Unmapped>,
    tx: tokio::sync::mpsc::Sender<Vec<(Record, Step)>>,
) -> anyhow::Result<(SourceReader, Option<Unmapped>)> {
    let mut batch: Vec<SourceItem> = Vec::with_capacity(BATCH_ROWS);
    loop {
        batch.clear();
        batch.extend(reader.by_ref().take(BATCH_ROWS));
        if batch.is_empty() {
            break;
        }
        // Transform the well-formed rows of the batch on all cores, then walk the batch in
        // order: dedup depends on order, and so do the reports.
        // Borrowed, not cloned: the batch is walked again below to hand the records on.
        let rows: Vec<&Record> = batch
            .iter()
            .filter_map(|i| match i {
                SourceItem::Row(r) => Some(r),
                SourceItem::Malformed { .. } => None,
            })
            .collect();
        let results = apply_batch(&transformer, &rows);
        if let Some(u) = unmapped.as_mut() {
            rows.iter().for_each(|r| u.count(r));
        }
        drop(rows);
        let mut results = results.into_iter();
        let mut out = Vec::with_capacity(batch.len());
        for item in batch.drain(..) {
            let (rec, step) = match item {
                SourceItem::Malformed { raw, error } => (raw, Step::Reject(error)),
                SourceItem::Row(rec) => {
                    let step = match results.next().expect("one result per row") {
                        Err(e) => Step::Reject(e),
                        Ok(mut prepared) => match dedup.check(&prepared.body, rec.row) {
                            Err(e) => Step::Reject(e),
                            Ok(merged) => {
                                if let Some(body) = merged {
                                    prepared.body = body;
                                }
                                match phones.as_mut().map(|p| p.check(&prepared.body, rec.row)) {
                                    Some(Err(e)) => Step::Reject(e),
                                    _ => Step::Load(Box::new(prepared)),
                                }
                            }
                        },
                    };
                    (rec, step)
                }
            };
            out.push((rec, step));
        }
        if tx.blocking_send(out).is_err() {
            // The writer stopped (it failed); its error is the one to report.
            return Ok((reader, unmapped));
        }
    }
    Ok((reader, unmapped))
}

/// The planning pass of `keep: last` and `keep: merge`: every valid row, in order.
pub(super) fn planning_pass(
    src: &Source,
    t: &Transformer,
    keep: Keep,
    phone: bool,
) -> anyhow::Result<Plan> {
    let mut planner = Planner::new(keep, phone);
    let mut reader = SourceReader::open(src)?;
    loop {
        let batch: Vec<SourceItem> = reader.by_ref().take(BATCH_ROWS).collect();
        if batch.is_empty() {
            break;
        }
        let rows: Vec<Record> = batch
            .into_iter()
            .filter_map(|i| match i {
                SourceItem::Row(r) => Some(r),
                SourceItem::Malformed { .. } => None,
            })
            .collect();
        for (rec, res) in rows.iter().zip(apply_batch(t, &rows)) {
            if let Ok(prepared) = res {
                planner.note(&prepared.body, rec.row);
            }
        }
    }
    Ok(planner.finish())
}

pub(super) fn stream_from<T: Send + 'static>(
    mut rx: tokio::sync::mpsc::Receiver<T>,
) -> impl futures::Stream<Item = T> {
    futures::stream::poll_fn(move |cx| rx.poll_recv(cx))
}
