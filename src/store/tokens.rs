//! The token store: one JSON file per location in a state directory (XDG data dir by default),
//! mode 0600 in a 0700 directory, replaced atomically (temp file in the same directory, fsync,
//! rename, fsync of the directory) so that a crash leaves the old file or the new one, never a
//! torn one. An exclusive lock file per location serialises refreshes across processes.
//!
//! An agency (Company) grant is stored the same way under the key `agency-<companyId>`; the
//! location tokens it mints are never stored (they have no refresh token and are minted again).

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use ghl_client::auth::tokens::{crash_point, LockFuture, TokenVault, AGENCY_PREFIX};
pub use ghl_client::auth::tokens::{Tokens, UserType};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

/// Format version of a token file.
const STORE_VERSION: u32 = 1;

/// The file's shape.
#[derive(Serialize, Deserialize)]
struct TokenFile {
    version: u32,
    #[serde(default)]
    user_type: UserType,
    location_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    company_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    app_id: Option<String>,
    client_id: String,
    token_url: String,
    scopes: Vec<String>,
    access_token: String,
    refresh_token: String,
    expires_at: i64,
    obtained_at: i64,
}

/// A directory of token files.
#[derive(Debug, Clone)]
pub struct TokenStore {
    dir: PathBuf,
}

impl TokenStore {
    /// The store in `state_dir/tokens`, or the default one.
    pub(super) fn new(state_dir: Option<&Path>) -> Self {
        TokenStore {
            dir: match state_dir {
                Some(d) => d.join("tokens"),
                None => default_data_dir().join("tokens"),
            },
        }
    }

    /// Its directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The file of `location`.
    pub fn path(&self, location: &str) -> PathBuf {
        self.dir.join(format!("{}.json", file_stem(location)))
    }

    fn lock_path(&self, location: &str) -> PathBuf {
        self.dir.join(format!("{}.lock", file_stem(location)))
    }

    /// Reads the tokens of `location`; `None` when there are none.
    pub fn load(&self, location: &str) -> anyhow::Result<Option<Tokens>> {
        let path = self.path(location);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
        };
        let f: TokenFile = serde_json::from_str(&text).map_err(|e| {
            anyhow::anyhow!(
                "{} is not a token file of this tool (line {}, column {}); run `ghl-import auth login` again",
                path.display(),
                e.line(),
                e.column()
            )
        })?;
        anyhow::ensure!(
            f.version == STORE_VERSION,
            "{} has token file version {}, this build reads {STORE_VERSION}",
            path.display(),
            f.version
        );
        Ok(Some(Tokens {
            user_type: f.user_type,
            location_id: f.location_id,
            company_id: f.company_id,
            app_id: f.app_id,
            client_id: f.client_id,
            token_url: f.token_url,
            scopes: f.scopes,
            access_token: SecretString::from(f.access_token),
            refresh_token: SecretString::from(f.refresh_token),
            expires_at: f.expires_at,
            obtained_at: f.obtained_at,
        }))
    }

    /// Replaces the tokens of their location atomically: a new file (0600) in the same
    /// directory, written and fsynced, renamed over the old one, then the directory fsynced.
    pub fn save(&self, t: &Tokens) -> anyhow::Result<()> {
        self.ensure_dir()?;
        let f = TokenFile {
            version: STORE_VERSION,
            user_type: t.user_type,
            location_id: t.location_id.clone(),
            company_id: t.company_id.clone(),
            app_id: t.app_id.clone(),
            client_id: t.client_id.clone(),
            token_url: t.token_url.clone(),
            scopes: t.scopes.clone(),
            access_token: t.access_token.expose_secret().to_owned(),
            refresh_token: t.refresh_token.expose_secret().to_owned(),
            expires_at: t.expires_at,
            obtained_at: t.obtained_at,
        };
        let bytes = serde_json::to_vec_pretty(&f)?;
        let path = self.path(&t.key());
        // tempfile creates the file with mode 0600.
        let mut tmp = tempfile::Builder::new()
            .prefix(".tokens-")
            .tempfile_in(&self.dir)
            .with_context(|| format!("creating a file in {}", self.dir.display()))?;
        tmp.write_all(&bytes)?;
        tmp.as_file().sync_all()?;
        crash_point("before-rename");
        tmp.persist(&path)
            .map_err(|e| e.error)
            .with_context(|| format!("replacing {}", path.display()))?;
        if let Ok(d) = std::fs::File::open(&self.dir) {
            let _ = d.sync_all();
        }
        Ok(())
    }

    /// Deletes the tokens of `location`; whether there were any.
    pub fn remove(&self, location: &str) -> anyhow::Result<bool> {
        match std::fs::remove_file(self.path(location)) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(e).context("removing the token file"),
        }
    }

    /// Every location with stored tokens.
    pub fn locations(&self) -> Vec<String> {
        let mut out = self.keys();
        out.retain(|k| !k.starts_with(AGENCY_PREFIX));
        out
    }

    /// Every agency (company id) with a stored grant.
    pub fn agencies(&self) -> Vec<String> {
        self.keys()
            .iter()
            .filter_map(|k| k.strip_prefix(AGENCY_PREFIX).map(str::to_owned))
            .collect()
    }

    fn keys(&self) -> Vec<String> {
        let mut out: Vec<String> = std::fs::read_dir(&self.dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                name.strip_suffix(".json")
                    .filter(|n| !n.starts_with('.'))
                    .map(str::to_owned)
            })
            .collect();
        out.sort();
        out
    }

    fn ensure_dir(&self) -> anyhow::Result<()> {
        std::fs::create_dir_all(&self.dir)
            .with_context(|| format!("creating {}", self.dir.display()))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&self.dir, std::fs::Permissions::from_mode(0o700))
                .with_context(|| format!("restricting {}", self.dir.display()))?;
        }
        Ok(())
    }

    /// Takes the exclusive lock of `location` (a lock file next to its tokens; `flock`, so it is
    /// released when the holder exits, even by a crash), waiting up to a minute for another
    /// process to release it.
    pub async fn lock(&self, location: &str) -> anyhow::Result<StoreLock> {
        self.ensure_dir()?;
        let path = self.lock_path(location);
        let f = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .with_context(|| format!("opening {}", path.display()))?;
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
        loop {
            match f.try_lock() {
                Ok(()) => return Ok(StoreLock(f)),
                Err(std::fs::TryLockError::WouldBlock) => {
                    if tokio::time::Instant::now() > deadline {
                        anyhow::bail!(
                            "another process has held the token lock of {location} for over a minute"
                        );
                    }
                    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                }
                Err(std::fs::TryLockError::Error(e)) => {
                    return Err(e).with_context(|| format!("locking {}", path.display()))
                }
            }
        }
    }
}

impl TokenStore {
    /// This store as the client's [`TokenVault`].
    pub fn vault(&self) -> std::sync::Arc<dyn TokenVault> {
        std::sync::Arc::new(self.clone())
    }
}

impl TokenVault for TokenStore {
    fn load(&self, key: &str) -> anyhow::Result<Option<Tokens>> {
        TokenStore::load(self, key)
    }
    fn save(&self, t: &Tokens) -> anyhow::Result<()> {
        TokenStore::save(self, t)
    }
    fn lock<'a>(&'a self, key: &'a str) -> LockFuture<'a> {
        Box::pin(async move {
            let held = TokenStore::lock(self, key).await?;
            Ok(Box::new(held) as ghl_client::auth::tokens::VaultLock)
        })
    }
    fn agencies(&self) -> Vec<String> {
        TokenStore::agencies(self)
    }
    fn place(&self, key: &str) -> String {
        self.path(key).display().to_string()
    }
    fn describe(&self) -> String {
        self.dir.display().to_string()
    }
}

/// An exclusive lock on a location's tokens, released when dropped.
#[derive(Debug)]
pub struct StoreLock(#[allow(dead_code)] std::fs::File);

/// `$XDG_DATA_HOME/ghl-import`, else `~/.local/share/ghl-import`, else `.ghl-import`.
pub fn default_data_dir() -> PathBuf {
    let xdg = std::env::var_os("XDG_DATA_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute());
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .map(|h| h.join(".local/share"));
    match xdg.or(home) {
        Some(d) => d.join("ghl-import"),
        None => PathBuf::from(".ghl-import"),
    }
}

/// A location id as a file name (ids are alphanumeric; anything else is replaced).
fn file_stem(location: &str) -> String {
    location
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(refresh: &str) -> Tokens {
        Tokens {
            user_type: UserType::Location,
            location_id: "loc/1".into(),
            company_id: None,
            app_id: None,
            client_id: "c".into(),
            token_url: "http://x/oauth/token".into(),
            scopes: vec!["contacts.readonly".into()],
            access_token: SecretString::from("at-secret"),
            refresh_token: SecretString::from(refresh.to_owned()),
            expires_at: 100,
            obtained_at: 1,
        }
    }

    #[test]
    fn saves_atomically_with_private_permissions_and_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let store = TokenStore::new(Some(dir.path()));
        assert!(store.load("loc/1").unwrap().is_none());
        store.save(&tokens("rt-1")).unwrap();
        store.save(&tokens("rt-2")).unwrap();
        let back = store.load("loc/1").unwrap().unwrap();
        assert_eq!(back.refresh_token.expose_secret(), "rt-2");
        assert_eq!(store.locations(), ["loc_1"]);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(store.path("loc/1"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
            let dmode = std::fs::metadata(store.dir()).unwrap().permissions().mode();
            assert_eq!(dmode & 0o777, 0o700);
        }
        // No temp files left behind.
        let names: Vec<_> = std::fs::read_dir(store.dir())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 1, "{names:?}");
        assert!(store.remove("loc/1").unwrap());
        assert!(!store.remove("loc/1").unwrap());
    }

    #[tokio::test]
    async fn the_lock_is_exclusive_until_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let store = TokenStore::new(Some(dir.path()));
        let first = store.lock("L").await.unwrap();
        let other = store.clone();
        let waiter = tokio::spawn(async move { other.lock("L").await.map(|_| ()) });
        tokio::time::sleep(std::time::Duration::from_millis(150)).await;
        assert!(!waiter.is_finished(), "a second holder got the lock");
        drop(first);
        tokio::time::timeout(std::time::Duration::from_secs(2), waiter)
            .await
            .expect("acquired after release")
            .unwrap()
            .unwrap();
    }

    #[test]
    fn a_damaged_file_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let store = TokenStore::new(Some(dir.path()));
        std::fs::create_dir_all(store.dir()).unwrap();
        std::fs::write(store.path("L"), "{not json").unwrap();
        let e = store.load("L").unwrap_err().to_string();
        assert!(e.contains("auth login"), "{e}");
    }
}
