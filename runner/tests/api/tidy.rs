//! Every Rust file of the workspace opens with a `//!` comment saying what it
//! owns: sources, test suites and their helpers, benchmarks and examples
//! alike, test modules kept in their own `tests.rs` included.

use std::path::{Path, PathBuf};

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_owned()
}

/// Directories that hold no code of ours: build output, dependencies of
/// the benchmarks' peers, and hidden ones (`.git`, `.ci`'s caches).
fn skipped(dir: &Path) -> bool {
    dir.file_name()
        .and_then(|name| name.to_str())
        .is_some_and(|name| name == "target" || name == "node_modules" || name.starts_with('.'))
}

fn rust_files(dir: &Path, found: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            if !skipped(&path) {
                rust_files(&path, found);
            }
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            found.push(path);
        }
    }
}

#[test]
fn every_rust_file_starts_with_a_module_doc() {
    let root = workspace_root();
    let mut files = Vec::new();
    rust_files(&root, &mut files);
    // Each tree the check is meant to cover, so that a moved directory
    // cannot quietly shrink it.
    for tree in [
        "catalog/src",
        "registry/src",
        "gateway/src",
        "gateway/tests",
        "actors/src",
        "actors/tests",
        "runner/src",
        "runner/tests",
        "benches/src",
        "examples",
    ] {
        assert!(
            files.iter().any(|path| path.starts_with(root.join(tree))),
            "no Rust file found under {tree}"
        );
    }
    let undocumented: Vec<_> = files
        .iter()
        .filter(|path| !std::fs::read_to_string(path).unwrap().starts_with("//!"))
        .map(|path| path.strip_prefix(&root).unwrap())
        .collect();
    assert!(
        undocumented.is_empty(),
        "files without a leading //! comment: {undocumented:?}"
    );
}
