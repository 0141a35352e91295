//! The captures of a real llama-cpp-python 0.3.36 server
//! (`tests/fixtures/llama-cpp-python-0.3.36/`, README there) replayed: the
//! request each capture holds is sent again by today's provider to a fake
//! that answers with the captured status and body, and the test checks what
//! the provider now sends and how it reads the answer.

use actors::llm::openai::OpenAiLlm;
use actors::llm::{Block, Llm, LlmError, LlmResponse, StopReason};
use actors::testing::{Dialect, FakeServer, Recorded, fast_retry};
use serde_json::{Value, json};

use crate::fixture::Capture;

/// Serves capture `number`'s answer to the request it holds. Requests with
/// tools and automatic tool choice are first answered with capture 11, the
/// server's empty stream, as the real server would; the provider then
/// sends them whole. Returns the outcome and every request the fake got.
async fn replay(number: &str) -> (Result<LlmResponse, LlmError>, Vec<Recorded>) {
    let capture = Capture::load(number);
    let request = capture.request();
    let server = FakeServer::start(Dialect::OpenAi, Vec::new())
        .await
        .unwrap();
    if !request.tools.is_empty() {
        server.push(Capture::load("11").answer());
    }
    server.push(capture.answer());
    let model = capture.wire_request()["model"].as_str().unwrap().to_owned();
    let llm = OpenAiLlm::new(None, model, server.base_url(), fast_retry()).unwrap();
    let outcome = llm.complete(&request).await;
    assert_eq!(server.pending(), 0, "capture {number} was not served");
    (outcome, server.requests())
}

/// The last request sent whole (not streamed), as JSON.
fn whole(requests: &[Recorded]) -> Value {
    let whole: Vec<&Recorded> = requests.iter().filter(|r| !r.is_streamed()).collect();
    whole.last().expect("a request sent whole").json().unwrap()
}

#[tokio::test]
async fn c01_the_request_now_carries_tool_choice_auto_so_the_tools_reach_the_prompt() {
    let (outcome, requests) = replay("01").await;

    let sent = whole(&requests);
    assert_eq!(sent["tool_choice"], "auto");
    assert_eq!(sent["tools"].as_array().unwrap().len(), 20);
    // The streamed attempt came first and carried the same choice.
    assert!(requests[0].is_streamed());
    assert_eq!(requests[0].json().unwrap()["tool_choice"], "auto");
    let response = outcome.unwrap();
    assert_eq!(response.stop_reason, StopReason::EndTurn);
    assert!(response.text().starts_with("Ich arbeite als Assistant"));
    assert_eq!((response.usage.input, response.usage.output), (436, 117));
}

#[tokio::test]
async fn c02_an_empty_content_answer_is_an_end_turn_without_blocks() {
    let (outcome, requests) = replay("02").await;

    assert_eq!(whole(&requests)["tool_choice"], "auto");
    let response = outcome.unwrap();
    assert!(response.content.is_empty(), "{:?}", response.content);
    assert_eq!(response.stop_reason, StopReason::EndTurn);
    assert_eq!(response.usage.input, 4194);
}

#[tokio::test]
async fn c03_a_validation_error_500_is_a_bad_request_with_the_server_s_message_tried_once() {
    let (outcome, requests) = replay("03").await;

    // Today's request no longer has the null content the server refused.
    let sent = whole(&requests);
    assert_eq!(sent["messages"][2]["role"], "assistant");
    assert_eq!(sent["messages"][2]["content"], "");
    match outcome.unwrap_err() {
        LlmError::BadRequest { status, message } => {
            assert_eq!(status, 500);
            assert!(message.starts_with("7 validation errors:"), "{message}");
            assert!(
                message.contains("Input should be a valid string"),
                "{message}"
            );
        }
        other => panic!("expected BadRequest, got {other:?}"),
    }
    let attempts = requests.iter().filter(|r| !r.is_streamed()).count();
    assert_eq!(attempts, 1, "the identical bytes were sent again");
}

#[tokio::test]
async fn c04_json_string_arguments_beside_a_legacy_function_call_are_one_tool_use() {
    let (outcome, _) = replay("04").await;

    let response = outcome.unwrap();
    assert_eq!(response.stop_reason, StopReason::ToolUse);
    assert_eq!(
        response.content,
        [Block::ToolUse {
            id: "call__0_calendar_create_event_cmpl-657bbd9f-b9fa-4365-9842-5282e40a7a35".into(),
            name: "calendar_create_event".into(),
            input: json!({
                "start": "2023-11-09T08:57:46.285Z",
                "title": "Event: 2023-11-09T08:57:46.285Z, Event: Notion, Action: CreateEventInput",
            }),
        }]
    );
    assert_eq!((response.usage.input, response.usage.output), (4502, 75));
}

#[tokio::test]
async fn c05_html_escaped_arguments_still_parse_and_the_request_is_what_the_proxy_patched() {
    let capture = Capture::load("05");
    let (outcome, requests) = replay("05").await;

    let response = outcome.unwrap();
    let (_, name, input) = response.tool_uses().next().unwrap();
    assert_eq!(name, "calendar_create_event");
    assert_eq!(
        input["end"],
        "&#34;CreateEventInput_Notion, Action::createEventInRouter()"
    );
    // The proxy had to add tool_choice and turn null contents into "";
    // today's request needs neither patch.
    let sent = whole(&requests);
    let patched = &capture.file["forwarded_request"];
    assert_eq!(sent["messages"], patched["messages"]);
    assert_eq!(sent["tool_choice"], patched["tool_choice"]);
    assert_eq!(sent["tools"], patched["tools"]);
}

#[tokio::test]
async fn c06_a_rating_turn_cut_at_max_tokens_is_max_tokens() {
    let (outcome, requests) = replay("06").await;

    // No tools: the server streams this one, and the fake streams the
    // captured answer as that server would.
    assert_eq!(requests.len(), 1);
    assert!(requests[0].is_streamed());
    let response = outcome.unwrap();
    assert_eq!(response.stop_reason, StopReason::MaxTokens);
    assert!(
        response
            .text()
            .starts_with("Ich bin die eine Schnelle Anzahl")
    );
    assert_eq!(response.usage.output, 1024);
}

#[tokio::test]
async fn c07_arguments_of_3148_tokens_still_read_as_one_tool_use() {
    let (outcome, _) = replay("07").await;

    let response = outcome.unwrap();
    assert_eq!(response.tool_uses().count(), 1);
    assert_eq!(response.usage.output, 3148);
}

#[tokio::test]
async fn c08_a_main_turn_cut_at_max_tokens_is_max_tokens() {
    let (outcome, _) = replay("08").await;

    let response = outcome.unwrap();
    assert_eq!(response.stop_reason, StopReason::MaxTokens);
    assert_eq!(response.usage.output, 2048);
}

#[tokio::test]
async fn c12_c13_a_context_overflow_is_read_from_the_400_after_an_empty_stream() {
    let server = FakeServer::start(
        Dialect::OpenAi,
        vec![
            Capture::load("13").answer(),
            Capture::load("12").answer(),
            Capture::load("12").answer(),
        ],
    )
    .await
    .unwrap();
    let llm = OpenAiLlm::new(None, "smollm2-135m".into(), server.base_url(), fast_retry()).unwrap();
    let request = Capture::load("12").request();

    let streamed_first = llm.complete(&request).await.unwrap_err();

    let message = "This model's maximum context length is 8192 tokens. However, you requested \
                   9110 tokens (9010 in the messages, 100 in the completion). Please reduce the \
                   length of the messages or completion.";
    assert_eq!(
        streamed_first,
        LlmError::ContextOverflow {
            message: message.into(),
        }
    );
    let streamed: Vec<bool> = server
        .requests()
        .iter()
        .map(Recorded::is_streamed)
        .collect();
    assert_eq!(streamed, [true, false]);

    // The empty stream was the overflow's doing, not a refusal to stream:
    // the next request is streamed again (and gets the 400 directly).
    let next = llm.complete(&request).await.unwrap_err();
    assert!(matches!(next, LlmError::ContextOverflow { .. }), "{next:?}");
    assert!(server.requests()[2].is_streamed());
}
