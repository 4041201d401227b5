//! File-system events on the inbox folders (the notify crate), with polling where there are
//! none.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use super::{Entry, INBOX_POLL};
use crate::progress::warning;

/// File-system events on the inbox folders (the notify crate), or polling when they cannot be
/// had (no inotify watches left, a network file system that sends none).
pub(super) struct Events {
    watcher: Option<notify::RecommendedWatcher>,
    rx: std::sync::mpsc::Receiver<notify::Result<notify::Event>>,
    watched: Vec<PathBuf>,
    told: bool,
}

impl Events {
    pub(super) fn new() -> Events {
        let (tx, rx) = std::sync::mpsc::channel();
        let watcher = notify::recommended_watcher(tx)
            .map_err(|e| {
                warning(&format!(
                    "serve: no file-system events ({e}); polling inboxes every {} s",
                    INBOX_POLL.1.as_secs()
                ))
            })
            .ok();
        Events {
            told: watcher.is_none(),
            watcher,
            rx,
            watched: Vec::new(),
        }
    }

    /// Watches exactly these folders.
    pub(super) fn watch<'a>(&mut self, dirs: impl Iterator<Item = &'a Path>) {
        use notify::Watcher;
        let dirs: Vec<PathBuf> = dirs.map(Path::to_path_buf).collect();
        let Some(w) = self.watcher.as_mut() else {
            return;
        };
        for old in self.watched.iter().filter(|d| !dirs.contains(d)) {
            let _ = w.unwatch(old);
        }
        let mut failed = false;
        for d in dirs.iter().filter(|d| !self.watched.contains(d)) {
            if let Err(e) = w.watch(d, notify::RecursiveMode::NonRecursive) {
                failed = true;
                if !self.told {
                    warning(&format!(
                        "serve: no file-system events for {} ({e}); polling it every {} s",
                        d.display(),
                        INBOX_POLL.1.as_secs()
                    ));
                }
            }
        }
        self.told |= failed;
        self.watched = dirs;
    }

    /// How often inboxes are looked at without an event.
    pub(super) fn poll(&self) -> Duration {
        match (&self.watcher, self.told) {
            (Some(_), false) => INBOX_POLL.0,
            _ => INBOX_POLL.1,
        }
    }

    /// Marks the inbox pipelines whose folder had an event as to be looked at now.
    pub(super) fn wake(&mut self, entries: &mut BTreeMap<PathBuf, Entry>) {
        let mut touched: Vec<PathBuf> = Vec::new();
        while let Ok(ev) = self.rx.try_recv() {
            let Ok(ev) = ev else { continue };
            touched.extend(
                ev.paths
                    .iter()
                    .filter_map(|p| p.parent().map(Path::to_path_buf)),
            );
        }
        if touched.is_empty() {
            return;
        }
        let now = SystemTime::now();
        for e in entries.values_mut() {
            let dir = e
                .pipeline
                .as_ref()
                .and_then(|p| p.inbox.as_ref())
                .map(|i| &i.dir);
            if let (Some(st), Some(dir)) = (e.inbox.as_mut(), dir) {
                if touched.iter().any(|t| same_dir(t, dir)) {
                    st.check_at = st.check_at.min(now);
                }
            }
        }
    }
}

/// Whether two paths name the same folder.
fn same_dir(a: &Path, b: &Path) -> bool {
    a == b
        || std::fs::canonicalize(a)
            .ok()
            .zip(std::fs::canonicalize(b).ok())
            .is_some_and(|(a, b)| a == b)
}
