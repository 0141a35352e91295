//! `OpenAiLlm::context_window`: configured, or asked of the server once
//! (llama.cpp's `/props`, vLLM's `/v1/models`), or unknown when the server
//! does not say, as llama-cpp-python does not (captures 14 and 15).

use actors::llm::Llm;
use actors::llm::openai::OpenAiLlm;
use actors::testing::{Canned, Dialect, FakeServer, fast_retry};
use serde_json::json;

use crate::fixture::Capture;

async fn server() -> FakeServer {
    FakeServer::start(Dialect::OpenAi, Vec::new())
        .await
        .unwrap()
}

fn llm(server: &FakeServer, model: &str) -> OpenAiLlm {
    OpenAiLlm::new(
        Some("sk-test-Secret0123456789".into()),
        model.into(),
        server.base_url(),
        fast_retry(),
    )
    .unwrap()
}

fn paths(server: &FakeServer) -> Vec<String> {
    server
        .requests()
        .into_iter()
        .map(|request| request.path)
        .collect()
}

#[tokio::test]
async fn llama_cpp_python_says_nothing_so_the_window_is_unknown_and_asked_once() {
    let server = server().await;
    server.on_get("/props", Capture::load("14").answer());
    server.on_get("/v1/models", Capture::load("15").answer());
    let llm = llm(&server, "smollm2-135m");

    assert_eq!(llm.context_window().await, None);
    assert_eq!(llm.context_window().await, None);

    assert_eq!(paths(&server), ["/props", "/v1/models"]);
}

#[tokio::test]
async fn llama_cpp_server_states_it_in_props() {
    let server = server().await;
    server.on_get(
        "/props",
        Canned::json(
            200,
            json!({"default_generation_settings": {"n_ctx": 8192, "params": {}}, "total_slots": 1}),
        ),
    );
    let llm = llm(&server, "qwen3");

    assert_eq!(llm.context_window().await, Some(8192));

    let requests = server.requests();
    assert_eq!(requests.len(), 1);
    // Asked with the same credentials as the completions.
    assert_eq!(
        requests[0].header("authorization"),
        Some("Bearer sk-test-Secret0123456789")
    );
}

#[tokio::test]
async fn vllm_states_it_per_model_in_the_model_list() {
    let server = server().await;
    server.on_get(
        "/v1/models",
        Canned::json(
            200,
            json!({"object": "list", "data": [
                {"id": "other", "object": "model", "max_model_len": 4096},
                {"id": "Qwen/Qwen3-8B", "object": "model", "max_model_len": 40960},
            ]}),
        ),
    );

    assert_eq!(
        llm(&server, "Qwen/Qwen3-8B").context_window().await,
        Some(40960)
    );
    assert_eq!(llm(&server, "not-served").context_window().await, None);
}

#[tokio::test]
async fn a_configured_window_wins_without_asking() {
    let server = server().await;
    let llm = llm(&server, "qwen3").with_context_window(Some(16_384));

    assert_eq!(llm.context_window().await, Some(16_384));
    assert_eq!(server.request_count(), 0);
}

#[tokio::test]
async fn an_unreachable_server_gives_none_without_failing() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let llm = OpenAiLlm::new(None, "m".into(), format!("http://{addr}/v1"), fast_retry()).unwrap();

    assert_eq!(llm.context_window().await, None);
}
