//! file_sd: JSON and YAML, `__meta_filepath`, globs, change detection,
//! refresh_interval, vanished files and unreadable files.

use std::collections::BTreeMap;
use std::time::Duration;

use sightline_config::FileSdConfig;
use sightline_discovery::file::{FileDiscovery, read_file};
use sightline_discovery::{Discovery, DiscoveryOptions, TargetGroup, Updates};

fn cfg(files: &[&str], refresh: &str) -> FileSdConfig {
    let list: Vec<String> = files.iter().map(|f| format!("'{f}'")).collect();
    let yaml = format!(
        "scrape_configs:\n  - job_name: f\n    file_sd_configs:\n      - files: [{}]\n        refresh_interval: {refresh}\n",
        list.join(", ")
    );
    sightline_config::load_str(&yaml, "t.yml")
        .unwrap()
        .scrape_configs[0]
        .file_sd_configs[0]
        .clone()
}

#[test]
fn json_and_yaml_files_parse_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let j = dir.path().join("a.json");
    let y = dir.path().join("b.yml");
    std::fs::write(&j, r#"[{"targets": ["h1:9100", "h2:9100"], "labels": {"env": "prod"}}, {"targets": ["h3:9100"]}]"#).unwrap();
    std::fs::write(
        &y,
        "- targets: ['h1:9100', 'h2:9100']\n  labels:\n    env: prod\n- targets: ['h3:9100']\n",
    )
    .unwrap();
    let a = read_file(&j).unwrap();
    let b = read_file(&y).unwrap();
    assert_eq!(a.len(), 2);
    assert_eq!(a[0].source, format!("{}:0", j.display()));
    assert_eq!(a[0].labels["__meta_filepath"], j.display().to_string());
    assert_eq!(a[0].labels["env"], "prod");
    assert_eq!(a[0].targets[1]["__address__"], "h2:9100");
    assert_eq!(a[1].labels.len(), 1);
    type Stripped = Vec<(Vec<BTreeMap<String, String>>, Option<String>)>;
    let strip = |g: &[TargetGroup]| -> Stripped {
        g.iter()
            .map(|g| (g.targets.clone(), g.labels.get("env").cloned()))
            .collect()
    };
    assert_eq!(strip(&a), strip(&b));
    // Bad content is an error, not an empty list.
    std::fs::write(&j, r#"{"targets": 1}"#).unwrap();
    assert!(read_file(&j).is_err());
    std::fs::write(&j, r#"[{"targets": ["http://h:1/metrics"]}]"#).unwrap();
    assert!(read_file(&j).unwrap_err().contains("not a valid hostname"));
}

#[test]
fn refresh_clears_vanished_groups_and_keeps_groups_of_broken_files() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("t.json");
    std::fs::write(&p, r#"[{"targets": ["a:1"]}, {"targets": ["b:1"]}]"#).unwrap();
    let mut sd = FileDiscovery::new(&cfg(&["*.json"], "5m"), dir.path());
    let first = sd.refresh();
    assert_eq!(first.len(), 2);
    // Broken file: nothing is sent for it (the receiver keeps what it has).
    std::fs::write(&p, "[{").unwrap();
    assert!(sd.refresh().is_empty());
    // One group left: the second source is cleared.
    std::fs::write(&p, r#"[{"targets": ["a:2"]}]"#).unwrap();
    let next = sd.refresh();
    assert_eq!(next.len(), 2);
    assert_eq!(next[0].targets[0]["__address__"], "a:2");
    assert_eq!(next[1].source, format!("{}:1", p.display()));
    assert!(next[1].targets.is_empty());
    // File removed: its remaining group is cleared.
    std::fs::remove_file(&p).unwrap();
    let gone = sd.refresh();
    assert_eq!(gone.len(), 1);
    assert!(gone[0].targets.is_empty());
}

async fn next_update(
    rx: &mut tokio::sync::mpsc::UnboundedReceiver<(usize, Vec<TargetGroup>)>,
) -> Vec<TargetGroup> {
    tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .expect("update in time")
        .unwrap()
        .1
}

#[tokio::test]
async fn rereads_on_change_and_new_matching_files() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("one.yaml");
    std::fs::write(&p, "- targets: ['x:1']\n").unwrap();
    let sd = FileDiscovery::new(&cfg(&["*.yaml"], "1h"), dir.path())
        .with_poll(Duration::from_millis(20));
    let (up, mut rx) = Updates::channel();
    let task = tokio::spawn(sd.run(up));
    assert_eq!(
        next_update(&mut rx).await[0].targets[0]["__address__"],
        "x:1"
    );
    // Different size, so the change is visible even within one mtime tick.
    std::fs::write(&p, "- targets: ['x:1', 'x:22']\n").unwrap();
    assert_eq!(next_update(&mut rx).await[0].targets.len(), 2);
    std::fs::write(dir.path().join("two.yaml"), "- targets: ['y:1']\n").unwrap();
    let u = next_update(&mut rx).await;
    assert!(
        u.iter()
            .any(|g| g.targets.first().is_some_and(|t| t["__address__"] == "y:1"))
    );
    task.abort();
}

#[tokio::test]
async fn rereads_on_refresh_interval_without_changes() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("t.json"), r#"[{"targets": ["x:1"]}]"#).unwrap();
    // Polling effectively off: only the refresh interval can trigger a read.
    let sd = FileDiscovery::new(&cfg(&["t.json"], "200ms"), dir.path())
        .with_poll(Duration::from_millis(50));
    let (up, mut rx) = Updates::channel();
    let task = tokio::spawn(sd.run(up));
    next_update(&mut rx).await;
    let started = std::time::Instant::now();
    next_update(&mut rx).await;
    assert!(
        started.elapsed() >= Duration::from_millis(100),
        "{:?}",
        started.elapsed()
    );
    task.abort();
}

#[tokio::test]
async fn discovery_merges_static_and_file_groups() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("t.json"),
        r#"[{"targets": ["f:1"], "labels": {"src": "file"}}]"#,
    )
    .unwrap();
    let c = sightline_config::load_str(
        "scrape_configs:\n  - job_name: f\n    static_configs: [{targets: ['s:1']}]\n    file_sd_configs: [{files: ['t.json']}]\n",
        "t.yml",
    )
    .unwrap();
    let sc = &c.scrape_configs[0];
    let opts = DiscoveryOptions {
        throttle: Duration::from_millis(10),
        base_dir: dir.path().to_path_buf(),
        ..DiscoveryOptions::default()
    };
    let d = Discovery::start(
        &sc.static_configs,
        &sc.file_sd_configs,
        &sc.kubernetes_sd_configs,
        &opts,
    );
    let mut rx = d.subscribe();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let addrs: Vec<String> = rx
            .borrow()
            .iter()
            .flat_map(|g| g.targets.iter().map(|t| t["__address__"].clone()))
            .collect();
        if addrs == ["s:1", "f:1"] {
            break;
        }
        assert!(
            tokio::time::timeout_at(deadline, rx.changed())
                .await
                .is_ok(),
            "have {addrs:?}"
        );
    }
}
