//! The LLM providers against fake servers (`actors::testing`) that speak
//! the real wire formats on a loopback port: what each provider sends, what
//! it reads back, and which failures it retries; and the captures of a real
//! llama-cpp-python server replayed through them.

// Test helpers panic on purpose when a fixture cannot be set up.
#![allow(clippy::unwrap_used)]

mod anthropic;
mod context_window;
mod fixture;
mod model;
mod openai;
mod openai_stream;
mod replay;
mod testing;
