//! `AnthropicLlm` against a fake Messages API: the request it sends, the
//! response it reads, and which failures it retries.

use std::sync::Arc;
use std::time::Duration;

use actors::llm::anthropic::{AnthropicLlm, DEFAULT_MODEL};
use actors::llm::retry::RetryPolicy;
use actors::llm::{
    Block, Llm, LlmError, LlmRequest, Message, Role, StopReason, ToolChoice, ToolDef,
};
use catalog::TokenUsage;
use serde_json::json;

use actors::testing::{
    Canned, Dialect, FakeServer, anthropic_error, anthropic_message, anthropic_text, fast_retry,
};

const KEY: &str = "sk-ant-api03-test-Secret0123456789";

async fn server(script: Vec<Canned>) -> (FakeServer, AnthropicLlm) {
    let server = FakeServer::start(Dialect::Anthropic, script).await.unwrap();
    let llm = AnthropicLlm::new(
        KEY.into(),
        DEFAULT_MODEL.into(),
        Some(server.base_url()),
        fast_retry(),
    )
    .unwrap();
    (server, llm)
}

fn tool(name: &str) -> ToolDef {
    ToolDef {
        name: name.into(),
        description: format!("The {name} tool."),
        input_schema: json!({
            "type": "object",
            "properties": {"q": {"type": "string"}},
            "required": ["q"],
        }),
    }
}

fn hello() -> LlmRequest {
    LlmRequest {
        system: "You are Ada, a busy engineer.".into(),
        messages: vec![Message::user_text("Plan your day.")],
        tools: Arc::from([tool("todo_list"), tool("todo_create")]),
        tool_choice: ToolChoice::Auto,
        max_tokens: 1024,
    }
}

/// A conversation one tool round in: two parallel calls, one of which
/// failed, plus a nudge the caller put before the results.
fn after_tool_round() -> LlmRequest {
    let mut request = hello();
    request.messages.push(Message {
        role: Role::Assistant,
        content: vec![
            Block::Text("Let me look.".into()),
            Block::ToolUse {
                id: "toolu_01A".into(),
                name: "todo_list".into(),
                input: json!({"q": "today"}),
            },
            Block::ToolUse {
                id: "toolu_01B".into(),
                name: "todo_create".into(),
                input: json!({"q": "write report"}),
            },
        ],
    });
    request.messages.push(Message {
        role: Role::User,
        content: vec![
            Block::Text("Carry on.".into()),
            Block::ToolResult {
                tool_use_id: "toolu_01A".into(),
                content: "[]".into(),
                is_error: false,
            },
            Block::ToolResult {
                tool_use_id: "toolu_01B".into(),
                content: "title is too long".into(),
                is_error: true,
            },
        ],
    });
    request
}

#[tokio::test]
async fn parallel_tool_uses_come_back_in_order_with_their_ids() {
    let (server, llm) = server(vec![anthropic_message(
        json!([
            {"type": "text", "text": "Let me check both."},
            {"type": "tool_use", "id": "toolu_01A", "name": "todo_list", "input": {"q": "today"}},
            {"type": "tool_use", "id": "toolu_01B", "name": "todo_create", "input": {"q": "report"}},
        ]),
        "tool_use",
        json!({"input_tokens": 100, "output_tokens": 40}),
    )])
    .await;

    let response = llm.complete(&hello()).await.unwrap();

    assert_eq!(response.stop_reason, StopReason::ToolUse);
    assert_eq!(
        response.content,
        vec![
            Block::Text("Let me check both.".into()),
            Block::ToolUse {
                id: "toolu_01A".into(),
                name: "todo_list".into(),
                input: json!({"q": "today"}),
            },
            Block::ToolUse {
                id: "toolu_01B".into(),
                name: "todo_create".into(),
                input: json!({"q": "report"}),
            },
        ]
    );
    let ids: Vec<&str> = response.tool_uses().map(|(id, _, _)| id).collect();
    assert_eq!(ids, ["toolu_01A", "toolu_01B"]);
    assert_eq!(server.request_count(), 1);
    assert_eq!((llm.provider(), llm.model()), ("anthropic", DEFAULT_MODEL));
}

#[tokio::test]
async fn request_carries_headers_cache_breakpoints_and_tool_results() {
    let (server, llm) = server(vec![anthropic_text("Done.")]).await;

    llm.complete(&after_tool_round()).await.unwrap();

    let request = server.only_request();
    assert_eq!(request.path, "/v1/messages");
    assert_eq!(request.header("x-api-key"), Some(KEY));
    assert_eq!(request.header("anthropic-version"), Some("2023-06-01"));
    assert_eq!(request.header("content-type"), Some("application/json"));
    let body = request.json().unwrap();
    assert_eq!(body["model"], DEFAULT_MODEL);
    assert_eq!(body["max_tokens"], 1024);
    assert_eq!(
        body["system"],
        json!([{
            "type": "text",
            "text": "You are Ada, a busy engineer.",
            "cache_control": {"type": "ephemeral"},
        }])
    );
    let tools = body["tools"].as_array().unwrap();
    assert_eq!(tools.len(), 2);
    assert_eq!(tools[0]["name"], "todo_list");
    assert_eq!(tools[0]["input_schema"], tool("todo_list").input_schema);
    assert!(tools[0].get("cache_control").is_none());
    assert_eq!(tools[1]["cache_control"], json!({"type": "ephemeral"}));

    let messages = body["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 3);
    assert_eq!(
        messages[0],
        json!({"role": "user", "content": [{"type": "text", "text": "Plan your day."}]})
    );
    assert_eq!(
        messages[1],
        json!({"role": "assistant", "content": [
            {"type": "text", "text": "Let me look."},
            {"type": "tool_use", "id": "toolu_01A", "name": "todo_list", "input": {"q": "today"}},
            {"type": "tool_use", "id": "toolu_01B", "name": "todo_create", "input": {"q": "write report"}},
        ]})
    );
    // Results first, in call order, then the caller's text.
    assert_eq!(
        messages[2],
        json!({"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "toolu_01A", "content": "[]", "is_error": false},
            {"type": "tool_result", "tool_use_id": "toolu_01B", "content": "title is too long", "is_error": true},
            // The last block of the last message is the conversation's
            // breakpoint: the next round reads all of this from the cache.
            {"type": "text", "text": "Carry on.", "cache_control": {"type": "ephemeral"}},
        ]})
    );
    assert!(body.get("tool_choice").is_none(), "auto is the default");
    assert_eq!(request.body.matches("cache_control").count(), 3);
}

#[tokio::test]
async fn a_turn_without_tools_sends_no_tools_field() {
    let (server, llm) = server(vec![anthropic_text("4")]).await;
    let mut request = hello();
    request.tools = Arc::from([]);

    let response = llm.complete(&request).await.unwrap();

    assert_eq!(response.text(), "4");
    assert!(server.only_request().json().unwrap().get("tools").is_none());
}

#[tokio::test]
async fn overloaded_529_is_retried() {
    let (server, llm) = server(vec![
        anthropic_error(529, "overloaded_error", "Overloaded"),
        anthropic_text("Hello."),
    ])
    .await;

    let response = llm.complete(&hello()).await.unwrap();

    assert_eq!(response.text(), "Hello.");
    let requests = server.requests();
    assert_eq!(requests.len(), 2);
    // A retry resends the same bytes, so it hits the same cache prefix.
    assert_eq!(requests[0].body, requests[1].body);
}

#[tokio::test]
async fn rate_limited_429_is_retried_after_retry_after() {
    let (server, llm) = server(vec![
        anthropic_error(
            429,
            "rate_limit_error",
            "This request would exceed your organization's rate limit. Please try again later.",
        )
        .header("retry-after", "0"),
        anthropic_text("Hello."),
    ])
    .await;

    let response = llm.complete(&hello()).await.unwrap();

    assert_eq!(response.text(), "Hello.");
    assert_eq!(server.request_count(), 2);
}

#[tokio::test]
async fn rate_limited_429_on_every_attempt_reports_the_attempts() {
    let script = (0..5)
        .map(|_| {
            anthropic_error(429, "rate_limit_error", "Rate limited").header("retry-after", "0")
        })
        .collect();
    let (server, llm) = server(script).await;

    let error = llm.complete(&hello()).await.unwrap_err();

    assert_eq!(
        error,
        LlmError::RateLimited {
            attempts: 5,
            retry_after: Some(Duration::ZERO),
        }
    );
    assert_eq!(server.request_count(), 5);
}

#[tokio::test]
async fn spend_limit_is_not_retried() {
    let refusals = [
        anthropic_error(
            429,
            "rate_limit_error",
            "You have reached your workspace's spend limit. Raise it in the console.",
        )
        .header("retry-after", "0"),
        anthropic_error(
            400,
            "invalid_request_error",
            "Your credit balance is too low to access the Anthropic API.",
        ),
        anthropic_error(402, "billing_error", "Payment required."),
    ];
    for refusal in refusals {
        let (server, llm) = server(vec![refusal, anthropic_text("never sent")]).await;

        let error = llm.complete(&hello()).await.unwrap_err();

        assert!(matches!(error, LlmError::SpendLimit(_)), "{error:?}");
        assert_eq!(server.request_count(), 1);
    }
}

#[tokio::test]
async fn unauthorized_401_is_not_retried_and_never_shows_the_key() {
    // A proxy that echoes the header back, to prove the key is scrubbed.
    let (server, llm) = server(vec![anthropic_error(
        401,
        "authentication_error",
        &format!("invalid x-api-key: {KEY}"),
    )])
    .await;

    let error = llm.complete(&hello()).await.unwrap_err();

    assert!(matches!(error, LlmError::Unauthorized(_)), "{error:?}");
    assert!(error.to_string().contains("invalid x-api-key"));
    assert!(!error.to_string().contains(KEY));
    assert!(!format!("{error:?}").contains(KEY));
    assert_eq!(server.request_count(), 1);
}

#[tokio::test]
async fn debug_output_never_shows_the_key() {
    let (_server, llm) = server(Vec::new()).await;

    let debug = format!("{llm:?}");

    assert!(!debug.contains(KEY), "{debug}");
    assert!(debug.contains("[redacted]"));
}

#[tokio::test]
async fn bad_request_400_carries_the_api_message() {
    let (server, llm) = server(vec![anthropic_error(
        400,
        "invalid_request_error",
        "max_tokens: 999999 > 64000, which is the maximum allowed for this model",
    )])
    .await;

    let error = llm.complete(&hello()).await.unwrap_err();

    assert_eq!(
        error,
        LlmError::BadRequest {
            status: 400,
            message: "max_tokens: 999999 > 64000, which is the maximum allowed for this model"
                .into(),
        }
    );
    assert_eq!(server.request_count(), 1);
}

#[tokio::test]
async fn a_conversation_the_api_would_refuse_is_a_bad_request() {
    // The fake checks pairing like the real API; a tool_use without its
    // result comes back as the API's own 400.
    let (server, llm) = server(Vec::new()).await;
    let mut request = after_tool_round();
    request.messages.pop();
    request.messages.push(Message::user_text("What now?"));

    let error = llm.complete(&request).await.unwrap_err();

    match error {
        LlmError::BadRequest { status, message } => {
            assert_eq!(status, 400);
            assert!(message.contains("toolu_01A, toolu_01B"), "{message}");
        }
        other => panic!("expected BadRequest, got {other:?}"),
    }
    assert_eq!(server.request_count(), 1);
}

#[tokio::test]
async fn server_errors_on_every_attempt_end_as_unavailable() {
    let script = (0..5)
        .map(|_| anthropic_error(500, "api_error", "Internal server error"))
        .collect();
    let (server, llm) = server(script).await;

    let error = llm.complete(&hello()).await.unwrap_err();

    assert_eq!(
        error,
        LlmError::Unavailable {
            status: 500,
            attempts: 5,
            message: "Internal server error".into(),
        }
    );
    assert_eq!(server.request_count(), 5);
}

#[tokio::test]
async fn gateway_errors_are_retried() {
    let (server, llm) = server(vec![
        Canned::raw(
            502,
            "text/html",
            "<html><body>502 Bad Gateway</body></html>",
        ),
        anthropic_error(503, "api_error", "Service unavailable"),
        Canned::raw(504, "text/plain", "upstream request timeout"),
        anthropic_text("Made it."),
    ])
    .await;

    let response = llm.complete(&hello()).await.unwrap();

    assert_eq!(response.text(), "Made it.");
    assert_eq!(server.request_count(), 4);
}

#[tokio::test]
async fn a_200_that_is_not_a_message_is_retried_then_malformed() {
    let bodies = [
        Canned::raw(200, "text/html", "<html>Welcome to nginx!</html>"),
        Canned::json(200, json!({"id": "msg_01", "type": "message"})),
    ];
    for body in bodies {
        // Most often a body cut short on the way: the next attempt cures it.
        let (cured, llm) = server(vec![body.clone(), anthropic_text("Hallo")]).await;
        llm.complete(&hello()).await.unwrap();
        assert_eq!(cured.request_count(), 2);

        // Every attempt unreadable: the error says so.
        let (server, llm) = server(vec![body; 5]).await;
        let error = llm.complete(&hello()).await.unwrap_err();
        assert!(matches!(error, LlmError::Malformed(_)), "{error:?}");
        assert_eq!(server.request_count(), 5);
    }
}

#[tokio::test]
async fn usage_maps_every_token_count_and_missing_ones_are_zero() {
    let (_server, llm) = server(vec![
        anthropic_message(
            json!([{"type": "text", "text": "Hi."}]),
            "end_turn",
            json!({
                "input_tokens": 12,
                "output_tokens": 34,
                "cache_read_input_tokens": 2048,
                "cache_creation_input_tokens": 512,
            }),
        ),
        anthropic_message(
            json!([{"type": "text", "text": "Hi."}]),
            "end_turn",
            json!({"input_tokens": 7, "output_tokens": 3, "cache_read_input_tokens": null}),
        ),
    ])
    .await;

    let first = llm.complete(&hello()).await.unwrap();
    let second = llm.complete(&hello()).await.unwrap();

    assert_eq!(
        first.usage,
        TokenUsage {
            input: 12,
            output: 34,
            cache_read: 2048,
            cache_write: 512,
        }
    );
    assert_eq!(
        second.usage,
        TokenUsage {
            input: 7,
            output: 3,
            cache_read: 0,
            cache_write: 0,
        }
    );
}

#[tokio::test]
async fn stop_reasons_and_unknown_blocks_are_read_leniently() {
    let (_server, llm) = server(vec![
        anthropic_message(
            json!([
                {"type": "thinking", "thinking": "hmm", "signature": "sig"},
                {"type": "text", "text": "Cut o"},
            ]),
            "max_tokens",
            json!({"input_tokens": 1, "output_tokens": 1}),
        ),
        anthropic_message(json!([]), "refusal", json!({})),
    ])
    .await;

    let truncated = llm.complete(&hello()).await.unwrap();
    let refused = llm.complete(&hello()).await.unwrap();

    assert_eq!(truncated.stop_reason, StopReason::MaxTokens);
    assert_eq!(truncated.content, vec![Block::Text("Cut o".into())]);
    assert_eq!(refused.stop_reason, StopReason::Other("refusal".into()));
    assert!(refused.content.is_empty());
}

#[tokio::test]
async fn a_server_that_never_answers_times_out() {
    let server = FakeServer::start(Dialect::Anthropic, vec![Canned::hang(), Canned::hang()])
        .await
        .unwrap();
    let retry = RetryPolicy {
        max_attempts: 2,
        ..fast_retry()
    };
    let llm = AnthropicLlm::new(
        KEY.into(),
        DEFAULT_MODEL.into(),
        Some(server.base_url()),
        retry,
    )
    .unwrap()
    .with_timeout(Duration::from_millis(100));

    let error = llm.complete(&hello()).await.unwrap_err();

    assert_eq!(error, LlmError::Timeout { attempts: 2 });
    assert_eq!(server.request_count(), 2);
}

#[tokio::test]
async fn a_closed_port_is_a_transport_error_after_the_retries() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let llm = AnthropicLlm::new(
        KEY.into(),
        DEFAULT_MODEL.into(),
        Some(format!("http://{addr}")),
        fast_retry(),
    )
    .unwrap();

    let error = llm.complete(&hello()).await.unwrap_err();

    match &error {
        LlmError::Transport(message) => assert!(message.contains("after 5 attempts"), "{message}"),
        other => panic!("expected Transport, got {other:?}"),
    }
    assert!(!error.to_string().contains(KEY));
}

#[test]
fn construction_rejects_unusable_settings() {
    let empty = AnthropicLlm::new(String::new(), DEFAULT_MODEL.into(), None, fast_retry());
    assert!(matches!(empty, Err(LlmError::Unauthorized(_))));

    let newline = AnthropicLlm::new(format!("{KEY}\n"), DEFAULT_MODEL.into(), None, fast_retry());
    match newline {
        Err(error @ LlmError::Unauthorized(_)) => assert!(!error.to_string().contains(KEY)),
        other => panic!("expected Unauthorized, got {other:?}"),
    }

    let bad_url = AnthropicLlm::new(
        KEY.into(),
        DEFAULT_MODEL.into(),
        Some("not a url".into()),
        fast_retry(),
    );
    assert!(matches!(bad_url, Err(LlmError::Transport(_))));
}

#[tokio::test]
async fn a_forced_tool_goes_out_as_tool_choice_tool() {
    let (server, llm) = server(vec![anthropic_message(
        json!([{"type": "tool_use", "id": "toolu_01R", "name": "todo_create", "input": {"q": "x"}}]),
        "tool_use",
        json!({"input_tokens": 10, "output_tokens": 5}),
    )])
    .await;
    let mut request = hello();
    request.tool_choice = ToolChoice::Tool("todo_create".into());

    let response = llm.complete(&request).await.unwrap();

    assert_eq!(response.tool_uses().count(), 1);
    let body = server.only_request().json().unwrap();
    assert_eq!(
        body["tool_choice"],
        json!({"type": "tool", "name": "todo_create"})
    );
}

#[tokio::test]
async fn breakpoints_cache_tools_system_and_the_conversation_so_far_in_every_round() {
    let (server, llm) = server(vec![anthropic_text("1"), anthropic_text("2")]).await;
    let first_round = hello();
    let mut second_round = after_tool_round();
    // A round that ends in tool results (the usual case in a tool loop).
    second_round.messages[2]
        .content
        .retain(|block| !matches!(block, Block::Text(_)));

    llm.complete(&first_round).await.unwrap();
    llm.complete(&second_round).await.unwrap();

    for (body, request) in server.request_bodies().iter().zip(server.requests()) {
        assert_eq!(request.body.matches("cache_control").count(), 3);
        assert_eq!(body["tools"][1]["cache_control"]["type"], "ephemeral");
        assert_eq!(body["system"][0]["cache_control"]["type"], "ephemeral");
        let last_message = body["messages"].as_array().unwrap().last().unwrap();
        let last_block = last_message["content"].as_array().unwrap().last().unwrap();
        assert_eq!(last_block["cache_control"]["type"], "ephemeral");
    }
    let second = &server.request_bodies()[1];
    assert_eq!(second["messages"][2]["content"][1]["type"], "tool_result");
    // The first round's breakpoint block is now plain history.
    assert!(
        second["messages"][0]["content"][0]
            .get("cache_control")
            .is_none()
    );
}

#[tokio::test]
async fn an_invalid_tool_use_from_another_provider_goes_out_with_an_empty_input() {
    let (server, llm) = server(vec![anthropic_text("ok")]).await;
    let mut request = hello();
    request.messages.push(Message {
        role: Role::Assistant,
        content: vec![Block::InvalidToolUse {
            id: "call_1".into(),
            name: "todo_list".into(),
            arguments: "{oops".into(),
            error: "your arguments were not valid JSON".into(),
        }],
    });
    request.messages.push(Message {
        role: Role::User,
        content: vec![Block::ToolResult {
            tool_use_id: "call_1".into(),
            content: "your arguments were not valid JSON".into(),
            is_error: true,
        }],
    });

    llm.complete(&request).await.unwrap();

    let body = server.only_request().json().unwrap();
    assert_eq!(
        body["messages"][1]["content"][0],
        json!({"type": "tool_use", "id": "call_1", "name": "todo_list", "input": {}})
    );
}

#[tokio::test]
async fn a_prompt_that_is_too_long_is_a_context_overflow_and_not_retried() {
    let (server, llm) = server(vec![anthropic_error(
        400,
        "invalid_request_error",
        "prompt is too long: 210345 tokens > 200000 maximum",
    )])
    .await;

    let error = llm.complete(&hello()).await.unwrap_err();

    assert_eq!(
        error,
        LlmError::ContextOverflow {
            message: "prompt is too long: 210345 tokens > 200000 maximum".into(),
        }
    );
    assert_eq!(server.request_count(), 1);
}

#[tokio::test]
async fn the_context_window_is_configured_or_known_for_claude_models() {
    let llm =
        |model: &str| AnthropicLlm::new(KEY.into(), model.into(), None, fast_retry()).unwrap();

    assert_eq!(llm(DEFAULT_MODEL).context_window().await, Some(200_000));
    assert_eq!(llm("my-proxy-model").context_window().await, None);
    assert_eq!(
        llm("my-proxy-model")
            .with_context_window(Some(32_768))
            .context_window()
            .await,
        Some(32_768)
    );
}
