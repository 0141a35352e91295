//! `actors::testing::FakeModel` behind a real `AnthropicLlm`: it plays a
//! conversation through to the rating turn, remembers which tool uses came
//! back answered, holds to its per-minute limit with the real 429, and
//! injects the faults it is asked for.

use std::sync::Arc;
use std::time::Duration;

use actors::llm::anthropic::{AnthropicLlm, DEFAULT_MODEL};
use actors::llm::retry::RetryPolicy;
use actors::llm::{
    Block, Llm, LlmError, LlmRequest, Message, Role, StopReason, ToolChoice, ToolDef,
};
use actors::testing::{FakeModel, FakeServer, Fault, ModelOptions, fast_retry, parse_request};
use serde_json::json;

async fn model(
    options: ModelOptions,
    retry: RetryPolicy,
) -> (Arc<FakeModel>, FakeServer, AnthropicLlm) {
    let model = Arc::new(FakeModel::new(options).unwrap());
    let server = FakeServer::start_model(model.clone()).await.unwrap();
    let llm = AnthropicLlm::new(
        "sk-ant-test-Secret0123456789".into(),
        DEFAULT_MODEL.into(),
        Some(server.base_url()),
        retry,
    )
    .unwrap()
    .with_timeout(Duration::from_millis(300));
    (model, server, llm)
}

fn todo_tools() -> Vec<ToolDef> {
    vec![
        ToolDef {
            name: "todo_create".into(),
            description: "Create a todo.".into(),
            input_schema: json!({
                "type": "object",
                "properties": {"title": {"type": "string", "minLength": 1}},
                "required": ["title"],
            }),
        },
        ToolDef {
            name: "todo_list".into(),
            description: "List todos.".into(),
            input_schema: json!({"type": "object", "properties": {}}),
        },
    ]
}

fn opening() -> LlmRequest {
    LlmRequest {
        system: "Du bist Ada.".into(),
        messages: vec![Message::user_text("Dein Tag beginnt.")],
        tools: todo_tools().into(),
        tool_choice: ToolChoice::Auto,
        max_tokens: 1024,
    }
}

#[tokio::test]
async fn plays_a_conversation_and_records_which_tool_uses_were_answered() {
    let (model, _server, llm) = model(ModelOptions::default(), fast_retry()).await;
    let mut request = opening();
    let mut turns = 0;
    loop {
        turns += 1;
        assert!(turns < 20, "the simulator never ended its day");
        let response = llm.complete(&request).await.unwrap();
        let results: Vec<Block> = response
            .tool_uses()
            .map(|(id, _, _)| Block::ToolResult {
                tool_use_id: id.into(),
                content: json!({"id": "t1", "title": "Einkaufen"}).to_string(),
                is_error: false,
            })
            .collect();
        request.messages.push(Message {
            role: Role::Assistant,
            content: response.content.clone(),
        });
        if response.stop_reason == StopReason::EndTurn {
            break;
        }
        request.messages.push(Message {
            role: Role::User,
            content: results,
        });
    }
    let issued = model.issued();
    assert!(issued.len() >= 3, "{issued:?}");
    assert!(
        issued
            .iter()
            .all(|call| call.conversation == 1 && call.answered)
    );
    let unique: std::collections::HashSet<_> = issued.iter().map(|call| &call.id).collect();
    assert_eq!(unique.len(), issued.len(), "tool use ids are unique");

    // A new opening is a new conversation; its first calls are unanswered.
    let next = llm.complete(&opening()).await.unwrap();
    assert!(next.tool_uses().count() > 0);
    let issued = model.issued();
    assert!(
        issued
            .iter()
            .any(|call| call.conversation == 2 && !call.answered)
    );
}

#[tokio::test]
async fn above_the_per_minute_limit_it_answers_the_real_429() {
    let options = ModelOptions {
        per_minute: Some(2),
        ..ModelOptions::default()
    };
    let no_retry = RetryPolicy {
        max_attempts: 1,
        ..fast_retry()
    };
    let (model, _server, llm) = model(options, no_retry).await;
    llm.complete(&opening()).await.unwrap();
    llm.complete(&opening()).await.unwrap();
    let refused = llm.complete(&opening()).await.unwrap_err();
    assert!(
        matches!(refused, LlmError::RateLimited { .. }),
        "{refused:?}"
    );
    let stats = model.stats();
    assert_eq!((stats.answered, stats.over_limit), (2, 1));
}

#[tokio::test]
async fn injects_every_kind_of_fault_and_the_provider_sees_each_as_its_error() {
    let options = ModelOptions {
        fault_rate: 1.0,
        hang_for: Duration::from_secs(2),
        ..ModelOptions::default()
    };
    let no_retry = RetryPolicy {
        max_attempts: 1,
        ..fast_retry()
    };
    let (model, _server, llm) = model(options, no_retry).await;
    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..40 {
        let error = llm.complete(&opening()).await.unwrap_err();
        seen.insert(match error {
            LlmError::RateLimited { .. } => "429",
            LlmError::Unavailable { status: 529, .. } => "529",
            LlmError::Unavailable { status: 500, .. } => "500",
            LlmError::Timeout { .. } => "timeout",
            LlmError::Malformed(_) => "garbage",
            other => panic!("unexpected {other:?}"),
        });
        if seen.len() == 5 {
            break;
        }
    }
    assert_eq!(seen.len(), 5, "{seen:?}");
    let stats = model.stats();
    assert_eq!(stats.answered, 0);
    assert!(stats.faults.contains_key(&Fault::Hang));
    assert!(model.issued().is_empty());
}

#[tokio::test]
async fn a_forced_tool_reaches_the_simulator_as_a_forced_tool_choice() {
    let mut rating = opening();
    rating.tools = Arc::from([ToolDef {
        name: "submit_ratings".into(),
        description: "Submit your ratings and what to remember.".into(),
        input_schema: json!({"type": "object", "properties": {
            "ratings": {"type": "array"}, "memory": {"type": "string"}}}),
    }]);
    rating.tool_choice = ToolChoice::Tool("submit_ratings".into());
    let (model, _server, llm) = model(ModelOptions::default(), fast_retry()).await;

    llm.complete(&rating).await.unwrap();

    assert_eq!(model.stats().answered, 1);
    // What the simulator is handed is the request read back from the wire.
    let wire = json!({
        "model": DEFAULT_MODEL, "max_tokens": 64,
        "tools": [{"name": "submit_ratings", "input_schema": {"type": "object"}}],
        "tool_choice": {"type": "tool", "name": "submit_ratings"},
        "messages": [{"role": "user", "content": "Bewerte."}],
    });
    assert_eq!(
        parse_request(&wire).unwrap().tool_choice,
        ToolChoice::Tool("submit_ratings".into())
    );
    let mut auto = wire.clone();
    auto["tool_choice"] = json!({"type": "auto"});
    assert_eq!(parse_request(&auto).unwrap().tool_choice, ToolChoice::Auto);

    // A forced tool the request does not list is the API's 400.
    rating.tool_choice = ToolChoice::Tool("no_such_tool".into());
    let refused = llm.complete(&rating).await.unwrap_err();
    assert!(
        matches!(&refused, LlmError::BadRequest { message, .. } if message.contains("no_such_tool")),
        "{refused:?}"
    );
}
