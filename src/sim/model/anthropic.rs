//! Anthropic's Messages API as Claude Code calls it: `POST /v1/messages`, streamed as
//! server-sent events exactly in Anthropic's event order (or one JSON message when the
//! request does not ask for a stream), and `POST /v1/messages/count_tokens`.
//!
//! A scripted turn becomes content blocks using the tools the request offers: a file
//! write is Claude Code's `Write` (which wants an absolute path: the request names the
//! working directory), an edit is `Edit`, a command is `Bash`, a final message is text.

use std::sync::Arc;

use axum::Json;
use axum::extract::{OriginalUri, State};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::script::{Action, FaultKind, ScriptUsage};
use super::{Api, Asked, RecordedRequest, Said, Shared, event_stream, fault_response, offers_tool};

/// Where Claude Code's request states the working directory.
const WORKING_DIRECTORY: &str = "Primary working directory: ";

/// `POST /v1/messages`.
pub(super) async fn messages(
    State(shared): State<Arc<Shared>>,
    OriginalUri(uri): OriginalUri,
    Json(request): Json<Value>,
) -> Response {
    let asked = Asked::new(
        Api::AnthropicMessages,
        &uri,
        &request,
        "claude-scripted",
        first_user_text(&request),
        assistant_turns(&request),
    );
    let (content, usage) = match shared.play(&asked) {
        Err(kind) => return fault(kind),
        Ok((Said::Act(action), usage)) => (blocks(&action, &request), usage),
        Ok((Said::Text(text), usage)) => (vec![json!({"type": "text", "text": text})], usage),
    };
    let message = Message {
        id: format!("msg_{}", uuid::Uuid::new_v4().simple()),
        model: asked.model,
        stop_reason: if content.iter().any(|b| b["type"] == "tool_use") {
            "tool_use"
        } else {
            "end_turn"
        },
        content,
        usage,
    };
    if asked.stream {
        message.events()
    } else {
        Json(message.whole()).into_response()
    }
}

/// `POST /v1/messages/count_tokens`: a rough count (four characters a token).
pub(super) async fn count_tokens(
    State(shared): State<Arc<Shared>>,
    Json(request): Json<Value>,
) -> Json<Value> {
    shared.record(RecordedRequest {
        api: Api::AnthropicCountTokens,
        target: "POST /v1/messages/count_tokens".to_owned(),
        model: request
            .get("model")
            .and_then(Value::as_str)
            .map(str::to_owned),
        stream: false,
        conversation: None,
        step: 0,
        status: 200,
        usage: None,
    });
    Json(json!({"input_tokens": request.to_string().len() / 4}))
}

/// One answer, before it is serialized either way.
struct Message {
    id: String,
    model: String,
    content: Vec<Value>,
    stop_reason: &'static str,
    usage: ScriptUsage,
}

impl Message {
    /// The non-streaming answer.
    fn whole(&self) -> Value {
        json!({
            "id": self.id,
            "type": "message",
            "role": "assistant",
            "model": self.model,
            "content": self.content,
            "stop_reason": self.stop_reason,
            "stop_sequence": null,
            "usage": usage_json(&self.usage, self.usage.output),
        })
    }

    /// The streamed answer: `message_start` (input and cache usage, output so far),
    /// per block `content_block_start` / deltas / `content_block_stop`,
    /// `message_delta` (stop reason, final output usage), `message_stop`.
    fn events(&self) -> Response {
        let mut out = String::new();
        let mut event = |name: &str, data: Value| {
            out.push_str(&format!("event: {name}\ndata: {data}\n\n"));
        };
        event(
            "message_start",
            json!({"type": "message_start", "message": {
                "id": self.id,
                "type": "message",
                "role": "assistant",
                "model": self.model,
                "content": [],
                "stop_reason": null,
                "stop_sequence": null,
                "usage": usage_json(&self.usage, self.usage.output.min(1)),
            }}),
        );
        for (index, block) in self.content.iter().enumerate() {
            let (start, delta) = match block["type"].as_str() {
                Some("tool_use") => (
                    json!({"type": "tool_use", "id": block["id"], "name": block["name"], "input": {}}),
                    json!({"type": "input_json_delta", "partial_json": block["input"].to_string()}),
                ),
                _ => (
                    json!({"type": "text", "text": ""}),
                    json!({"type": "text_delta", "text": block["text"]}),
                ),
            };
            event(
                "content_block_start",
                json!({"type": "content_block_start", "index": index, "content_block": start}),
            );
            event(
                "content_block_delta",
                json!({"type": "content_block_delta", "index": index, "delta": delta}),
            );
            event(
                "content_block_stop",
                json!({"type": "content_block_stop", "index": index}),
            );
        }
        event(
            "message_delta",
            json!({"type": "message_delta",
                "delta": {"stop_reason": self.stop_reason, "stop_sequence": null},
                "usage": {"output_tokens": self.usage.output}}),
        );
        event("message_stop", json!({"type": "message_stop"}));
        event_stream(out)
    }
}

fn usage_json(usage: &ScriptUsage, output: u64) -> Value {
    json!({
        "input_tokens": usage.input,
        "cache_creation_input_tokens": usage.cache_write,
        "cache_read_input_tokens": usage.cache_read,
        "output_tokens": output,
    })
}

/// Anthropic's error answer for a fault: the status, `{"type": "error", "error":
/// {"type", "message"}}`, and `retry-after` on a rate limit.
fn fault(kind: FaultKind) -> Response {
    let message = match kind {
        FaultKind::ServerError => "Internal server error",
        FaultKind::RateLimited => "Number of request tokens has exceeded your rate limit",
        FaultKind::Overloaded => "Overloaded",
    };
    let body = json!({
        "type": "error",
        "error": {"type": kind.error_type(), "message": message},
        "request_id": format!("req_{}", uuid::Uuid::new_v4().simple()),
    });
    fault_response(kind, body)
}

/// The content blocks of a scripted turn, using the tools the request offers.
fn blocks(action: &Action, request: &Value) -> Vec<Value> {
    let dir = working_directory(request);
    let absolute = |path: &str| match &dir {
        Some(dir) if !path.starts_with('/') => format!("{}/{path}", dir.trim_end_matches('/')),
        _ => path.to_owned(),
    };
    let tool = |name: &str, input: Value| {
        if offers_tool(request, name) {
            json!({"type": "tool_use", "id": format!("toolu_{}", uuid::Uuid::new_v4().simple()),
                "name": name, "input": input})
        } else {
            json!({"type": "text", "text": format!("(the scripted model wanted the {name} tool, which this request does not offer)")})
        }
    };
    let block = match action {
        Action::Write { path, content } => tool(
            "Write",
            json!({"file_path": absolute(path), "content": content}),
        ),
        Action::Edit { path, old, new } => tool(
            "Edit",
            json!({"file_path": absolute(path), "old_string": old, "new_string": new}),
        ),
        Action::Run(command) => tool(
            "Bash",
            json!({"command": command, "description": "Run the scripted command"}),
        ),
        Action::Say(text) => json!({"type": "text", "text": text}),
        Action::Relay(lead) => {
            json!({"type": "text", "text": format!("{lead}\n{}", last_tool_result(request))})
        }
        Action::Fault(_) => json!({"type": "text", "text": ""}),
    };
    vec![block]
}

/// What the last tool call printed: the text of the last `tool_result` block of the
/// request's messages (empty when there is none).
fn last_tool_result(request: &Value) -> String {
    request
        .get("messages")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|message| message["content"].as_array())
        .flatten()
        .rev()
        .find(|block| block["type"] == "tool_result")
        .map(|block| content_text(&block["content"]))
        .unwrap_or_default()
}

/// The text of the first user message (string content or its text blocks).
fn first_user_text(request: &Value) -> String {
    request
        .get("messages")
        .and_then(Value::as_array)
        .and_then(|messages| messages.iter().find(|m| m["role"] == "user"))
        .map(|message| content_text(&message["content"]))
        .unwrap_or_default()
}

fn content_text(content: &Value) -> String {
    match content {
        Value::String(text) => text.clone(),
        Value::Array(blocks) => blocks
            .iter()
            .filter_map(|b| b.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join("\n"),
        _ => String::new(),
    }
}

fn assistant_turns(request: &Value) -> usize {
    request
        .get("messages")
        .and_then(Value::as_array)
        .map_or(0, |messages| {
            messages.iter().filter(|m| m["role"] == "assistant").count()
        })
}

/// The working directory Claude Code names in the system prompt or the messages.
fn working_directory(request: &Value) -> Option<String> {
    let mut texts = vec![content_text(request.get("system").unwrap_or(&Value::Null))];
    if let Some(messages) = request.get("messages").and_then(Value::as_array) {
        texts.extend(messages.iter().map(|m| content_text(&m["content"])));
    }
    texts.iter().find_map(|text| {
        let start = text.find(WORKING_DIRECTORY)? + WORKING_DIRECTORY.len();
        let rest = &text[start..];
        Some(
            rest[..rest.find('\n').unwrap_or(rest.len())]
                .trim()
                .to_owned(),
        )
    })
}
