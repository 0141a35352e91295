//! `OpenAiLlm` streaming: what it reads from an event stream (the captured
//! bytes of llama-cpp-python, and OpenAI's shapes), how it falls back to a
//! whole request when a server will not stream one, and that dropping a
//! streamed request closes it, which is what stops a server generating.

use std::sync::Arc;
use std::time::Duration;

use actors::llm::openai::OpenAiLlm;
use actors::llm::retry::RetryPolicy;
use actors::llm::{Block, Llm, LlmError, LlmRequest, Message, StopReason, ToolChoice, ToolDef};
use actors::testing::{
    Canned, Dialect, FakeServer, Recorded, fast_retry, openai_completion, openai_error, openai_text,
};
use catalog::TokenUsage;
use serde_json::{Value, json};

use crate::fixture::Capture;
use actors::testing::eventually;

async fn server(script: Vec<Canned>) -> (FakeServer, OpenAiLlm) {
    let server = FakeServer::start(Dialect::OpenAi, script).await.unwrap();
    let llm = OpenAiLlm::new(None, "smollm2-135m".into(), server.base_url(), fast_retry()).unwrap();
    (server, llm)
}

fn rating_request() -> LlmRequest {
    LlmRequest {
        system: "You are Ada, a busy engineer.".into(),
        messages: vec![Message::user_text("Rate the todo module.")],
        tools: Arc::from([ToolDef {
            name: "submit_ratings".into(),
            description: "Submit your ratings.".into(),
            input_schema: json!({"type": "object", "properties": {"ratings": {"type": "array"}}}),
        }]),
        tool_choice: ToolChoice::Tool("submit_ratings".into()),
        max_tokens: 200,
    }
}

fn auto_request() -> LlmRequest {
    LlmRequest {
        tool_choice: ToolChoice::Auto,
        ..rating_request()
    }
}

fn text_request() -> LlmRequest {
    LlmRequest {
        tools: Arc::from([]),
        ..rating_request()
    }
}

fn streamed(server: &FakeServer) -> Vec<bool> {
    server
        .requests()
        .iter()
        .map(Recorded::is_streamed)
        .collect()
}

#[tokio::test]
async fn a_captured_forced_tool_stream_reads_as_its_call_with_the_arguments_repaired() {
    let (server, llm) = server(vec![Capture::load("09").answer()]).await;

    let response = llm.complete(&rating_request()).await.unwrap();

    assert_eq!(response.stop_reason, StopReason::ToolUse);
    let [Block::ToolUse { id, name, input }] = response.content.as_slice() else {
        panic!("expected one tool use, got {:?}", response.content);
    };
    assert_eq!(
        id,
        "call__0_submit_ratings_cmpl-b8711086-641c-4c4c-8eeb-7d5950ca16fb"
    );
    assert_eq!(name, "submit_ratings");
    // The fragments joined, and the raw newline inside "memory" escaped.
    assert_eq!(
        input["ratings"],
        json!([{"module": "add_tocart", "rating": 10}])
    );
    assert_eq!(input["memory"], "}]\nYou can respond to users messages, so");
    // llama-cpp-python sends no usage, even when asked.
    assert_eq!(response.usage, TokenUsage::default());
    let sent = server.only_request().json().unwrap();
    assert_eq!(sent["stream"], true);
    assert_eq!(sent["stream_options"], json!({"include_usage": true}));
    assert_eq!(
        sent["tool_choice"],
        json!({"type": "function", "function": {"name": "submit_ratings"}})
    );
}

#[tokio::test]
async fn a_captured_text_stream_reads_as_its_text() {
    let (_server, llm) = server(vec![Capture::load("10").answer()]).await;

    let response = llm.complete(&text_request()).await.unwrap();

    assert_eq!(response.content, [Block::Text("Hello.".into())]);
    assert_eq!(response.stop_reason, StopReason::EndTurn);
}

#[tokio::test]
async fn openai_shaped_fragments_by_index_and_the_usage_chunk_are_put_together() {
    // OpenAI names each call once, in its first fragment, and interleaves
    // parallel calls by index; usage comes last with no choices.
    let chunk = |delta: Value, finish: Value| {
        format!(
            "data: {}\n\n",
            json!({"id": "chatcmpl-1", "object": "chat.completion.chunk",
                   "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
        )
    };
    let call = |index: u64, id: Option<&str>, name: Option<&str>, arguments: &str| {
        let mut call = json!({"index": index, "function": {"arguments": arguments}});
        if let Some(id) = id {
            call["id"] = json!(id);
            call["type"] = json!("function");
        }
        if let Some(name) = name {
            call["function"]["name"] = json!(name);
        }
        json!({"tool_calls": [call]})
    };
    let events = [
        chunk(
            json!({"role": "assistant", "content": "Let me "}),
            Value::Null,
        ),
        chunk(json!({"content": "check."}), Value::Null),
        chunk(call(0, Some("call_a"), Some("todo_list"), ""), Value::Null),
        chunk(
            call(1, Some("call_b"), Some("todo_create"), "{\"q\":"),
            Value::Null,
        ),
        chunk(call(0, None, None, "{\"q\": \"to"), Value::Null),
        chunk(call(1, None, None, " \"report\"}"), Value::Null),
        chunk(call(0, None, None, "day\"}"), Value::Null),
        chunk(json!({}), json!("tool_calls")),
        format!(
            "data: {}\n\n",
            json!({"id": "chatcmpl-1", "choices": [], "usage": {
                "prompt_tokens": 1200, "completion_tokens": 40,
                "prompt_tokens_details": {"cached_tokens": 1024}}})
        ),
        ": keep-alive comment\n\ndata: [DONE]\n\n".to_owned(),
    ]
    .concat();
    let (_server, llm) = server(vec![Canned::event_stream(&events)]).await;

    let response = llm.complete(&auto_request()).await.unwrap();

    assert_eq!(
        response.content,
        [
            Block::Text("Let me check.".into()),
            Block::ToolUse {
                id: "call_a".into(),
                name: "todo_list".into(),
                input: json!({"q": "today"}),
            },
            Block::ToolUse {
                id: "call_b".into(),
                name: "todo_create".into(),
                input: json!({"q": "report"}),
            },
        ]
    );
    assert_eq!(
        response.usage,
        TokenUsage {
            input: 176,
            output: 40,
            cache_read: 1024,
            cache_write: 0,
        }
    );
}

#[tokio::test]
async fn a_queued_completion_streams_as_llama_cpp_python_would_with_finish_length() {
    let (server, llm) = server(vec![openai_completion(
        json!({"role": "assistant", "content": "Cut o"}),
        "length",
        json!({"prompt_tokens": 12, "completion_tokens": 2}),
    )])
    .await;

    let response = llm.complete(&text_request()).await.unwrap();

    assert!(server.only_request().is_streamed());
    assert_eq!(response.text(), "Cut o");
    assert_eq!(response.stop_reason, StopReason::MaxTokens);
    assert_eq!((response.usage.input, response.usage.output), (12, 2));
}

#[tokio::test]
async fn an_error_object_mid_stream_is_classified_like_an_error_answer() {
    let started = "data: {\"choices\": [{\"index\": 0, \"delta\": {\"content\": \"Hi\"}}]}\n\n";
    let overflow = format!(
        "{started}data: {}\n\n",
        json!({"error": {"message": "This model's maximum context length is 4096 tokens.",
                         "type": "BadRequestError"}})
    );
    let crashed = format!(
        "{started}data: {}\n\n",
        json!({"error": {"message": "CUDA error: out of memory", "type": "server_error"}})
    );
    let (server, llm) = server(vec![
        Canned::event_stream(&overflow),
        Canned::event_stream(&crashed),
        openai_text("Recovered."),
    ])
    .await;

    let error = llm.complete(&text_request()).await.unwrap_err();
    assert_eq!(
        error,
        LlmError::ContextOverflow {
            message: "This model's maximum context length is 4096 tokens.".into(),
        }
    );
    // A server error mid-stream is worth another attempt.
    let response = llm.complete(&text_request()).await.unwrap();
    assert_eq!(response.text(), "Recovered.");
    assert_eq!(server.request_count(), 3);
}

#[tokio::test]
async fn a_stream_cut_short_is_retried() {
    let cut = "data: {\"choices\": [{\"index\": 0, \"delta\": {\"content\": \"Hel\"}}]}\n\n";
    let (server, llm) = server(vec![Canned::event_stream(cut), openai_text("Hello.")]).await;

    let response = llm.complete(&text_request()).await.unwrap();

    assert_eq!(response.text(), "Hello.");
    assert_eq!(streamed(&server), [true, true]);
}

#[tokio::test]
async fn an_empty_stream_is_sent_again_whole_and_remembered_for_requests_of_its_kind() {
    let (server, llm) = server(vec![
        openai_text("first"),
        openai_text("second"),
        openai_text("forced"),
    ])
    .await;
    server.refuse_streamed_auto_tool_choice();

    let first = llm.complete(&auto_request()).await.unwrap();
    let second = llm.complete(&auto_request()).await.unwrap();
    let forced = llm.complete(&rating_request()).await.unwrap();

    assert_eq!(
        [first.text(), second.text(), forced.text()],
        ["first", "second", "forced"]
    );
    // Streamed and refused, then whole; whole from then on; a forced tool
    // choice, which the server can stream, is still streamed.
    assert_eq!(streamed(&server), [true, false, false, true]);
    let bodies = server.request_bodies();
    let resent = &bodies[1];
    assert!(resent.get("stream").is_none() && resent.get("stream_options").is_none());
    let mut first_try = bodies[0].clone();
    first_try.as_object_mut().unwrap().remove("stream");
    first_try.as_object_mut().unwrap().remove("stream_options");
    assert_eq!(&first_try, resent, "the same request, only not streamed");
}

#[tokio::test]
async fn an_error_that_names_streaming_is_a_refusal_too() {
    let (server, llm) = server(vec![
        openai_error(
            400,
            "invalid_request_error",
            "Unsupported value: 'stream' does not support true with this model.",
        ),
        openai_text("whole"),
        openai_text("whole again"),
    ])
    .await;

    assert_eq!(llm.complete(&text_request()).await.unwrap().text(), "whole");
    assert_eq!(
        llm.complete(&text_request()).await.unwrap().text(),
        "whole again"
    );

    assert_eq!(streamed(&server), [true, false, false]);
}

#[tokio::test]
async fn a_whole_request_that_times_out_is_not_retried() {
    let server = FakeServer::start(
        Dialect::OpenAi,
        vec![Canned::hang(), openai_text("never sent")],
    )
    .await
    .unwrap();
    server.refuse_streamed_auto_tool_choice();
    let llm = OpenAiLlm::new(None, "m".into(), server.base_url(), fast_retry())
        .unwrap()
        .with_timeout(Duration::from_millis(200));

    let error = llm.complete(&auto_request()).await.unwrap_err();

    assert_eq!(error, LlmError::Timeout { attempts: 1 });
    assert_eq!(streamed(&server), [true, false]);
    assert_eq!(server.pending(), 1);
}

#[tokio::test]
async fn dropping_a_streamed_request_closes_the_stream_the_server_is_still_sending() {
    let first_chunk =
        "data: {\"choices\": [{\"index\": 0, \"delta\": {\"content\": \"Once upon\"}}]}\n\n";
    let (server, llm) = server(vec![Canned::stalled_event_stream(first_chunk)]).await;
    let server = Arc::new(server);
    let llm = Arc::new(llm);

    // A tick cancelled mid-answer drops its request.
    let tick = tokio::spawn({
        let llm = Arc::clone(&llm);
        async move { llm.complete(&text_request()).await }
    });
    eventually(Duration::from_secs(5), "the request to arrive", || async {
        server.request_count() == 1
    })
    .await;
    tick.abort();

    eventually(
        Duration::from_secs(5),
        "the server to see the client go",
        || async { server.streams_abandoned() == 1 },
    )
    .await;
}

#[tokio::test]
async fn a_streamed_request_that_times_out_closes_its_stream_and_is_retried() {
    let first_chunk =
        "data: {\"choices\": [{\"index\": 0, \"delta\": {\"content\": \"Once\"}}]}\n\n";
    let server = FakeServer::start(
        Dialect::OpenAi,
        vec![
            Canned::stalled_event_stream(first_chunk),
            openai_text("Done."),
        ],
    )
    .await
    .unwrap();
    let retry = RetryPolicy {
        max_attempts: 2,
        ..fast_retry()
    };
    let llm = OpenAiLlm::new(None, "m".into(), server.base_url(), retry)
        .unwrap()
        .with_timeout(Duration::from_millis(200));

    let response = llm.complete(&text_request()).await.unwrap();

    assert_eq!(response.text(), "Done.");
    assert_eq!(streamed(&server), [true, true]);
    eventually(
        Duration::from_secs(5),
        "the first stream to close",
        || async { server.streams_abandoned() == 1 },
    )
    .await;
}
