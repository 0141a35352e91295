//! `read_body`: the middleware that reads a `/mcp` POST's body before rmcp
//! does, so the limits and parse errors are answered the way clients expect.
//!
//! - A body over `max_body_bytes` is a 413 `{"error","code"}` whether it
//!   came with a `Content-Length` or chunked. rmcp reads a chunked body
//!   through the router's `RequestBodyLimitLayer` and answered its length
//!   error with a 500.
//! - A body that is not JSON is answered with a JSON-RPC error object,
//!   `-32700` (parse error), and valid JSON that is not a JSON-RPC message
//!   with `-32600` (invalid request), both HTTP 400 with `"id": null`, as
//!   JSON-RPC 2.0 prescribes; rmcp answered both with a 415 and a text body.
//!
//! The body is parsed once here and once more by rmcp: rmcp takes a body,
//! not a parsed message, and the second parse of a body already bounded by
//! the limit is cheaper than a fork of its transport.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use rmcp::model::ClientJsonRpcMessage;
use serde_json::json;

use crate::http::ApiError;

/// JSON-RPC 2.0: invalid JSON was received.
const PARSE_ERROR: i64 = -32700;
/// JSON-RPC 2.0: the JSON sent is not a valid request object.
const INVALID_REQUEST: i64 = -32600;

/// Reads a POST's body within `max_body_bytes` and checks it is a JSON-RPC
/// message before handing it on; other methods pass untouched.
pub async fn read_body(
    State(max_body_bytes): State<usize>,
    request: Request,
    next: Next,
) -> Response {
    if request.method() != Method::POST {
        return next.run(request).await;
    }
    let (parts, body) = request.into_parts();
    let bytes = match axum::body::to_bytes(body, max_body_bytes).await {
        Ok(bytes) => bytes,
        Err(error) if exceeds_limit(&error) => {
            return ApiError::TooLarge(format!(
                "the request body is larger than {max_body_bytes} bytes"
            ))
            .into_response();
        }
        Err(error) => {
            return ApiError::BadRequest(format!("the request body could not be read: {error}"))
                .into_response();
        }
    };
    if let Err(error) = serde_json::from_slice::<ClientJsonRpcMessage>(&bytes) {
        return json_rpc_error(&error);
    }
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}

/// Whether reading failed because a limit was reached: ours, or the
/// router's `RequestBodyLimitLayer` beneath (both raise `LengthLimitError`,
/// possibly wrapped in the body's own error type).
fn exceeds_limit(error: &axum::Error) -> bool {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(current) = cause {
        if current.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        cause = current.source();
    }
    false
}

/// The JSON-RPC error for a body that is not a message. serde's text is
/// quoted only for syntax errors (a position, no input); a data error's text
/// may quote the input, so it gets a fixed message.
fn json_rpc_error(error: &serde_json::Error) -> Response {
    use serde_json::error::Category;
    let (code, message) = match error.classify() {
        Category::Data => (
            INVALID_REQUEST,
            "Invalid Request: the body is JSON but not a JSON-RPC 2.0 message".to_owned(),
        ),
        Category::Syntax | Category::Eof | Category::Io => {
            (PARSE_ERROR, format!("Parse error: {error}"))
        }
    };
    (
        StatusCode::BAD_REQUEST,
        axum::Json(json!({
            "jsonrpc": "2.0",
            "id": null,
            "error": { "code": code, "message": message },
        })),
    )
        .into_response()
}
