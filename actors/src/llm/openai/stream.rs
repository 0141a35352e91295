//! Reading a streamed Chat Completions answer (`stream: true`), a
//! server-sent event stream of `chat.completion.chunk` objects, into the
//! same raw completion a whole answer reads into.
//!
//! Streaming is how a request is cancelled: a server stops generating when
//! the client closes the connection mid-stream (llama-cpp-python checks for
//! a disconnect after every chunk; it cannot notice one while it computes a
//! whole answer). The chunks' shapes follow the captures in
//! `tests/fixtures/llama-cpp-python-0.3.36/` (09, 10) and OpenAI's
//! documentation: text in `delta.content`; tool calls in
//! `delta.tool_calls[i]` by `index`, their `arguments` in fragments to
//! concatenate (llama-cpp-python repeats `id` and `name` in every fragment,
//! OpenAI sends them once); `finish_reason` on the last choice chunk;
//! `usage` on a chunk of its own when asked for with `include_usage`;
//! `data: [DONE]` at the end; an error object in place of a chunk when the
//! server fails mid-answer.

use std::collections::BTreeMap;

use serde_json::Value;

use super::response::{RawCall, RawCompletion, WireUsage};
use crate::llm::http::{self, Failure, RetryKind, quote};

/// How a stream ended.
pub(super) enum StreamEnd {
    /// It carried a completion.
    Completion(RawCompletion),
    /// It ended before its first event. llama-cpp-python answers this way
    /// (HTTP 200, an empty body) when it fails before the first chunk: for
    /// every streamed request with automatic tool choice, which it cannot
    /// stream, and for a prompt too long for its context (fixtures 11, 13).
    Empty,
    /// The server sent an error object instead of the rest of the answer;
    /// its JSON text.
    Error(String),
}

/// Reads the event stream of `response` to its end. `key` is scrubbed from
/// transport errors.
pub(super) async fn read_stream(
    mut response: reqwest::Response,
    key: Option<&str>,
) -> Result<StreamEnd, Failure> {
    let mut reader = EventReader::default();
    let mut completion = Completion::default();
    loop {
        let chunk = response
            .chunk()
            .await
            .map_err(|error| http::transport_failure(&error, key))?;
        let Some(chunk) = chunk else { break };
        for event in reader.push(&chunk) {
            if let Some(end) = completion.event(event)? {
                return Ok(end);
            }
        }
    }
    for event in reader.finish() {
        if let Some(end) = completion.event(event)? {
            return Ok(end);
        }
    }
    completion.ended()
}

/// One server-sent event: its `event` field and its data lines joined.
struct Event {
    name: Option<String>,
    data: String,
}

/// Splits bytes into server-sent events. Lines end in `\n`, `\r\n` or `\r`
/// alone is not supported (no server sends it); a blank line ends an event;
/// lines starting with `:` are comments (sse-starlette's pings).
#[derive(Default)]
struct EventReader {
    /// Bytes of a line not yet ended. Split only at `\n`, which never occurs
    /// inside a multi-byte UTF-8 character.
    partial: Vec<u8>,
    name: Option<String>,
    data: Vec<String>,
}

impl EventReader {
    fn push(&mut self, bytes: &[u8]) -> Vec<Event> {
        let mut events = Vec::new();
        for &byte in bytes {
            if byte == b'\n' {
                let line = std::mem::take(&mut self.partial);
                if let Some(event) = self.line(&line) {
                    events.push(event);
                }
            } else {
                self.partial.push(byte);
            }
        }
        events
    }

    /// The events left when the stream ends without a final blank line.
    fn finish(&mut self) -> Vec<Event> {
        let line = std::mem::take(&mut self.partial);
        let mut events: Vec<Event> = self.line(&line).into_iter().collect();
        events.extend(self.line(b""));
        events
    }

    fn line(&mut self, line: &[u8]) -> Option<Event> {
        let line = String::from_utf8_lossy(line);
        let line = line.strip_suffix('\r').unwrap_or(&line);
        if line.is_empty() {
            if self.data.is_empty() {
                self.name = None;
                return None;
            }
            return Some(Event {
                name: self.name.take(),
                data: std::mem::take(&mut self.data).join("\n"),
            });
        }
        if line.starts_with(':') {
            return None;
        }
        let (field, value) = line.split_once(':').unwrap_or((line, ""));
        let value = value.strip_prefix(' ').unwrap_or(value);
        match field {
            "data" => self.data.push(value.to_owned()),
            "event" => self.name = Some(value.to_owned()),
            // `id` and `retry` matter to browsers reconnecting, not to us.
            _ => {}
        }
        None
    }
}

/// A call being put together from its fragments.
#[derive(Default)]
struct PartialCall {
    id: Option<String>,
    name: String,
    arguments: String,
    /// Arguments sent whole, as an object, in one fragment.
    object: Option<Value>,
}

/// What the events so far add up to.
#[derive(Default)]
struct Completion {
    events: usize,
    text: String,
    /// By the `index` the server gave each call.
    calls: BTreeMap<u64, PartialCall>,
    finish_reason: Option<String>,
    usage: Option<WireUsage>,
}

impl Completion {
    /// Takes in one event; `Some` when it ends the stream.
    fn event(&mut self, event: Event) -> Result<Option<StreamEnd>, Failure> {
        self.events += 1;
        let data = event.data.trim();
        if data == "[DONE]" {
            return Ok(Some(StreamEnd::Completion(self.take())));
        }
        let chunk: Value = serde_json::from_str(data).map_err(|error| Failure::Retry {
            kind: RetryKind::Unreadable,
            retry_after: None,
            detail: format!(
                "an event of the stream is not JSON ({error}): {:?}",
                quote(data)
            ),
        })?;
        if event.name.as_deref() == Some("error")
            || chunk.get("error").is_some()
            || chunk["object"] == "error"
        {
            return Ok(Some(StreamEnd::Error(data.to_owned())));
        }
        if let Some(usage) = chunk.get("usage").filter(|usage| !usage.is_null()) {
            self.usage = serde_json::from_value(usage.clone()).ok();
        }
        // One choice was asked for; a chunk without one carries only usage.
        let Some(choice) = chunk["choices"]
            .as_array()
            .and_then(|choices| choices.first())
        else {
            return Ok(None);
        };
        let delta = &choice["delta"];
        if let Some(text) = delta["content"].as_str() {
            self.text.push_str(text);
        }
        for (position, fragment) in delta["tool_calls"]
            .as_array()
            .into_iter()
            .flatten()
            .enumerate()
        {
            self.call_fragment(position, fragment);
        }
        if let Some(reason) = choice["finish_reason"].as_str() {
            self.finish_reason = Some(reason.to_owned());
        }
        Ok(None)
    }

    fn call_fragment(&mut self, position: usize, fragment: &Value) {
        let id = fragment["id"].as_str().filter(|id| !id.is_empty());
        let index = match fragment["index"].as_u64() {
            Some(index) => index,
            // Without an index: the call with this id, a new call for a new
            // id, else the fragment continues the last call.
            None => match id {
                Some(id) => self
                    .calls
                    .iter()
                    .find(|(_, call)| call.id.as_deref() == Some(id))
                    .map(|(index, _)| *index)
                    .unwrap_or_else(|| self.next_index(position)),
                None => self
                    .calls
                    .keys()
                    .next_back()
                    .copied()
                    .unwrap_or(position as u64),
            },
        };
        let call = self.calls.entry(index).or_default();
        if call.id.is_none() {
            call.id = id.map(str::to_owned);
        }
        let function = &fragment["function"];
        if let Some(name) = function["name"].as_str()
            && call.name.is_empty()
        {
            call.name = name.to_owned();
        }
        match &function["arguments"] {
            Value::String(piece) => call.arguments.push_str(piece),
            object @ Value::Object(_) => call.object = Some(object.clone()),
            _ => {}
        }
    }

    fn next_index(&self, position: usize) -> u64 {
        self.calls
            .keys()
            .next_back()
            .map_or(position as u64, |last| last + 1)
    }

    /// The stream ended without `[DONE]`: a completion if it got as far as
    /// a finish reason (some servers leave `[DONE]` out), nothing if it
    /// never began, else a stream cut short, which another attempt cures.
    fn ended(mut self) -> Result<StreamEnd, Failure> {
        if self.events == 0 {
            return Ok(StreamEnd::Empty);
        }
        if self.finish_reason.is_some() {
            return Ok(StreamEnd::Completion(self.take()));
        }
        Err(Failure::Retry {
            kind: RetryKind::Unreadable,
            retry_after: None,
            detail: format!(
                "the event stream ended after {} events, before the answer did",
                self.events
            ),
        })
    }

    fn take(&mut self) -> RawCompletion {
        let calls = std::mem::take(&mut self.calls)
            .into_values()
            .map(|call| RawCall {
                id: call.id,
                name: call.name,
                arguments: match call.object {
                    Some(object) if call.arguments.is_empty() => Some(object),
                    _ if call.arguments.is_empty() => None,
                    _ => Some(Value::String(call.arguments)),
                },
            })
            .collect();
        RawCompletion {
            text: Some(std::mem::take(&mut self.text)),
            calls,
            finish_reason: self.finish_reason.take(),
            usage: self.usage.take(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_split_across_chunk_boundaries_and_line_endings() {
        let mut reader = EventReader::default();
        let mut events = reader.push(b": ping\r\n\r\ndata: {\"a\"");
        events.extend(reader.push(b": 1}\r\n\r\nevent: error\ndata: x\ndata: y\n"));
        events.extend(reader.push(b"\ndata: [DONE]"));
        events.extend(reader.finish());
        let seen: Vec<(Option<&str>, &str)> = events
            .iter()
            .map(|event| (event.name.as_deref(), event.data.as_str()))
            .collect();
        assert_eq!(
            seen,
            [
                (None, "{\"a\": 1}"),
                (Some("error"), "x\ny"),
                (None, "[DONE]")
            ]
        );
    }
}
