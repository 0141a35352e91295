//! The tick-driving conveniences of `actors::testing`: replies queued from
//! blocks read back as the same blocks and usage through either provider,
//! queued errors are the errors the providers classify, and the recorded
//! bodies are what was sent.

use std::sync::Arc;
use std::time::Duration;

use actors::llm::anthropic::{AnthropicLlm, DEFAULT_MODEL};
use actors::llm::openai::OpenAiLlm;
use actors::llm::{Block, Llm, LlmError, LlmRequest, Message, StopReason, ToolChoice};
use actors::testing::{Canned, Dialect, FakeServer, fast_retry};
use catalog::TokenUsage;
use serde_json::json;

const KEY: &str = "sk-test-Secret0123456789";

fn request(text: &str) -> LlmRequest {
    LlmRequest {
        system: "You are Ada.".into(),
        messages: vec![Message::user_text(text)],
        tools: Arc::from([]),
        tool_choice: ToolChoice::Auto,
        max_tokens: 256,
    }
}

fn turn() -> Vec<Block> {
    vec![
        Block::Text("Two things.".into()),
        Block::ToolUse {
            id: "toolu_1".into(),
            name: "todo_list".into(),
            input: json!({"q": "today"}),
        },
        Block::ToolUse {
            id: "toolu_2".into(),
            name: "todo_create".into(),
            input: json!({}),
        },
    ]
}

#[tokio::test]
async fn anthropic_replies_errors_and_bodies_drive_a_tick() {
    let server = FakeServer::start(Dialect::Anthropic, Vec::new())
        .await
        .unwrap();
    let llm = AnthropicLlm::new(
        KEY.into(),
        DEFAULT_MODEL.into(),
        Some(server.base_url()),
        fast_retry(),
    )
    .unwrap();
    let usage = TokenUsage {
        input: 12,
        output: 34,
        cache_read: 2048,
        cache_write: 512,
    };
    server.push_error(429, "rate_limit_error", "slow down", Some(Duration::ZERO));
    server.push_reply(&turn(), usage);
    server.push_reply(&[Block::Text("Done.".into())], TokenUsage::default());
    server.push_error(400, "invalid_request_error", "prompt is too long", None);
    assert_eq!(server.pending(), 4);

    let first = llm.complete(&request("first")).await.unwrap();
    let second = llm.complete(&request("second")).await.unwrap();
    let third = llm.complete(&request("third")).await.unwrap_err();

    assert_eq!(first.content, turn());
    assert_eq!(first.stop_reason, StopReason::ToolUse);
    assert_eq!(first.usage, usage);
    assert_eq!(second.text(), "Done.");
    assert_eq!(second.stop_reason, StopReason::EndTurn);
    assert_eq!(
        third,
        LlmError::ContextOverflow {
            message: "prompt is too long".into(),
        }
    );
    assert_eq!(server.pending(), 0);
    let bodies = server.request_bodies();
    let texts: Vec<&str> = bodies
        .iter()
        .map(|body| body["messages"][0]["content"][0]["text"].as_str().unwrap())
        .collect();
    // The rate-limited attempt was resent as is.
    assert_eq!(texts, ["first", "first", "second", "third"]);
    assert_eq!(bodies[0], bodies[1]);
    assert_eq!(server.requests()[0].header("x-api-key"), Some(KEY));
}

#[tokio::test]
async fn openai_replies_from_blocks_read_back_the_same() {
    let server = FakeServer::start(Dialect::OpenAi, Vec::new())
        .await
        .unwrap();
    let llm = OpenAiLlm::new(None, "qwen3:8b".into(), server.base_url(), fast_retry()).unwrap();
    let usage = TokenUsage {
        input: 176,
        output: 64,
        cache_read: 1024,
        cache_write: 0,
    };
    server.push_error(503, "server_error", "model is loading", None);
    server.push_reply(&turn(), usage);

    let response = llm.complete(&request("go")).await.unwrap();

    assert_eq!(response.content, turn());
    assert_eq!(response.stop_reason, StopReason::ToolUse);
    assert_eq!(response.usage, usage);
    assert_eq!(server.request_count(), 2);
    assert_eq!(server.request_bodies()[1]["messages"][1]["content"], "go");
}

#[tokio::test]
async fn a_queued_error_with_retry_after_is_what_the_provider_reports() {
    let server = FakeServer::start(Dialect::Anthropic, Vec::new())
        .await
        .unwrap();
    let llm = AnthropicLlm::new(
        KEY.into(),
        DEFAULT_MODEL.into(),
        Some(server.base_url()),
        fast_retry(),
    )
    .unwrap();
    for _ in 0..5 {
        server.push_error(429, "rate_limit_error", "slow down", Some(Duration::ZERO));
    }

    let error = llm.complete(&request("hi")).await.unwrap_err();

    assert_eq!(
        error,
        LlmError::RateLimited {
            attempts: 5,
            retry_after: Some(Duration::ZERO),
        }
    );
}

#[tokio::test]
async fn a_broken_canned_response_fails_loudly_and_bodies_keep_non_json() {
    let server = FakeServer::start(
        Dialect::OpenAi,
        vec![Canned::raw(200, "text/plain", "ok").header("bad header", "x")],
    )
    .await
    .unwrap();
    let client = reqwest::Client::new();

    let answer = client
        .post(format!("{}/chat/completions", server.base_url()))
        .body(r#"{"model": "m", "messages": []}"#)
        .send()
        .await
        .unwrap();
    let status = answer.status();
    let text = answer.text().await.unwrap();
    let refused = client
        .post(format!("{}/chat/completions", server.base_url()))
        .body("not json")
        .send()
        .await
        .unwrap();

    assert_eq!(status, 500);
    assert!(text.contains("invalid header"), "{text}");
    assert_eq!(refused.status(), 400);
    assert_eq!(server.request_bodies()[1], json!("not json"));
    assert!(server.requests()[1].json().is_err());
}
