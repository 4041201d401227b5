//! Files written the tool's way: private folders (0700), atomic replacement (a temp file in the
//! same folder, fsynced, renamed, so a crash never leaves half a file), and the names and times
//! our files carry.

use std::io::Write;
use std::path::Path;

use anyhow::Context;

/// `20261129T214500Z`: the UTC second `at`, as report folders, run ids and new export files
/// name it.
pub fn stamp(at: time::OffsetDateTime) -> String {
    at.format(time::macros::format_description!(
        "[year][month][day]T[hour][minute][second]Z"
    ))
    .unwrap_or_else(|_| "run".into())
}

/// `at` in RFC 3339, as every file and log of ours writes times.
pub fn rfc3339(at: time::OffsetDateTime) -> String {
    at.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// An RFC 3339 time as our files and the API write them, if it is one.
pub fn parse_rfc3339(text: &str) -> Option<time::OffsetDateTime> {
    time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).ok()
}

/// A file name for state of `pipeline` at `location`: letters, digits, `-` and `_` kept, the rest `_`.
pub fn file_key(pipeline: &str, location: &str) -> String {
    let clean = |s: &str| -> String {
        s.chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .collect()
    };
    format!("{}--{}", clean(pipeline), clean(location))
}

/// Creates `dir` (and its parents) readable by the owner only (0700 on Unix): state and reports
/// hold customer data.
pub fn create_private_dir(dir: &Path) -> anyhow::Result<()> {
    let mut b = std::fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
    b.create(dir)
        .with_context(|| format!("creating {}", dir.display()))
}

/// Writes `body` to `path` through a temp file in the same folder, fsynced, then renamed.
pub fn write_atomically(path: &Path, body: &[u8]) -> anyhow::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    create_private_dir(dir)?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir)
        .with_context(|| format!("writing in {}", dir.display()))?;
    tmp.write_all(body)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path)
        .with_context(|| format!("replacing {}", path.display()))?;
    Ok(())
}
