//! Inbox folders (`source.inbox`): which dropped files are ready, their content hash, where they
//! are moved; the record of every file taken is the store's (`store/inbox.rs`).
//!
//! A file is *ready* when its name matches the pattern, it is not hidden or named as still being
//! written (`.part`, `.tmp`, `.crdownload`, `~`), and it has not changed for the settle time.
//! A file is imported once per pipeline and location by its SHA-256: the same content dropped
//! again is moved to `done/` without a run, and a file whose run did not finish (a crash, a
//! stop) is run again — the run journal makes that resume without duplicates.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use anyhow::Context;
use sha2::Digest;

use crate::config::Inbox;

/// Name endings of files still being written by the usual tools (and the `.part` convention).
const IN_PROGRESS: &[&str] = &[".part", ".tmp", ".crdownload", ".partial", ".filepart", "~"];

/// A file of the inbox, as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dropped {
    /// Where it is.
    pub path: PathBuf,
    /// Its size in bytes.
    pub size: u64,
    /// Its last change.
    pub modified: SystemTime,
}

impl Dropped {
    /// The file's name.
    pub fn name(&self) -> String {
        self.path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    }

    /// Whether it is unchanged on disk since it was listed.
    pub fn unchanged(&self) -> bool {
        std::fs::metadata(&self.path)
            .is_ok_and(|m| m.len() == self.size && m.modified().ok() == Some(self.modified))
    }
}

/// The inbox's files at `now`: those ready to read (oldest first), and for those still settling
/// the earliest time one of them can be ready.
#[derive(Debug, Default)]
pub struct Listing {
    /// Ready, oldest change first (then by name).
    pub ready: Vec<Dropped>,
    /// Matching files not yet settled.
    pub settling: usize,
    /// When the first settling file becomes ready, if nothing changes it.
    pub next_ready: Option<SystemTime>,
}

/// Lists `inbox.dir` (not its subfolders).
pub fn list(inbox: &Inbox, now: SystemTime) -> std::io::Result<Listing> {
    let mut out = Listing::default();
    for entry in std::fs::read_dir(&inbox.dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with('.')
            || IN_PROGRESS.iter().any(|s| name.ends_with(s))
            || !inbox.matcher.is_match(name.as_ref())
        {
            continue;
        }
        let Ok(meta) = entry.metadata() else { continue };
        if !meta.is_file() {
            continue;
        }
        let modified = meta.modified()?;
        let ready_at = modified + inbox.settle;
        if ready_at <= now {
            out.ready.push(Dropped {
                path: entry.path(),
                size: meta.len(),
                modified,
            });
        } else {
            out.settling += 1;
            out.next_ready = Some(out.next_ready.map_or(ready_at, |t| t.min(ready_at)));
        }
    }
    out.ready
        .sort_by(|a, b| (a.modified, &a.path).cmp(&(b.modified, &b.path)));
    Ok(out)
}

/// The file's SHA-256, hex (what `sha256sum` prints).
pub fn sha256(path: &Path) -> std::io::Result<String> {
    let mut f = std::fs::File::open(path)?;
    let mut h = sha2::Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(h.finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<String>())
}

/// Moves `file` into `dir` (created if needed) without replacing anything there: as its own
/// name, else `<stem>.<tag>.<ext>`, else with `-2`, `-3`, …. The file appears whole (a hard
/// link, or a copy persisted by rename across file systems) before the original is removed.
pub fn move_into(file: &Path, dir: &Path, tag: &str) -> anyhow::Result<PathBuf> {
    crate::disk::create_private_dir(dir)?;
    let name = file
        .file_name()
        .context("a file to move has no name")?
        .to_string_lossy()
        .into_owned();
    for candidate in candidates(&name, tag) {
        let dest = dir.join(&candidate);
        match std::fs::hard_link(file, &dest) {
            Ok(()) => {
                std::fs::remove_file(file)
                    .with_context(|| format!("removing {} after moving it", file.display()))?;
                return Ok(dest);
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(_) => {
                // Another file system (or one without hard links): copy, then rename into place
                // only if the name is still free.
                let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
                std::io::copy(&mut std::fs::File::open(file)?, tmp.as_file_mut())?;
                tmp.as_file().sync_all()?;
                match tmp.persist_noclobber(&dest) {
                    Ok(_) => {
                        std::fs::remove_file(file)?;
                        return Ok(dest);
                    }
                    Err(e) if e.error.kind() == std::io::ErrorKind::AlreadyExists => continue,
                    Err(e) => {
                        return Err(e.error)
                            .with_context(|| format!("moving to {}", dest.display()))
                    }
                }
            }
        }
    }
    anyhow::bail!("no free name for {name} in {}", dir.display())
}

/// Moves the folder `from` to `to` (which must not exist); across file systems, copied then
/// removed.
pub fn move_folder(from: &Path, to: &Path) -> anyhow::Result<()> {
    if to.exists() {
        anyhow::bail!("{} exists already", to.display());
    }
    if std::fs::rename(from, to).is_ok() {
        return Ok(());
    }
    copy_tree(from, to)
        .with_context(|| format!("copying {} to {}", from.display(), to.display()))?;
    std::fs::remove_dir_all(from).with_context(|| format!("removing {}", from.display()))
}

fn copy_tree(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir(to)?;
    for e in std::fs::read_dir(from)? {
        let e = e?;
        let dest = to.join(e.file_name());
        if e.file_type()?.is_dir() {
            copy_tree(&e.path(), &dest)?;
        } else {
            std::fs::copy(e.path(), dest)?;
        }
    }
    Ok(())
}

/// Names to try for `name` in a folder: itself, then tagged, then numbered.
fn candidates(name: &str, tag: &str) -> impl Iterator<Item = String> + use<> {
    let (stem, ext) = match name.rfind('.').filter(|i| *i > 0) {
        Some(i) => (&name[..i], &name[i..]),
        None => (name, ""),
    };
    let first = [name.to_owned(), format!("{stem}.{tag}{ext}")];
    let (stem, ext, tag) = (stem.to_owned(), ext.to_owned(), tag.to_owned());
    let numbered = (2..1000).map(move |n| format!("{stem}.{tag}-{n}{ext}"));
    first.into_iter().chain(numbered)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn inbox(dir: &Path, pattern: &str, settle: u64) -> Inbox {
        Inbox {
            dir: dir.to_owned(),
            pattern: pattern.into(),
            matcher: globset::Glob::new(pattern).unwrap().compile_matcher(),
            done: dir.join("done"),
            failed: dir.join("failed"),
            settle: Duration::from_secs(settle),
        }
    }

    #[test]
    fn only_settled_matching_visible_files_are_ready_oldest_first() {
        let d = tempfile::tempdir().unwrap();
        for n in [
            "b.csv",
            "a.csv",
            "c.csv.part",
            ".hidden.csv",
            "notes.txt",
            "d.tmp",
        ] {
            std::fs::write(d.path().join(n), "x").unwrap();
        }
        std::fs::create_dir(d.path().join("sub.csv")).unwrap();
        let old = SystemTime::now() - Duration::from_secs(60);
        let f = std::fs::File::options()
            .write(true)
            .open(d.path().join("b.csv"))
            .unwrap();
        f.set_modified(old).unwrap();
        let ib = inbox(d.path(), "*.csv", 10);
        let now = SystemTime::now();
        let l = list(&ib, now).unwrap();
        let names: Vec<String> = l.ready.iter().map(Dropped::name).collect();
        assert_eq!(names, ["b.csv"], "a.csv changed under 10 s ago");
        assert_eq!(l.settling, 1);
        assert!(l.next_ready.unwrap() > now);
        let l = list(&ib, now + Duration::from_secs(11)).unwrap();
        let names: Vec<String> = l.ready.iter().map(Dropped::name).collect();
        assert_eq!(names, ["b.csv", "a.csv"], "oldest first");
        assert!(l.ready[0].unchanged());
        std::fs::write(d.path().join("b.csv"), "xy").unwrap();
        assert!(
            !l.ready[0].unchanged(),
            "a file written since it was listed"
        );
    }

    #[test]
    fn moves_never_replace_a_file_and_the_hash_is_sha256() {
        let d = tempfile::tempdir().unwrap();
        let src = d.path().join("in");
        std::fs::create_dir(&src).unwrap();
        let done = d.path().join("done");
        let mut moved = Vec::new();
        for content in ["one", "two", "three"] {
            let f = src.join("list.csv");
            std::fs::write(&f, content).unwrap();
            if content == "one" {
                assert_eq!(
                    sha256(&f).unwrap(),
                    "7692c3ad3540bb803c020b3aee66cd8887123234ea0c6e7143c0add73ff431ed"
                );
            }
            moved.push(move_into(&f, &done, "20261129T000000Z").unwrap());
            assert!(!f.exists());
        }
        let names: Vec<String> = moved
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            names,
            [
                "list.csv",
                "list.20261129T000000Z.csv",
                "list.20261129T000000Z-2.csv"
            ]
        );
        let read = |p: &PathBuf| std::fs::read_to_string(p).unwrap();
        assert_eq!(
            moved.iter().map(read).collect::<Vec<_>>(),
            ["one", "two", "three"]
        );
    }
}
