//! A throwaway PostgreSQL cluster as users run it: Debian's `postgresql` binaries, `initdb` in a
//! temporary folder, the server on a free port of 127.0.0.1 with password (SCRAM) login, run as
//! the unprivileged `postgres` user when the tests run as root. Stopped when dropped.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The role and password of the test cluster.
pub const USER: &str = "ghl";
/// Its password: the tests check it is in no output.
pub const PASSWORD: &str = "pg-Secret-4711";

/// A running cluster.
pub struct Pg {
    server: Child,
    bin: PathBuf,
    data: PathBuf,
    _dir: tempfile::TempDir,
    /// Its port on 127.0.0.1.
    pub port: u16,
}

impl Drop for Pg {
    fn drop(&mut self) {
        // The server itself, not `runuser` (which passes no signal on): pg_ctl's fast shutdown.
        let _ = as_owner(&self.bin.join("pg_ctl"))
            .arg("-D")
            .arg(&self.data)
            .args(["-m", "fast", "-w", "-t", "20", "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let _ = self.server.kill();
        let _ = self.server.wait();
    }
}

/// The folder of Debian's PostgreSQL programs (`initdb` on the PATH, else the newest
/// `/usr/lib/postgresql/<version>/bin`).
fn bindir() -> PathBuf {
    if let Ok(out) = Command::new("sh")
        .args(["-c", "command -v initdb"])
        .output()
    {
        let p = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        if !p.is_empty() {
            let real = std::fs::canonicalize(&p).unwrap_or_else(|_| PathBuf::from(&p));
            return real.parent().unwrap().to_path_buf();
        }
    }
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .expect("PostgreSQL is installed (.ci/run installs Debian's postgresql)")
        .map(|e| e.unwrap().path().join("bin"))
        .filter(|p| p.join("initdb").is_file())
        .collect();
    versions.sort();
    versions.pop().expect("an initdb under /usr/lib/postgresql")
}

/// `program` with `args`, as the unprivileged `postgres` user when we are root.
fn as_owner(program: &Path) -> Command {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(program);
        c
    } else {
        Command::new(program)
    }
}

impl Pg {
    /// Starts a cluster with the role [`USER`] (password [`PASSWORD`]) owning database `ghl`.
    pub fn start() -> Pg {
        let bin = bindir();
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let pwfile = dir.path().join("pw");
        std::fs::write(&pwfile, PASSWORD).unwrap();
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } == 0 {
            let st = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(dir.path())
                .status()
                .unwrap();
            assert!(st.success(), "chown the cluster's folder to postgres");
        }
        let out = as_owner(&bin.join("initdb"))
            .arg("-D")
            .arg(&data)
            .args([
                "-U",
                USER,
                "--auth=scram-sha-256",
                "--encoding=UTF8",
                "--locale=C",
            ])
            .arg(format!("--pwfile={}", pwfile.display()))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "initdb: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let port = free_port();
        let server = as_owner(&bin.join("postgres"))
            .arg("-D")
            .arg(&data)
            .args(["-p", &port.to_string(), "-c", "listen_addresses=127.0.0.1"])
            .arg("-c")
            .arg(format!("unix_socket_directories={}", dir.path().display()))
            .args(["-c", "fsync=off"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let pg = Pg {
            server,
            bin,
            data,
            _dir: dir,
            port,
        };
        pg.wait_ready();
        pg.sql("postgres", "CREATE DATABASE ghl OWNER ghl");
        pg
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "PostgreSQL did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        // Accepting connections is not yet accepting logins.
        while Command::new("psql")
            .args(["-w", "-c", "select 1", &self.url_of("postgres", PASSWORD)])
            .output()
            .map_or(true, |o| !o.status.success())
        {
            assert!(Instant::now() < deadline, "PostgreSQL did not take logins");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The URL of database `db` with `password`.
    pub fn url_of(&self, db: &str, password: &str) -> String {
        format!("postgres://{USER}:{password}@127.0.0.1:{}/{db}", self.port)
    }

    /// The URL of database `ghl`.
    pub fn url(&self) -> String {
        self.url_of("ghl", PASSWORD)
    }

    /// Runs `sql` in database `db` (psql, stopping at the first error).
    pub fn sql(&self, db: &str, sql: &str) {
        let out = Command::new("psql")
            .args([
                "-w",
                "-v",
                "ON_ERROR_STOP=1",
                "-q",
                "-c",
                sql,
                &self.url_of(db, PASSWORD),
            ])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "psql: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// A port no one listens on now.
fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}
