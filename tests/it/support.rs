//! Starting a pair of hubs the way the demo does, on ephemeral loopback ports.

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
