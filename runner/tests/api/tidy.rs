//! Every Rust source file opens with a `//!` comment saying what it owns.

use std::path::{Path, PathBuf};

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_owned()
}

fn rust_files(dir: &Path, found: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, found);
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            found.push(path);
        }
    }
}

#[test]
fn every_source_file_starts_with_a_module_doc() {
    let root = workspace_root();
    let mut files = Vec::new();
    for krate in ["catalog", "registry", "gateway", "actors", "runner"] {
        rust_files(&root.join(krate).join("src"), &mut files);
    }
    rust_files(&root.join("examples"), &mut files);
    assert!(files.len() > 10, "found only {files:?}");
    let undocumented: Vec<_> = files
        .iter()
        .filter(|path| {
            let text = std::fs::read_to_string(path).unwrap();
            // Test modules kept in their own file are documented by their parent.
            let is_test_module = path.file_name().is_some_and(|name| name == "tests.rs");
            !is_test_module && !text.starts_with("//!")
        })
        .collect();
    assert!(
        undocumented.is_empty(),
        "files without a leading //! comment: {undocumented:?}"
    );
}
