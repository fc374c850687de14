//! The operators' dashboard, end to end: two real hubs exchange a generated
//! month of crossings, the US hub then goes down so the Canadian hub has a
//! backlog and a failing delivery, and headless Chromium (Debian's
//! `chromium`, installed by `tests/run.sh`) opens the Canadian hub's
//! `/dashboard#token=…` over TLS. What it renders must match `/v1/status`,
//! `/v1/report` and `/v1/report/breakdown`; a screenshot is saved under the
//! target directory.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use entrex::auth::{Role, TokenEntry};
use entrex::hub::Hub;
use entrex::report::Status;
use hyper::{Method, StatusCode};
use sha2::{Digest, Sha256};

/// Debian's Chromium, or the one `ENTREX_CHROMIUM` names (as in
/// `tests/run.sh`).
fn chromium_path() -> PathBuf {
    std::env::var_os("ENTREX_CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"))
}

/// Shareable entries into Canada posted while the US hub is down.
const LATE_BATCH: &str = "record_id,surname,given_name,middle_names,birth_date,sex,nationality,other_citizenships,residency,doc_type,doc_number,doc_issuer,entry_time,port_code,mode,authorised_until
DASH-1,Müller,Hans,Peter,1980-04-12,M,DEU,,,P,C01X00T47,D,2026-11-21T10:00:00Z,0427,VEHICLE,2027-05-20
DASH-2,Patel,Ravi,Kumar,1988-07-09,M,IND,,US-LPR,P,Z1234567,IND,2026-11-21T11:00:00-05:00,0453,BUS,
DASH-3,García López,José,,1979-12-31,M,MEX,,CA-PR,P,G12345678,MEX,2026-11-21T13:30:00Z,0708,ferry,
";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_shows_queues_bundles_throughput_and_reconciliation_in_chromium() {
    let chromium_path = chromium_path();
    assert!(
        chromium_path.exists(),
        "{} is not installed: the dashboard test drives headless Chromium; install the Debian package chromium with `apt-get install -y chromium` (tests/run.sh does)",
        chromium_path.display()
    );
    let dir = tempfile::tempdir().unwrap();
    let mut prepared = entrex::demo::prepare_pair(dir.path()).await.unwrap();
    let (us_settings, us_listener, _) = prepared.pop().unwrap();
    let (mut ca_settings, ca_listener, _) = prepared.pop().unwrap();
    // The dashboard's token: status needs the operator role, the
    // reconciliation charts the analyst role.
    let (token, hash) = entrex::auth::new_token();
    let mut sha256 = [0u8; 32];
    sha256.copy_from_slice(&hex::decode(hash).unwrap());
    ca_settings.access.tokens.push(TokenEntry {
        name: "dashboard".into(),
        roles: vec![Role::Operator, Role::Analyst],
        sha256,
    });
    let ca_key = ca_settings.tls.as_ref().unwrap().key.clone();
    let ca = Hub::start(ca_settings, ca_listener).await.unwrap();
    let us = Hub::start(us_settings, us_listener).await.unwrap();
    let (ca_client, us_client) = (ca.client(), us.client());

    // A month of history, then the day, a sampling interval apart so the
    // throughput chart has something to show.
    let data = entrex::generator::generate(&entrex::generator::Config {
        batch_records: 200,
        ..entrex::generator::Config::new(6, 600)
    });
    for (ca_batches, us_batches) in [
        (&data.history.ca, &data.history.us),
        (&data.day.ca, &data.day.us),
    ] {
        let (a, b) = tokio::join!(
            entrex::demo::post_all(&ca_client, "text/csv", ca_batches),
            entrex::demo::post_all(&us_client, "application/json", us_batches)
        );
        a.unwrap();
        b.unwrap();
        entrex::demo::settle(&[&ca_client, &us_client])
            .await
            .unwrap();
        tokio::time::sleep(entrex::throughput::INTERVAL).await;
    }

    // The partner goes away: what the Canadian hub shares now waits.
    us.shutdown().await;
    let late = ca_client
        .post_crossings("text/csv", LATE_BATCH.as_bytes().to_vec())
        .await
        .unwrap();
    assert_eq!(late.shared, 3, "{late:?}");
    let deadline = Instant::now() + Duration::from_secs(60);
    let before = loop {
        let status = ca_client.status().await.unwrap();
        let us_side = &status.partners[0];
        if us_side.delivery_error.is_some()
            && us_side
                .last_bundle_sent
                .as_ref()
                .unwrap()
                .acknowledged_at
                .is_none()
        {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "no failed delivery after 60 s: {us_side:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let report = ca_client.report(None, None).await.unwrap();
    let (code, breakdown) = ca_client
        .request(
            Method::GET,
            "/v1/report/breakdown",
            "application/json",
            Vec::new(),
        )
        .await
        .unwrap();
    assert_eq!(code, StatusCode::OK);
    let breakdown: entrex::report::Breakdown = serde_json::from_slice(&breakdown).unwrap();
    // The day of exits (2026-11-21) by hour; a step that is not whole hours is refused.
    let day = entrex::generator::Config::default().day_start;
    let path = format!(
        "/v1/report/breakdown?from={day}&to={}&step=3600",
        day + 86_400
    );
    let (code, hourly) = ca_client
        .request(Method::GET, &path, "application/json", Vec::new())
        .await
        .unwrap();
    assert_eq!(code, StatusCode::OK);
    let hourly: entrex::report::Breakdown = serde_json::from_slice(&hourly).unwrap();
    assert_eq!(hourly.partners[0].periods.len(), 24);
    assert_eq!(
        hourly.partners[0]
            .periods
            .iter()
            .map(|p| p.figures.exit_records_received)
            .sum::<u64>(),
        hourly.partners[0].total.exit_records_received
    );
    let (code, why) = ca_client
        .request(
            Method::GET,
            "/v1/report/breakdown?step=600",
            "application/json",
            Vec::new(),
        )
        .await
        .unwrap();
    assert_eq!(code, StatusCode::BAD_REQUEST);
    assert!(String::from_utf8_lossy(&why).contains("whole number of hours"));

    // The page itself is public and static; its data is not.
    let anonymous = ca.anonymous_client();
    let (code, page) = anonymous
        .request(Method::GET, "/dashboard", "text/html", Vec::new())
        .await
        .unwrap();
    assert_eq!(code, StatusCode::OK);
    assert!(String::from_utf8_lossy(&page).contains("/dashboard/dashboard.js"));
    let (code, _) = anonymous
        .request(
            Method::GET,
            "/v1/report/breakdown",
            "application/json",
            Vec::new(),
        )
        .await
        .unwrap();
    assert_eq!(code, StatusCode::UNAUTHORIZED);

    let url = format!("https://{}/dashboard#token={token}", ca.addr);
    let pin = spki_pin(&ca_key);
    let dom = chromium(&pin, &url, &["--dump-dom"]).await;
    let after = ca_client.status().await.unwrap();
    check_dom(&dom, &before, &after, &report, &breakdown);

    // Without a token the page asks for one, and shows no data.
    let signed_out = chromium(
        &pin,
        &format!("https://{}/dashboard", ca.addr),
        &["--dump-dom"],
    )
    .await;
    assert!(
        signed_out.contains(r#"data-state="signed-out""#),
        "{signed_out}"
    );
    assert!(
        signed_out.contains(r#"<form id="login" class="login">"#),
        "{signed_out}"
    );
    assert!(
        signed_out.contains(r#"<main id="main" hidden="">"#),
        "{signed_out}"
    );

    let screenshot = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("dashboard.png");
    let _ = std::fs::remove_file(&screenshot);
    chromium(
        &pin,
        &url,
        &[
            &format!("--screenshot={}", screenshot.display()),
            "--window-size=1280,900",
            "--hide-scrollbars",
        ],
    )
    .await;
    let png = std::fs::read(&screenshot).expect("Chromium wrote no screenshot");
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 20_000,
        "{} bytes",
        png.len()
    );
    println!("dashboard screenshot: {}", screenshot.display());

    ca.shutdown().await;
}

/// What the page shows, against what the API says.
fn check_dom(
    dom: &str,
    before: &Status,
    after: &Status,
    report: &entrex::report::JointReport,
    breakdown: &entrex::report::Breakdown,
) {
    assert!(
        dom.contains(r#"data-state="ready""#),
        "the page never finished loading:\n{dom}"
    );
    assert_eq!(text_of(dom, r#"id="hub-id""#), "CA");
    let card = section(dom, r#"data-partner="US""#);
    assert_eq!(text_of(card, r#"class="partner-name""#), "US");
    let us_side = &before.partners[0];
    assert_eq!(us_side.partner, "US");
    assert_eq!(us_side.backlog, 3);
    assert_eq!(field(card, "backlog"), thousands(us_side.backlog));
    let sent = us_side.last_bundle_sent.as_ref().unwrap();
    assert_eq!(
        field(card, "last-sent-range"),
        format!(
            "#{}–#{}",
            thousands(sent.first_seq),
            thousands(sent.last_seq)
        )
    );
    assert_eq!(sent.last_seq, us_side.queued_upto);
    assert!(card.contains(r#"data-field="awaiting-receipt""#));
    let received = us_side.last_bundle_received.as_ref().unwrap();
    assert_eq!(
        field(card, "last-received-range"),
        format!(
            "#{}–#{}",
            thousands(received.first_seq),
            thousands(received.last_seq)
        )
    );
    assert_eq!(received.last_seq, us_side.received_upto);
    assert!(
        field(card, "delivery-error").starts_with("Last delivery failed: "),
        "{card}"
    );
    assert_eq!(field(card, "matched"), thousands(us_side.matched));
    let direction = &report.directions[0];
    let rate = direction.reconciliation_rate.unwrap();
    assert!(
        rate > 0.0 && direction.exit_records_received > 100,
        "{direction:?}"
    );
    assert_eq!(
        field(card, "reconciliation-rate"),
        format!("{:.1}%", rate * 100.0)
    );
    let accepted = section(dom, r#"data-field="accepted""#);
    assert_eq!(text_of(accepted, "<dd"), thousands(before.accepted));

    // Throughput: one point per interval between samples (one sample more
    // may have been taken while Chromium ran).
    let throughput = section(dom, r#"id="chart-throughput""#);
    let points = data_points(throughput);
    let (low, high) = (
        before.throughput.samples.len() - 1,
        after.throughput.samples.len() - 1,
    );
    assert!(
        (low..=high + 1).contains(&points) && points >= 2,
        "{points} throughput points, status had {low}..{high}"
    );
    let lines = svg_of(throughput);
    assert_eq!(lines.matches("<polyline").count(), 4, "{lines}");
    for line in lines.split("<polyline").skip(1) {
        let coords = attr(line, "points");
        assert_eq!(coords.split(' ').count(), points, "{coords}");
    }
    let queue = section(dom, r#"id="chart-queue""#);
    assert_eq!(data_points(queue), points + 1);

    // Reconciliation over time: a dot per period with exit records.
    let with_records = breakdown.partners[0]
        .periods
        .iter()
        .filter(|p| p.figures.reconciliation_rate.is_some())
        .count();
    assert!(with_records >= 20, "a month of days: {with_records}");
    let over_time = section(dom, r#"id="chart-reconciliation""#);
    assert_eq!(data_points(over_time), with_records);
    assert_eq!(
        svg_of(over_time).matches("<circle").count(),
        with_records,
        "{over_time}"
    );
    assert_eq!(
        breakdown.partners[0].total.exits_reconciled,
        direction.exits_reconciled
    );

    // Per port: a bar per port, the busiest ten.
    let ports = &breakdown.partners[0].ports;
    let shown = ports.len().min(10);
    assert!(shown >= 3, "{ports:?}");
    let by_port = section(dom, r#"id="chart-ports""#);
    assert_eq!(data_points(by_port), shown);
    let bars = svg_of(by_port);
    assert_eq!(bars.matches(r#"class="bar s0""#).count(), shown);
    let busiest = &ports[0];
    assert!(
        bars.contains(&format!(
            ">{:.1}% of {}",
            busiest.figures.reconciliation_rate.unwrap() * 100.0,
            thousands(busiest.figures.exit_records_received)
        )),
        "{bars}"
    );
    assert!(!dom.contains("Unavailable") && !dom.contains("Needs the analyst role"));
}

/// Runs headless Chromium on `url`, trusting only the hub's key (SPKI pin,
/// not all certificates), and returns what it printed.
async fn chromium(pin: &str, url: &str, extra: &[&str]) -> String {
    let profile = tempfile::tempdir().unwrap();
    let mut command = Command::new(chromium_path());
    command.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-extensions",
        "--force-device-scale-factor=1",
        &format!("--user-data-dir={}", profile.path().display()),
        &format!("--ignore-certificate-errors-spki-list={pin}"),
        // Long enough for the first status and breakdown; the page polls on,
        // and Chromium stops it when the (virtual) time is spent.
        "--virtual-time-budget=8000",
    ]);
    command.args(extra).arg(url);
    let output = tokio::task::spawn_blocking(move || {
        let child = command
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("cannot start chromium");
        wait_with_timeout(child, Duration::from_secs(120))
    })
    .await
    .unwrap();
    drop(profile);
    assert!(
        output.status.success(),
        "chromium failed ({}): {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

fn wait_with_timeout(mut child: std::process::Child, limit: Duration) -> std::process::Output {
    let deadline = Instant::now() + limit;
    // Drain stdout in a thread, so a large DOM cannot fill the pipe and stall.
    let mut stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut out = Vec::new();
        std::io::Read::read_to_end(&mut stdout, &mut out).unwrap();
        out
    });
    let mut stderr = child.stderr.take().unwrap();
    let err_reader = std::thread::spawn(move || {
        let mut out = Vec::new();
        std::io::Read::read_to_end(&mut stderr, &mut out).unwrap();
        out
    });
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("chromium did not finish in {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    std::process::Output {
        status,
        stdout: reader.join().unwrap(),
        stderr: err_reader.join().unwrap(),
    }
}

/// base64(SHA-256(SubjectPublicKeyInfo)) of the hub's TLS key, as Chromium's
/// `--ignore-certificate-errors-spki-list` wants it.
fn spki_pin(key_pem: &Path) -> String {
    use rcgen::PublicKeyData;
    let key = rcgen::KeyPair::from_pem(&std::fs::read_to_string(key_pem).unwrap()).unwrap();
    base64(&Sha256::digest(key.subject_public_key_info()))
}

fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The markup from the element that carries `marker` to the end of the DOM.
fn section<'a>(dom: &'a str, marker: &str) -> &'a str {
    let at = dom
        .find(marker)
        .unwrap_or_else(|| panic!("{marker} is not on the page:\n{dom}"));
    &dom[at..]
}

/// The text right after the opening tag that carries `marker`.
fn text_of(dom: &str, marker: &str) -> String {
    let rest = section(dom, marker);
    let rest = &rest[rest.find('>').unwrap() + 1..];
    rest[..rest.find('<').unwrap()]
        .replace("&amp;", "&")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
}

fn field(dom: &str, name: &str) -> String {
    text_of(dom, &format!(r#"data-field="{name}""#))
}

fn data_points(section: &str) -> usize {
    attr(section, "data-points").parse().unwrap()
}

fn attr<'a>(tag: &'a str, name: &str) -> &'a str {
    let marker = format!("{name}=\"");
    let start = tag
        .find(&marker)
        .unwrap_or_else(|| panic!("no {name} in {tag}"))
        + marker.len();
    &tag[start..start + tag[start..].find('"').unwrap()]
}

/// The first `<svg>…</svg>` in `section`.
fn svg_of(section: &str) -> &str {
    let start = section.find("<svg").expect("a chart");
    let end = section[start..].find("</svg>").unwrap() + start;
    &section[start..end]
}
