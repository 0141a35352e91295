//! The crates depend on each other in one direction only:
//! catalog ← registry ← gateway ← runner and catalog ← actors ← runner, with
//! `benches` on top of them all (nothing depends on it).
//! A new edge is an API change: update this list and ARCHITECTURE.md together.

use std::collections::BTreeSet;
use std::process::Command;

use serde_json::Value;

const ALLOWED: &[(&str, &str)] = &[
    ("registry", "catalog"),
    ("gateway", "catalog"),
    ("gateway", "registry"),
    ("actors", "catalog"),
    ("runner", "catalog"),
    ("runner", "registry"),
    ("runner", "gateway"),
    ("runner", "actors"),
    ("benches", "catalog"),
    ("benches", "registry"),
    ("benches", "gateway"),
    ("benches", "actors"),
    ("benches", "runner"),
];

#[test]
fn workspace_dependencies_follow_the_documented_direction() {
    let output = Command::new(env!("CARGO"))
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let metadata: Value = serde_json::from_slice(&output.stdout).unwrap();
    let packages = metadata["packages"].as_array().unwrap();
    let members: BTreeSet<&str> = packages
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        members,
        BTreeSet::from([
            "actors", "benches", "catalog", "gateway", "registry", "runner"
        ])
    );

    let mut edges = BTreeSet::new();
    for package in packages {
        let from = package["name"].as_str().unwrap();
        for dependency in package["dependencies"].as_array().unwrap() {
            let to = dependency["name"].as_str().unwrap();
            let is_normal = dependency["kind"].is_null();
            if members.contains(to) && is_normal {
                edges.insert((from, to));
            }
        }
    }
    let allowed: BTreeSet<(&str, &str)> = ALLOWED.iter().copied().collect();
    let unexpected: Vec<_> = edges.difference(&allowed).collect();
    assert!(
        unexpected.is_empty(),
        "undocumented crate dependencies: {unexpected:?}"
    );
    assert!(
        !edges.contains(&("actors", "gateway")),
        "actors must reach the app over MCP only"
    );
}
