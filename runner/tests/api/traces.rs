//! Traces: `persona up --once` with `OTEL_EXPORTER_OTLP_ENDPOINT` pointing
//! at an OTLP/HTTP receiver in this test (JSON encoding, decoded here as the
//! OTLP specification writes it) sends the tick as GenAI spans, and the
//! built-in app continues each tool call's trace from the `traceparent` the
//! request carried.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::routing::post;
use serde_json::Value;

use crate::helpers::persona_command;

/// Every export request the receiver got.
#[derive(Clone, Default)]
struct Received(Arc<Mutex<Vec<Value>>>);

async fn receiver() -> (String, Received) {
    let received = Received::default();
    let store = received.clone();
    let app = Router::new().route(
        "/v1/traces",
        post(move |body: axum::Json<Value>| {
            let store = store.clone();
            async move {
                store.0.lock().unwrap().push(body.0);
                axum::Json(serde_json::json!({}))
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, received)
}

/// One span as the test reads it.
#[derive(Debug, Clone)]
struct Span {
    name: String,
    trace_id: String,
    span_id: String,
    parent: String,
    /// OTLP's SpanKind: 1 internal, 2 server, 3 client.
    kind: u64,
    attributes: HashMap<String, Value>,
    events: Vec<(String, HashMap<String, Value>)>,
    service: String,
}

fn attributes(list: &Value) -> HashMap<String, Value> {
    list.as_array()
        .map(|list| {
            list.iter()
                .map(|attribute| {
                    let value = attribute["value"].as_object().unwrap();
                    // {"stringValue": "…"} / {"intValue": "3"} / {"doubleValue": 4.0}
                    let (_, value) = value.iter().next().unwrap();
                    (attribute["key"].as_str().unwrap().to_owned(), value.clone())
                })
                .collect()
        })
        .unwrap_or_default()
}

fn spans(received: &Received) -> Vec<Span> {
    let mut spans = Vec::new();
    for request in received.0.lock().unwrap().iter() {
        for resource in request["resourceSpans"].as_array().unwrap() {
            let service = attributes(&resource["resource"]["attributes"])["service.name"]
                .as_str()
                .unwrap()
                .to_owned();
            for scope in resource["scopeSpans"].as_array().unwrap() {
                for span in scope["spans"].as_array().unwrap() {
                    spans.push(Span {
                        name: span["name"].as_str().unwrap().to_owned(),
                        trace_id: span["traceId"].as_str().unwrap().to_owned(),
                        span_id: span["spanId"].as_str().unwrap().to_owned(),
                        parent: span["parentSpanId"].as_str().unwrap_or("").to_owned(),
                        kind: span["kind"].as_u64().unwrap_or(0),
                        attributes: attributes(&span["attributes"]),
                        events: span["events"]
                            .as_array()
                            .map(|events| {
                                events
                                    .iter()
                                    .map(|event| {
                                        (
                                            event["name"].as_str().unwrap().to_owned(),
                                            attributes(&event["attributes"]),
                                        )
                                    })
                                    .collect()
                            })
                            .unwrap_or_default(),
                        service: service.clone(),
                    });
                }
            }
        }
    }
    spans
}

fn text<'a>(span: &'a Span, key: &str) -> &'a str {
    span.attributes
        .get(key)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("{} has no {key}: {span:?}", span.name))
}

/// OTLP JSON writes 64-bit integers as strings.
fn number(value: &Value) -> f64 {
    value
        .as_f64()
        .or_else(|| value.as_str().and_then(|text| text.parse().ok()))
        .unwrap_or_else(|| panic!("not a number: {value}"))
}

#[tokio::test]
async fn a_tick_is_one_trace_of_genai_spans_that_the_app_continues() {
    let (endpoint, received) = receiver().await;
    let dir = tempfile::tempdir().unwrap();
    let output = tokio::process::Command::from(persona_command(dir.path()))
        .args([
            "up",
            "--once",
            "--gateway-addr",
            "127.0.0.1:0",
            "--persona",
            "anna.keller@mana.test",
        ])
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint)
        .env("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json")
        .output()
        .await
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let spans = spans(&received);

    let agents: Vec<&Span> = spans
        .iter()
        .filter(|span| span.name == "invoke_agent Anna Keller")
        .collect();
    assert_eq!(agents.len(), 1, "one tick, one agent span: {spans:#?}");
    let agent = agents[0];
    assert_eq!(agent.service, "persona-runner");
    assert_eq!(text(agent, "gen_ai.operation.name"), "invoke_agent");
    assert_eq!(text(agent, "gen_ai.provider.name"), "scripted");
    let tick_id = text(agent, "gen_ai.conversation.id").to_owned();
    let in_tick = |span: &&Span| span.trace_id == agent.trace_id;

    let chats: Vec<&Span> = spans
        .iter()
        .filter(in_tick)
        .filter(|span| span.name.starts_with("chat "))
        .collect();
    assert!(
        chats.len() >= 2,
        "a day turn and the rating turn: {:#?}",
        spans
            .iter()
            .map(|span| (&span.name, &span.trace_id, &span.parent))
            .collect::<Vec<_>>()
    );
    for chat in &chats {
        assert_eq!(chat.parent, agent.span_id);
        assert_eq!(chat.kind, 3, "an LLM request is a client span");
        assert_eq!(text(chat, "gen_ai.operation.name"), "chat");
        assert!(number(&chat.attributes["gen_ai.usage.input_tokens"]) > 0.0);
        assert!(chat.attributes.contains_key("gen_ai.usage.output_tokens"));
    }

    // Each call: execute_tool in the tick, tools/call under it, and the
    // app's server span under that, in the same trace.
    let executions: Vec<&Span> = spans
        .iter()
        .filter(in_tick)
        .filter(|span| span.name.starts_with("execute_tool "))
        .collect();
    assert!(!executions.is_empty(), "{spans:#?}");
    for execution in &executions {
        assert_eq!(execution.parent, agent.span_id);
        let tool = text(execution, "gen_ai.tool.name");
        let client = spans
            .iter()
            .find(|span| span.parent == execution.span_id && span.kind == 3)
            .unwrap_or_else(|| panic!("no tools/call under {execution:?}"));
        assert_eq!(client.name, format!("tools/call {tool}"));
        assert_eq!(text(client, "mcp.method.name"), "tools/call");
        let server = spans
            .iter()
            .find(|span| span.parent == client.span_id)
            .unwrap_or_else(|| panic!("the app did not continue the trace of {client:?}"));
        assert_eq!(server.kind, 2, "the app's span is a server span");
        assert_eq!(server.trace_id, agent.trace_id);
        assert_eq!(server.name, format!("tools/call {tool}"));
        if let Some(error) = execution.attributes.get("error.type") {
            assert!(["app", "agent"].contains(&error.as_str().unwrap()));
        }
    }

    // One evaluation event per rated module, as the tick stored them.
    let mut ratings: Vec<(String, f64)> = agent
        .events
        .iter()
        .filter(|(name, _)| name == "gen_ai.evaluation.result")
        .map(|(_, attributes)| {
            (
                attributes["gen_ai.evaluation.score.label"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
                number(&attributes["gen_ai.evaluation.score.value"]),
            )
        })
        .collect();
    let store = gateway::Store::connect(&format!(
        "sqlite://{}",
        dir.path().join("persona.db").display()
    ))
    .await
    .unwrap();
    let stored: Vec<(String, f64)> = store
        .tick_feedback(&tick_id)
        .await
        .unwrap()
        .into_iter()
        .filter_map(|row| Some((row.module, row.rating?.get() as f64)))
        .collect();
    assert!(!stored.is_empty());
    ratings.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(ratings, stored, "tick_feedback is by module");
    store.close().await;

    // Nothing of the trace reached the log lines.
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !stderr.contains("gen_ai.evaluation.result") && !stderr.contains("invoke_agent"),
        "{stderr}"
    );
}

#[test]
fn a_grpc_exporter_is_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let output = persona_command(dir.path())
        .args(["catalog", "check"])
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4317")
        .env("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("OTEL_EXPORTER_OTLP_PROTOCOL=\"grpc\" is not supported"),
        "{stderr}"
    );
}
