//! `OpenAiLlm` against a fake Chat Completions server, in the dialects of
//! OpenAI/vLLM (arguments as a JSON string) and Ollama/llama.cpp (arguments
//! as an object, ids sometimes missing).

use std::sync::Arc;
use std::time::Duration;

use actors::llm::openai::OpenAiLlm;
use actors::llm::{
    Block, Llm, LlmError, LlmRequest, Message, Role, StopReason, ToolChoice, ToolDef,
};
use catalog::TokenUsage;
use serde_json::{Value, json};

use actors::testing::{
    Canned, Dialect, FakeServer, fast_retry, openai_completion, openai_error, openai_text,
};

const KEY: &str = "sk-proj-test-Secret0123456789";
const MODEL: &str = "qwen3:8b";

async fn server_with_key(key: Option<&str>, script: Vec<Canned>) -> (FakeServer, OpenAiLlm) {
    let server = FakeServer::start(Dialect::OpenAi, script).await.unwrap();
    let llm = OpenAiLlm::new(
        key.map(str::to_owned),
        MODEL.into(),
        server.base_url(),
        fast_retry(),
    )
    .unwrap();
    (server, llm)
}

async fn server(script: Vec<Canned>) -> (FakeServer, OpenAiLlm) {
    server_with_key(None, script).await
}

fn tool(name: &str) -> ToolDef {
    ToolDef {
        name: name.into(),
        description: format!("The {name} tool."),
        input_schema: json!({
            "type": "object",
            "properties": {"q": {"type": "string"}},
        }),
    }
}

fn hello() -> LlmRequest {
    LlmRequest {
        system: "You are Ada, a busy engineer.".into(),
        messages: vec![Message::user_text("Plan your day.")],
        tools: Arc::from([tool("todo_list"), tool("todo_create")]),
        tool_choice: ToolChoice::Auto,
        max_tokens: 512,
    }
}

fn tool_calls_reply(calls: Value) -> Canned {
    openai_completion(
        json!({"role": "assistant", "content": null, "tool_calls": calls}),
        "tool_calls",
        json!({"prompt_tokens": 50, "completion_tokens": 20, "total_tokens": 70}),
    )
}

#[tokio::test]
async fn string_arguments_are_parsed_openai_and_vllm() {
    let (server, llm) = server(vec![tool_calls_reply(json!([
        {"id": "call_abc", "type": "function",
         "function": {"name": "todo_list", "arguments": "{\"q\":\"today\"}"}},
        {"id": "call_def", "type": "function",
         "function": {"name": "todo_create", "arguments": "{\"q\": \"report\"}"}},
    ]))])
    .await;

    let response = llm.complete(&hello()).await.unwrap();

    assert_eq!(response.stop_reason, StopReason::ToolUse);
    assert_eq!(
        response.content,
        vec![
            Block::ToolUse {
                id: "call_abc".into(),
                name: "todo_list".into(),
                input: json!({"q": "today"}),
            },
            Block::ToolUse {
                id: "call_def".into(),
                name: "todo_create".into(),
                input: json!({"q": "report"}),
            },
        ]
    );
    assert_eq!(server.request_count(), 1);
    assert_eq!((llm.provider(), llm.model()), ("openai", MODEL));
}

#[tokio::test]
async fn object_arguments_and_missing_ids_are_accepted_ollama_and_llama_cpp() {
    let (_server, llm) = server(vec![openai_completion(
        json!({
            "role": "assistant",
            "content": "Checking.",
            "tool_calls": [
                {"function": {"name": "todo_list", "arguments": {"q": "today"}}},
                {"id": "", "type": "function",
                 "function": {"name": "todo_create", "arguments": {"q": "report"}}},
            ],
        }),
        // Older Ollama says "stop" even when it called tools.
        "stop",
        json!({"prompt_tokens": 50, "completion_tokens": 20}),
    )])
    .await;

    let response = llm.complete(&hello()).await.unwrap();

    assert_eq!(
        response.content,
        vec![
            Block::Text("Checking.".into()),
            Block::ToolUse {
                id: "call_1".into(),
                name: "todo_list".into(),
                input: json!({"q": "today"}),
            },
            Block::ToolUse {
                id: "call_2".into(),
                name: "todo_create".into(),
                input: json!({"q": "report"}),
            },
        ]
    );
    assert_eq!(response.stop_reason, StopReason::ToolUse);
}

#[tokio::test]
async fn generated_ids_never_repeat_across_turns() {
    let reply = || tool_calls_reply(json!([{"function": {"name": "todo_list", "arguments": {}}}]));
    let (_server, llm) = server(vec![reply(), reply()]).await;

    let first = llm.complete(&hello()).await.unwrap();
    let second = llm.complete(&hello()).await.unwrap();

    let id = |response: &actors::llm::LlmResponse| {
        response
            .tool_uses()
            .map(|(id, _, _)| id.to_owned())
            .collect::<Vec<_>>()
    };
    assert_eq!(id(&first), ["call_1"]);
    assert_eq!(id(&second), ["call_2"]);
}

#[tokio::test]
async fn arguments_that_are_not_a_json_object_become_an_invalid_tool_use() {
    let (_server, llm) = server(vec![tool_calls_reply(json!([
        {"id": "call_1", "type": "function",
         "function": {"name": "todo_create", "arguments": "{\"q\": \"unterminated"}},
        {"id": "call_2", "type": "function",
         "function": {"name": "todo_list", "arguments": ""}},
        {"id": "call_3", "type": "function",
         "function": {"name": "todo_list", "arguments": "[\"today\"]"}},
    ]))])
    .await;

    let response = llm.complete(&hello()).await.unwrap();

    assert_eq!(response.stop_reason, StopReason::ToolUse);
    match &response.content[0] {
        Block::InvalidToolUse {
            id,
            name,
            arguments,
            error,
        } => {
            assert_eq!((id.as_str(), name.as_str()), ("call_1", "todo_create"));
            assert_eq!(arguments, "{\"q\": \"unterminated");
            assert!(
                error.starts_with("your arguments were not valid JSON: EOF while parsing"),
                "{error}"
            );
        }
        other => panic!("expected an invalid tool use, got {other:?}"),
    }
    // Empty arguments are a call without parameters.
    assert_eq!(
        response.tool_uses().collect::<Vec<_>>(),
        [("call_2", "todo_list", &json!({}))]
    );
    assert!(matches!(
        &response.content[2],
        Block::InvalidToolUse { error, .. } if error.starts_with("your arguments were an array")
    ));
}

#[tokio::test]
async fn raw_control_characters_inside_argument_strings_are_repaired() {
    // Five of the six unusable argument strings seen from SmolLM2 held a
    // real newline or tab inside a string.
    let (_server, llm) = server(vec![tool_calls_reply(json!([
        {"id": "call_1", "type": "function",
         "function": {"name": "todo_create", "arguments": "{\"q\": \"line one\nline\ttwo\"}"}},
    ]))])
    .await;

    let response = llm.complete(&hello()).await.unwrap();

    assert_eq!(
        response.content,
        [Block::ToolUse {
            id: "call_1".into(),
            name: "todo_create".into(),
            input: json!({"q": "line one\nline\ttwo"}),
        }]
    );
}

#[tokio::test]
async fn an_invalid_tool_use_is_echoed_with_its_arguments_as_written() {
    let (server, llm) = server(vec![openai_text("Sorry.")]).await;
    let mut request = hello();
    request.messages.push(Message {
        role: Role::Assistant,
        content: vec![Block::InvalidToolUse {
            id: "call_9".into(),
            name: "todo_create".into(),
            arguments: "{\"q\": ".into(),
            error: "your arguments were not valid JSON: EOF".into(),
        }],
    });
    request.messages.push(Message {
        role: Role::User,
        content: vec![Block::ToolResult {
            tool_use_id: "call_9".into(),
            content: "your arguments were not valid JSON: EOF".into(),
            is_error: true,
        }],
    });

    llm.complete(&request).await.unwrap();

    let body = server.only_request().json().unwrap();
    assert_eq!(
        body["messages"][2],
        json!({"role": "assistant", "content": "", "tool_calls": [{
            "id": "call_9",
            "type": "function",
            "function": {"name": "todo_create", "arguments": "{\"q\": "},
        }]})
    );
    assert_eq!(body["messages"][3]["tool_call_id"], "call_9");
}

#[tokio::test]
async fn tools_go_out_with_tool_choice_auto_or_the_forced_function() {
    let (server, llm) = server(vec![openai_text("a"), openai_text("b"), openai_text("c")]).await;
    let mut forced = hello();
    forced.tool_choice = ToolChoice::Tool("todo_create".into());
    let mut without_tools = hello();
    without_tools.tools = Arc::from([]);

    llm.complete(&hello()).await.unwrap();
    llm.complete(&forced).await.unwrap();
    llm.complete(&without_tools).await.unwrap();

    let bodies = server.request_bodies();
    assert_eq!(bodies[0]["tool_choice"], "auto");
    assert_eq!(
        bodies[1]["tool_choice"],
        json!({"type": "function", "function": {"name": "todo_create"}})
    );
    // A choice without tools is an error on OpenAI.
    assert!(bodies[2].get("tool_choice").is_none());
    assert!(bodies[2].get("tools").is_none());
}

#[tokio::test]
async fn tool_results_go_out_as_tool_messages_with_matching_ids() {
    let (server, llm) = server(vec![openai_text("Done.")]).await;
    let mut request = hello();
    request.messages.push(Message {
        role: Role::Assistant,
        content: vec![
            Block::Text("Let me look.".into()),
            Block::ToolUse {
                id: "call_abc".into(),
                name: "todo_list".into(),
                input: json!({"q": "today"}),
            },
            Block::ToolUse {
                id: "call_def".into(),
                name: "todo_create".into(),
                input: json!({"q": "write report"}),
            },
        ],
    });
    request.messages.push(Message {
        role: Role::User,
        content: vec![
            Block::ToolResult {
                tool_use_id: "call_abc".into(),
                content: "[]".into(),
                is_error: false,
            },
            Block::ToolResult {
                tool_use_id: "call_def".into(),
                content: "title is too long".into(),
                is_error: true,
            },
            Block::Text("Carry on.".into()),
        ],
    });

    let response = llm.complete(&request).await.unwrap();

    assert_eq!(response.text(), "Done.");
    assert_eq!(response.stop_reason, StopReason::EndTurn);
    let sent = server.only_request();
    assert_eq!(sent.path, "/v1/chat/completions");
    assert_eq!(sent.header("content-type"), Some("application/json"));
    let body = sent.json().unwrap();
    assert_eq!(body["model"], MODEL);
    assert_eq!(body["max_tokens"], 512);
    assert_eq!(
        body["tools"][1],
        json!({"type": "function", "function": {
            "name": "todo_create",
            "description": "The todo_create tool.",
            "parameters": tool("todo_create").input_schema,
        }})
    );
    let messages = body["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 6);
    assert_eq!(
        messages[0],
        json!({"role": "system", "content": "You are Ada, a busy engineer."})
    );
    assert_eq!(
        messages[1],
        json!({"role": "user", "content": "Plan your day."})
    );
    assert_eq!(messages[2]["role"], "assistant");
    assert_eq!(messages[2]["content"], "Let me look.");
    let calls = messages[2]["tool_calls"].as_array().unwrap();
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[0]["id"], "call_abc");
    assert_eq!(calls[0]["type"], "function");
    assert_eq!(calls[0]["function"]["name"], "todo_list");
    // Arguments travel as a JSON string holding the input.
    let arguments = calls[1]["function"]["arguments"].as_str().unwrap();
    assert_eq!(
        serde_json::from_str::<Value>(arguments).unwrap(),
        json!({"q": "write report"})
    );
    assert_eq!(
        messages[3],
        json!({"role": "tool", "tool_call_id": "call_abc", "content": "[]"})
    );
    assert_eq!(
        messages[4],
        json!({"role": "tool", "tool_call_id": "call_def", "content": "ERROR: title is too long"})
    );
    assert_eq!(messages[5], json!({"role": "user", "content": "Carry on."}));
}

#[tokio::test]
async fn an_assistant_turn_of_only_tool_calls_sends_empty_content_never_null() {
    let (server, llm) = server(vec![openai_text("ok")]).await;
    let mut request = hello();
    request.tools = Arc::from([]);
    request.messages.push(Message {
        role: Role::Assistant,
        content: vec![Block::ToolUse {
            id: "call_1".into(),
            name: "todo_list".into(),
            input: json!({}),
        }],
    });
    request.messages.push(Message {
        role: Role::User,
        content: vec![Block::ToolResult {
            tool_use_id: "call_1".into(),
            content: "[]".into(),
            is_error: false,
        }],
    });

    llm.complete(&request).await.unwrap();

    let body = server.only_request().json().unwrap();
    assert!(body.get("tools").is_none());
    // llama-cpp-python refuses null with a 500 (fixture 03).
    assert_eq!(body["messages"][2]["content"], "");
    assert_eq!(
        body["messages"][2]["tool_calls"][0]["function"]["arguments"],
        "{}"
    );
}

#[tokio::test]
async fn no_authorization_header_without_a_key() {
    let (server, llm) = server(vec![openai_text("hi")]).await;

    llm.complete(&hello()).await.unwrap();

    assert_eq!(server.only_request().header("authorization"), None);
}

#[tokio::test]
async fn an_empty_key_counts_as_none() {
    let (server, llm) = server_with_key(Some(""), vec![openai_text("hi")]).await;

    llm.complete(&hello()).await.unwrap();

    assert_eq!(server.only_request().header("authorization"), None);
}

#[tokio::test]
async fn a_key_is_sent_as_a_bearer_token_and_never_shown() {
    let (server, llm) = server_with_key(Some(KEY), vec![openai_text("hi")]).await;

    llm.complete(&hello()).await.unwrap();

    assert_eq!(
        server.only_request().header("authorization"),
        Some(format!("Bearer {KEY}").as_str())
    );
    let debug = format!("{llm:?}");
    assert!(!debug.contains(KEY), "{debug}");
}

#[tokio::test]
async fn service_unavailable_503_is_retried() {
    let (server, llm) = server(vec![
        openai_error(503, "server_error", "model is loading"),
        openai_text("Ready."),
    ])
    .await;

    let response = llm.complete(&hello()).await.unwrap();

    assert_eq!(response.text(), "Ready.");
    let requests = server.requests();
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[0].body, requests[1].body);
}

#[tokio::test]
async fn rate_limited_429_is_retried_after_retry_after() {
    let (server, llm) = server(vec![
        openai_error(429, "requests", "Rate limit reached for requests").header("retry-after", "0"),
        openai_text("Hello."),
    ])
    .await;

    let response = llm.complete(&hello()).await.unwrap();

    assert_eq!(response.text(), "Hello.");
    assert_eq!(server.request_count(), 2);
}

#[tokio::test]
async fn insufficient_quota_is_a_spend_limit_and_not_retried() {
    let (server, llm) = server(vec![openai_error(
        429,
        "insufficient_quota",
        "You exceeded your current quota, please check your plan and billing details.",
    )])
    .await;

    let error = llm.complete(&hello()).await.unwrap_err();

    assert!(matches!(error, LlmError::SpendLimit(_)), "{error:?}");
    assert_eq!(server.request_count(), 1);
}

#[tokio::test]
async fn unauthorized_401_is_not_retried_and_never_shows_the_key() {
    let (server, llm) = server_with_key(
        Some(KEY),
        vec![openai_error(
            401,
            "invalid_request_error",
            &format!("Incorrect API key provided: {KEY}."),
        )],
    )
    .await;

    let error = llm.complete(&hello()).await.unwrap_err();

    assert!(matches!(error, LlmError::Unauthorized(_)), "{error:?}");
    assert!(!error.to_string().contains(KEY));
    assert!(error.to_string().contains("Incorrect API key provided"));
    assert_eq!(server.request_count(), 1);
}

#[tokio::test]
async fn bad_requests_carry_the_message_in_every_dialect() {
    let cases = [
        (
            openai_error(400, "invalid_request_error", "'tools' is not supported"),
            "'tools' is not supported",
        ),
        // vLLM: a top-level message.
        (
            Canned::json(
                400,
                json!({"object": "error", "message": "\"auto\" tool choice requires --enable-auto-tool-choice", "type": "BadRequestError", "param": null, "code": 400}),
            ),
            "\"auto\" tool choice requires --enable-auto-tool-choice",
        ),
        // Ollama: the error as a plain string.
        (
            Canned::json(
                404,
                json!({"error": "model \"qwen3:8b\" not found, try pulling it first"}),
            ),
            "model \"qwen3:8b\" not found, try pulling it first",
        ),
        (
            Canned::raw(422, "text/plain", "unprocessable: bad messages"),
            "unprocessable: bad messages",
        ),
    ];
    for (canned, expected) in cases {
        let status = canned.status();
        let (server, llm) = server(vec![canned]).await;

        let error = llm.complete(&hello()).await.unwrap_err();

        assert_eq!(
            error,
            LlmError::BadRequest {
                status,
                message: expected.into(),
            }
        );
        assert_eq!(server.request_count(), 1);
    }
}

#[tokio::test]
async fn an_unavailable_server_on_every_attempt_ends_as_unavailable_with_its_message() {
    // llama.cpp's llama-server while it loads the model.
    let script = (0..5)
        .map(|_| {
            Canned::json(
                503,
                json!({"error": {"code": 503, "message": "Loading model", "type": "unavailable_error"}}),
            )
        })
        .collect();
    let (server, llm) = server(script).await;

    let error = llm.complete(&hello()).await.unwrap_err();

    assert_eq!(
        error,
        LlmError::Unavailable {
            status: 503,
            attempts: 5,
            message: "Loading model".into(),
        }
    );
    assert_eq!(server.request_count(), 5);
}

#[tokio::test]
async fn a_500_that_repeats_word_for_word_is_not_tried_a_third_time() {
    let crash = || openai_error(500, "server_error", "llama runner process has terminated");
    let (crashing, llm) = server(vec![crash(), crash(), openai_text("never sent")]).await;

    let error = llm.complete(&hello()).await.unwrap_err();

    assert_eq!(
        error,
        LlmError::BadRequest {
            status: 500,
            message: "the server failed the same way twice: llama runner process has terminated"
                .into(),
        }
    );
    assert_eq!(crashing.request_count(), 2);
    assert_eq!(crashing.pending(), 1);

    // Different words each time: a server that is struggling, worth waiting for.
    let (server, llm) = server(vec![
        openai_error(500, "server_error", "out of memory"),
        openai_error(500, "server_error", "slot unavailable"),
        openai_text("Made it."),
    ])
    .await;
    assert_eq!(llm.complete(&hello()).await.unwrap().text(), "Made it.");
    assert_eq!(server.request_count(), 3);
}

#[tokio::test]
async fn a_200_that_is_not_a_completion_is_retried_then_malformed() {
    let bodies = [
        Canned::raw(200, "text/html", "<html>Ollama is running</html>"),
        Canned::json(200, json!({"id": "chatcmpl-1", "choices": []})),
    ];
    for body in bodies {
        // Most often a body cut short on the way: the next attempt cures it.
        let (cured, llm) = server(vec![body.clone(), openai_text("Hallo")]).await;
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
async fn usage_and_finish_reasons_are_mapped() {
    let (_server, llm) = server(vec![
        openai_completion(
            json!({"role": "assistant", "content": "Cut o"}),
            "length",
            json!({
                "prompt_tokens": 1200,
                "completion_tokens": 64,
                "prompt_tokens_details": {"cached_tokens": 1024},
            }),
        ),
        Canned::json(
            200,
            json!({"choices": [{"message": {"role": "assistant", "content": "Bye."}, "finish_reason": "stop"}]}),
        ),
    ])
    .await;

    let truncated = llm.complete(&hello()).await.unwrap();
    let finished = llm.complete(&hello()).await.unwrap();

    assert_eq!(truncated.stop_reason, StopReason::MaxTokens);
    assert_eq!(
        truncated.usage,
        TokenUsage {
            input: 176,
            output: 64,
            cache_read: 1024,
            cache_write: 0,
        }
    );
    assert_eq!(finished.stop_reason, StopReason::EndTurn);
    assert_eq!(finished.text(), "Bye.");
    assert_eq!(finished.usage, TokenUsage::default());
}

#[tokio::test]
async fn a_server_that_never_answers_times_out() {
    let server = FakeServer::start(Dialect::OpenAi, vec![Canned::hang(), Canned::hang()])
        .await
        .unwrap();
    let retry = actors::llm::retry::RetryPolicy {
        max_attempts: 2,
        ..fast_retry()
    };
    let llm = OpenAiLlm::new(None, MODEL.into(), server.base_url(), retry)
        .unwrap()
        .with_timeout(Duration::from_millis(100));

    let error = llm.complete(&hello()).await.unwrap_err();

    assert_eq!(error, LlmError::Timeout { attempts: 2 });
    assert_eq!(server.request_count(), 2);
}

#[tokio::test]
async fn only_a_key_of_eight_characters_or_more_standing_alone_is_scrubbed() {
    let (short, llm) = server_with_key(
        Some("x"),
        vec![openai_error(
            400,
            "invalid_request_error",
            "x is not a model; try x-small",
        )],
    )
    .await;
    assert_eq!(
        llm.complete(&hello()).await.unwrap_err(),
        LlmError::BadRequest {
            status: 400,
            message: "x is not a model; try x-small".into(),
        }
    );
    assert_eq!(short.request_count(), 1);

    let (_server, llm) = server_with_key(
        Some("sk-abcdefgh12"),
        vec![openai_error(
            401,
            "invalid_request_error",
            "Incorrect API key: Bearer sk-abcdefgh12. Did you mean sk-abcdefgh123?",
        )],
    )
    .await;
    assert_eq!(
        llm.complete(&hello()).await.unwrap_err(),
        LlmError::Unauthorized(
            "Incorrect API key: Bearer [redacted]. Did you mean sk-abcdefgh123?".into()
        )
    );
}

#[tokio::test]
async fn a_context_overflow_is_recognised_in_each_server_s_400() {
    let cases = [
        // A 400 that does not say so stays a plain bad request.
        openai_error(400, "invalid_request_error", "Too long."),
        // OpenAI and llama-cpp-python (capture 12): the code says it.
        Canned::json(
            400,
            json!({"error": {"message": "too long", "type": "invalid_request_error",
                             "param": "messages", "code": "context_length_exceeded"}}),
        ),
        // llama.cpp's llama-server: the type says it.
        Canned::json(
            400,
            json!({"error": {"code": 400, "message": "the request exceeds the available context size, try increasing it",
                             "type": "exceed_context_size_error", "n_prompt_tokens": 9000, "n_ctx": 8192}}),
        ),
        // vLLM: a top-level message.
        Canned::json(
            400,
            json!({"object": "error", "message": "This model's maximum context length is 32768 tokens. However, you requested 40000 tokens.",
                   "type": "BadRequestError", "param": null, "code": 400}),
        ),
        // llama_cpp's own words, when the server does not rewrite them.
        openai_error(
            400,
            "invalid_request_error",
            "Requested tokens (8429) exceed context window of 8192",
        ),
    ];
    for (index, canned) in cases.into_iter().enumerate() {
        let (server, llm) = server(vec![canned]).await;

        let error = llm.complete(&hello()).await.unwrap_err();

        if index == 0 {
            assert!(matches!(error, LlmError::BadRequest { .. }), "{error:?}");
        } else {
            assert!(
                matches!(error, LlmError::ContextOverflow { .. }),
                "{index}: {error:?}"
            );
        }
        assert_eq!(server.request_count(), 1);
    }
}
