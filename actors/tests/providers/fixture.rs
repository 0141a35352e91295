//! Reading the wire captures in `tests/fixtures/llama-cpp-python-0.3.36/`:
//! the answer a real server gave, to serve again from a fake.

use actors::testing::Canned;
use serde_json::Value;

/// One capture file.
pub struct Capture {
    pub file: Value,
}

impl Capture {
    /// The capture whose file name starts with `number` (`"03"`).
    pub fn load(number: &str) -> Capture {
        let dir = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/llama-cpp-python-0.3.36"
        );
        let path = std::fs::read_dir(dir)
            .unwrap()
            .map(|entry| entry.unwrap().path())
            .find(|path| {
                path.file_name()
                    .and_then(|name| name.to_str())
                    .is_some_and(|name| name.starts_with(&format!("{number}-")))
            })
            .unwrap_or_else(|| panic!("no capture {number} in {dir}"));
        let text = std::fs::read_to_string(&path).unwrap();
        Capture {
            file: serde_json::from_str(&text).unwrap(),
        }
    }

    /// The server's answer as it was sent: the captured status, content
    /// type and body (byte for byte where the capture kept the raw body,
    /// else the captured JSON).
    pub fn answer(&self) -> Canned {
        let status = self.file["status"].as_u64().unwrap() as u16;
        let content_type = self.file["response_headers"]["content-type"]
            .as_str()
            .unwrap();
        let body = match self.file["raw_body"].as_str() {
            Some(raw) => raw.to_owned(),
            None => self.file["response"].to_string(),
        };
        Canned::raw(status, content_type, &body)
    }
}
