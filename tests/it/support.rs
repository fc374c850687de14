//! Starting a pair of hubs the way the demo does, on ephemeral loopback ports;
//! running the `entrex` binary.

use std::io::{Read, Write};
use std::time::Duration;

use entrex::client::Client;
use entrex::hub::Hub;

pub struct Pair {
    // Held so the hubs' files live as long as the pair.
    _dir: tempfile::TempDir,
    pub ca: Hub,
    pub us: Hub,
    pub ca_client: Client,
    pub us_client: Client,
}

pub async fn start_pair() -> Pair {
    let dir = tempfile::tempdir().unwrap();
    let mut prepared = entrex::demo::prepare_pair(dir.path()).await.unwrap();
    let (us_settings, us_listener, _) = prepared.pop().unwrap();
    let (ca_settings, ca_listener, _) = prepared.pop().unwrap();
    let ca = Hub::start(ca_settings, ca_listener).await.unwrap();
    let us = Hub::start(us_settings, us_listener).await.unwrap();
    let ca_client = ca.client();
    let us_client = us.client();
    Pair {
        _dir: dir,
        ca,
        us,
        ca_client,
        us_client,
    }
}

impl Pair {
    /// A file of the pair's directory (keys/ca.cert.pem, ...).
    pub fn path(&self, name: &str) -> std::path::PathBuf {
        self._dir.path().join(name)
    }

    /// `entrex ARGS --hub https://CA --hub-cert ... --client-cert ...`: the
    /// CLI against the CA hub, with its own certificate as credential (the
    /// demo grants it source, analyst and operator).
    pub async fn ca_cli(&self, args: &[&str]) -> std::process::Output {
        let file = |name: &str| self.path(name).to_str().unwrap().to_owned();
        let mut all: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        all.extend([
            "--hub".to_owned(),
            format!("https://{}", self.ca.addr),
            "--hub-cert".to_owned(),
            file("keys/ca.cert.pem"),
            "--client-cert".to_owned(),
            file("keys/ca.cert.pem"),
            "--client-key".to_owned(),
            file("keys/ca.tls.key.pem"),
        ]);
        tokio::task::spawn_blocking(move || {
            let args: Vec<&str> = all.iter().map(String::as_str).collect();
            entrex(&args)
        })
        .await
        .unwrap()
    }

    pub async fn settle(&self) {
        entrex::demo::settle(&[&self.ca_client, &self.us_client])
            .await
            .unwrap();
    }

    pub async fn shutdown(self) {
        self.ca.shutdown().await;
        self.us.shutdown().await;
    }
}

/// Runs the `entrex` binary with `args` and waits for it.
pub fn entrex(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_entrex"))
        .args(args)
        .output()
        .expect("the entrex binary runs")
}

/// A finished command's status and both outputs, for assertion messages.
pub fn text(output: &std::process::Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// The configuration of a hub served by the real binary over plain HTTP,
/// with no partner and anonymous access, so a test can speak raw HTTP.
pub fn plain_config(dir: &std::path::Path, port: u16) -> std::path::PathBuf {
    let keys = dir.join("keys");
    entrex::keys::generate(&keys, "ca").unwrap();
    let path = dir.join("ca.toml");
    std::fs::write(
        &path,
        format!(
            r#"[hub]
id = "CA"
listen = "127.0.0.1:{port}"
data_dir = "data"
signing_key = "keys/ca.key.pem"
allow_plain_http = true

# The test speaks raw HTTP, without a credential.
[access]
allow_anonymous = true

[plugins.normaliser]
component = "builtin:ca-normaliser"
[plugins.eligibility]
component = "builtin:phase2-eligibility"
config = {{ ports = "*" }}
[plugins.matcher]
component = "builtin:biographic-matcher"
[plugins.transport]
component = "builtin:https-transport"
"#
        ),
    )
    .unwrap();
    path
}

pub fn healthy(addr: &str) -> bool {
    let Ok(mut conn) = std::net::TcpStream::connect(addr) else {
        return false;
    };
    let _ = conn.set_read_timeout(Some(Duration::from_secs(5)));
    let mut answer = String::new();
    write!(
        conn,
        "GET /healthz HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\n\r\n"
    )
    .is_ok()
        && conn.read_to_string(&mut answer).is_ok()
        && answer.starts_with("HTTP/1.1 200")
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A tmpfs mounted for one test, unmounted when dropped.
pub struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    pub fn mount(size: &str) -> Result<Tmpfs, String> {
        let dir = tempfile::tempdir().unwrap();
        let out = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .output()
            .map_err(|e| e.to_string())?;
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).trim().to_owned());
        }
        Ok(Tmpfs { dir })
    }

    pub fn path(&self) -> &std::path::Path {
        self.dir.path()
    }

    /// Writes a file until the file system is full; returns its path.
    pub fn fill(&self) -> std::path::PathBuf {
        use std::io::Write;
        let path = self.path().join("filler");
        let mut file = std::fs::File::create(&path).unwrap();
        let chunk = vec![0u8; 4096];
        loop {
            match file.write(&chunk) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) if e.raw_os_error() == Some(28) => break, // ENOSPC
                Err(e) => panic!("filling {}: {e}", path.display()),
            }
        }
        // The last page may have room for a few bytes: take them too.
        while let Ok(n) = file.write(&chunk[..1]) {
            if n == 0 {
                break;
            }
        }
        path
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let unmounted = std::process::Command::new("umount")
            .arg(self.dir.path())
            .status()
            .is_ok_and(|s| s.success());
        if !unmounted {
            let _ = std::process::Command::new("umount")
                .arg("-l")
                .arg(self.dir.path())
                .status();
        }
    }
}
