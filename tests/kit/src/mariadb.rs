//! A private MariaDB server for a test: its own data directory, a unix socket and TCP on a free
//! port of 127.0.0.1 only, and the binary log on, row by row with full images, as CDC needs.
//! Stopped and removed on drop. `tests/sql/ensure-mariadb.sh` installs the packages.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::emulator::free_port;

/// A running server.
pub struct MariaDb {
    server: Child,
    client: PathBuf,
    binlog_tool: PathBuf,
    socket: PathBuf,
    log_bin: PathBuf,
    /// Holds the data directory and the socket.
    _dir: tempfile::TempDir,
}

fn find(names: &[&str]) -> Option<PathBuf> {
    for name in names {
        for dir in ["/usr/sbin", "/usr/bin", "/usr/local/bin", "/usr/local/sbin"] {
            let path = Path::new(dir).join(name);
            if path.is_file() {
                return Some(path);
            }
        }
    }
    None
}

impl MariaDb {
    /// Installs a fresh data directory and starts the server.
    pub fn start() -> Result<MariaDb> {
        let missing =
            || "MariaDB is not installed: run tests/sql/ensure-mariadb.sh (as root, or with sudo)";
        let server = find(&["mariadbd", "mysqld"]).context(missing())?;
        let client = find(&["mariadb", "mysql"]).context(missing())?;
        let install = find(&["mariadb-install-db", "mysql_install_db"]).context(missing())?;
        let binlog_tool = find(&["mariadb-binlog", "mysqlbinlog"]).context(missing())?;
        // A unix socket path must stay short: a folder under /tmp.
        let dir = tempfile::Builder::new().prefix("mdb-").tempdir_in("/tmp")?;
        let data = dir.path().join("data");
        let as_root: &[&str] = if is_root() { &["--user=root"] } else { &[] };
        let init = Command::new(&install)
            .arg("--no-defaults")
            .arg(format!("--datadir={}", data.display()))
            .args(["--auth-root-authentication-method=normal", "--skip-test-db"])
            .args(as_root)
            .output()
            .context("running mariadb-install-db")?;
        if !init.status.success() {
            bail!(
                "mariadb-install-db failed: {}",
                String::from_utf8_lossy(&init.stderr)
            );
        }
        let socket = dir.path().join("s");
        let log_bin = dir.path().join("binlog");
        let port = free_port()?;
        let child = Command::new(&server)
            .arg("--no-defaults")
            .arg(format!("--datadir={}", data.display()))
            .arg(format!("--socket={}", socket.display()))
            .arg(format!("--port={port}"))
            .arg("--bind-address=127.0.0.1")
            .arg(format!("--pid-file={}", dir.path().join("pid").display()))
            .arg(format!("--log-error={}", dir.path().join("log").display()))
            .args([
                "--server-id=1",
                "--binlog-format=ROW",
                "--binlog-row-image=FULL",
            ])
            .arg(format!("--log-bin={}", log_bin.display()))
            .arg("--skip-name-resolve")
            .args(as_root)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("starting mariadbd")?;
        let mut db = MariaDb {
            server: child,
            client,
            binlog_tool,
            socket,
            log_bin,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = db.server.try_wait()? {
                bail!("mariadbd exited while starting ({status})");
            }
            if db.query("SELECT 1").is_ok() {
                return Ok(db);
            }
            if Instant::now() > deadline {
                bail!("mariadbd did not answer within 60 s");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn client(&self) -> Command {
        let mut command = Command::new(&self.client);
        command
            .arg("--no-defaults")
            .arg(format!("--socket={}", self.socket.display()))
            .arg("--user=root");
        command
    }

    /// Runs a SQL file.
    pub fn run_file(&self, path: &Path) -> Result<()> {
        let file = std::fs::File::open(path).with_context(|| format!("{}", path.display()))?;
        let out = self.client().stdin(file).output()?;
        if !out.status.success() {
            bail!(
                "{} failed: {}",
                path.display(),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(())
    }

    /// Runs SQL and returns the rows, each a list of column texts (`None` for NULL).
    pub fn query(&self, sql: &str) -> Result<Vec<Vec<Option<String>>>> {
        let out = self
            .client()
            .args(["--batch", "--skip-column-names", "--raw", "-e", sql])
            .output()?;
        if !out.status.success() {
            bail!("{sql}: {}", String::from_utf8_lossy(&out.stderr));
        }
        Ok(String::from_utf8(out.stdout)?
            .lines()
            .map(|line| {
                line.split('\t')
                    .map(|field| (field != "NULL").then(|| field.to_string()))
                    .collect()
            })
            .collect())
    }

    /// The row events of the binary log so far, decoded by `mariadb-binlog --verbose`: the
    /// pseudo-SQL lines (`### INSERT INTO ...`, `### SET`, `###   @1=...`) in commit order.
    pub fn binlog_rows(&self) -> Result<String> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(self.log_bin.parent().unwrap())?
            .filter_map(|entry| entry.ok().map(|e| e.path()))
            .filter(|path| {
                path.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with("binlog.") && !n.ends_with(".index"))
            })
            .collect();
        files.sort();
        let out = Command::new(&self.binlog_tool)
            .args(["--no-defaults", "--base64-output=DECODE-ROWS", "--verbose"])
            .args(&files)
            .output()?;
        if !out.status.success() {
            bail!("mariadb-binlog: {}", String::from_utf8_lossy(&out.stderr));
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }
}

impl Drop for MariaDb {
    fn drop(&mut self) {
        // SIGTERM for a clean shutdown; the data directory goes with `_dir`.
        let _ = Command::new("kill")
            .arg(self.server.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.server.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.server.kill();
        let _ = self.server.wait();
    }
}

fn is_root() -> bool {
    std::env::var("USER").map(|u| u == "root").unwrap_or(false)
        || Command::new("id")
            .arg("-u")
            .output()
            .map(|o| o.stdout.starts_with(b"0"))
            .unwrap_or(false)
}
