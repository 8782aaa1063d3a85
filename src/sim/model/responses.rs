//! OpenAI's Responses API as the Codex CLI calls it: `POST /v1/responses` with
//! `stream: true`, answered with server-sent events in OpenAI's order
//! (`response.created`, `response.in_progress`, per output item `output_item.added`,
//! its deltas and `output_item.done`, then `response.completed` carrying the usage), or
//! one JSON response object when the request does not ask for a stream.
//!
//! The API is stateless (Codex sends `store: false` and the whole conversation each
//! time): a request's step is the number of assistant turns already in its `input`,
//! a turn being one run of items the model produced (messages, function calls,
//! reasoning) between items from the client. A scripted turn becomes an output item
//! using the tools the request offers: a command is a call of Codex's shell tool
//! (`exec_command`, or the older `shell_command` / `shell`); a file write or edit is
//! the same tool running `apply_patch` with a patch in Codex's patch format, which
//! Codex recognises and applies itself as a file change; a final message is a
//! `message` item.
//!
//! Usage is reported the way OpenAI does: `input_tokens` counts all input, cached
//! (`input_tokens_details.cached_tokens`) and cache-written
//! (`input_tokens_details.cache_write_tokens`) included; `output_tokens` includes
//! reasoning (none here).

use std::sync::Arc;

use axum::Json;
use axum::extract::{OriginalUri, State};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::script::{Action, FaultKind, ScriptUsage};
use super::{Api, Asked, Said, Shared, event_stream, fault_response, offers_tool};

/// Shell tools Codex has offered across versions, most recent first.
const SHELL_TOOLS: [&str; 3] = ["exec_command", "shell_command", "shell"];

/// `POST /v1/responses`.
pub(super) async fn responses(
    State(shared): State<Arc<Shared>>,
    OriginalUri(uri): OriginalUri,
    Json(request): Json<Value>,
) -> Response {
    let input = request
        .get("input")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let asked = Asked::new(
        Api::OpenAiResponses,
        &uri,
        &request,
        "gpt-scripted",
        user_text(&input),
        assistant_turns(&input),
    );
    let (item, usage) = match shared.play(&asked) {
        Err(kind) => return fault(kind),
        Ok((Said::Act(action), usage)) => (output_item(&action, &request), usage),
        Ok((Said::Text(text), usage)) => (message(&text), usage),
    };
    let answer = Answer {
        id: format!("resp_{}", uuid::Uuid::new_v4().simple()),
        model: asked.model,
        item,
        usage,
    };
    if asked.stream {
        answer.events()
    } else {
        Json(answer.response("completed", true)).into_response()
    }
}

/// One answer, before it is serialized either way.
struct Answer {
    id: String,
    model: String,
    item: Value,
    usage: ScriptUsage,
}

impl Answer {
    /// The response object, with its output and usage once `completed`.
    fn response(&self, status: &str, completed: bool) -> Value {
        json!({
            "id": self.id,
            "object": "response",
            "created_at": chrono::Utc::now().timestamp(),
            "status": status,
            "model": self.model,
            "output": if completed { json!([self.item]) } else { json!([]) },
            "usage": if completed { usage_json(&self.usage) } else { Value::Null },
        })
    }

    /// The streamed answer, each event numbered by `sequence_number` as OpenAI does.
    fn events(&self) -> Response {
        let mut out = String::new();
        let mut sequence = 0u64;
        let mut event = |mut data: Value| {
            let name = data["type"].as_str().unwrap_or_default().to_owned();
            data["sequence_number"] = json!(sequence);
            sequence += 1;
            out.push_str(&format!("event: {name}\ndata: {data}\n\n"));
        };
        let in_progress = self.response("in_progress", false);
        event(json!({"type": "response.created", "response": in_progress}));
        event(json!({"type": "response.in_progress", "response": in_progress}));
        let item_id = self.item["id"].clone();
        match self.item["type"].as_str() {
            Some("function_call") => {
                let arguments = self.item["arguments"].clone();
                let mut added = self.item.clone();
                added["arguments"] = json!("");
                added["status"] = json!("in_progress");
                event(
                    json!({"type": "response.output_item.added", "output_index": 0, "item": added}),
                );
                event(json!({"type": "response.function_call_arguments.delta",
                    "item_id": item_id, "output_index": 0, "delta": arguments}));
                event(json!({"type": "response.function_call_arguments.done",
                    "item_id": item_id, "output_index": 0, "arguments": arguments}));
            }
            _ => {
                let text = self.item["content"][0]["text"].clone();
                let mut added = self.item.clone();
                added["content"] = json!([]);
                added["status"] = json!("in_progress");
                event(
                    json!({"type": "response.output_item.added", "output_index": 0, "item": added}),
                );
                let part =
                    |text: Value| json!({"type": "output_text", "text": text, "annotations": []});
                event(
                    json!({"type": "response.content_part.added", "item_id": item_id,
                    "output_index": 0, "content_index": 0, "part": part(json!(""))}),
                );
                event(
                    json!({"type": "response.output_text.delta", "item_id": item_id,
                    "output_index": 0, "content_index": 0, "delta": text}),
                );
                event(
                    json!({"type": "response.output_text.done", "item_id": item_id,
                    "output_index": 0, "content_index": 0, "text": text}),
                );
                event(
                    json!({"type": "response.content_part.done", "item_id": item_id,
                    "output_index": 0, "content_index": 0, "part": part(text)}),
                );
            }
        }
        event(json!({"type": "response.output_item.done", "output_index": 0, "item": self.item}));
        event(json!({"type": "response.completed", "response": self.response("completed", true)}));
        event_stream(out)
    }
}

/// OpenAI's `usage` object for a script's usage: input counts every input token.
fn usage_json(usage: &ScriptUsage) -> Value {
    let input = usage.input + usage.cache_read + usage.cache_write;
    json!({
        "input_tokens": input,
        "input_tokens_details": {
            "cached_tokens": usage.cache_read,
            "cache_write_tokens": usage.cache_write,
        },
        "output_tokens": usage.output,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": input + usage.output,
    })
}

/// OpenAI's error answer for a fault: the status, `{"error": {"message", "type",
/// "param", "code"}}`, and `retry-after` on a rate limit.
fn fault(kind: FaultKind) -> Response {
    let (message, kind_name, code) = match kind {
        FaultKind::ServerError => (
            "The server had an error while processing your request.",
            "server_error",
            Value::Null,
        ),
        FaultKind::RateLimited => (
            "Rate limit reached for requests.",
            "requests",
            json!("rate_limit_exceeded"),
        ),
        FaultKind::Overloaded => (
            "The engine is currently overloaded, please try again later.",
            "server_error",
            json!("server_is_overloaded"),
        ),
    };
    let body =
        json!({"error": {"message": message, "type": kind_name, "param": null, "code": code}});
    fault_response(kind, body)
}

/// The output item of a scripted turn, using the shell tool the request offers.
fn output_item(action: &Action, request: &Value) -> Value {
    let command = match action {
        Action::Write { path, content } => apply_patch(&add_file(path, content)),
        Action::Edit { path, old, new } => apply_patch(&update_file(path, old, new)),
        Action::Run(command) => command.clone(),
        Action::Say(text) => return message(text),
        Action::Relay(lead) => return message(&format!("{lead}\n{}", last_output(request))),
        Action::Fault(_) => return message(""),
    };
    let offered = SHELL_TOOLS
        .iter()
        .find(|name| offers_tool(request, name))
        .copied();
    let arguments = match offered {
        Some("exec_command") => json!({"cmd": command}),
        Some("shell_command") => json!({"command": command}),
        Some(_) => json!({"command": ["bash", "-lc", command]}),
        None => {
            return message(
                "(the scripted model wanted a shell tool, which this request does not offer)",
            );
        }
    };
    let id = uuid::Uuid::new_v4().simple().to_string();
    json!({
        "type": "function_call",
        "id": format!("fc_{id}"),
        "call_id": format!("call_{id}"),
        "name": offered,
        "arguments": arguments.to_string(),
        "status": "completed",
    })
}

/// What the last tool call printed: the `output` of the request's last
/// `function_call_output` item (empty when there is none).
fn last_output(request: &Value) -> String {
    let last = request
        .get("input")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .rev()
        .find(|item| item["type"] == "function_call_output");
    match last.map(|item| &item["output"]) {
        Some(Value::String(text)) => text.clone(),
        Some(Value::Array(parts)) => parts
            .iter()
            .filter_map(|part| part["text"].as_str())
            .collect::<Vec<_>>()
            .join("\n"),
        Some(other) if !other.is_null() => other.to_string(),
        _ => String::new(),
    }
}

/// A final `message` item holding `text`.
fn message(text: &str) -> Value {
    json!({
        "type": "message",
        "id": format!("msg_{}", uuid::Uuid::new_v4().simple()),
        "role": "assistant",
        "status": "completed",
        "content": [{"type": "output_text", "text": text, "annotations": []}],
    })
}

/// `apply_patch` with `patch` as a here-document whose terminator the patch cannot hold.
fn apply_patch(patch: &str) -> String {
    let mut terminator = "PATCH".to_owned();
    while patch.lines().any(|line| line == terminator) {
        terminator.push('_');
    }
    format!("apply_patch <<'{terminator}'\n{patch}{terminator}\n")
}

/// A patch that creates (or replaces) `path` with `content`.
fn add_file(path: &str, content: &str) -> String {
    let mut patch = format!("*** Begin Patch\n*** Add File: {path}\n");
    for line in content.lines() {
        patch.push_str(&format!("+{line}\n"));
    }
    patch.push_str("*** End Patch\n");
    patch
}

/// A patch that replaces the lines `old` of `path` with the lines `new`.
fn update_file(path: &str, old: &str, new: &str) -> String {
    let mut patch = format!("*** Begin Patch\n*** Update File: {path}\n@@\n");
    for line in old.lines() {
        patch.push_str(&format!("-{line}\n"));
    }
    for line in new.lines() {
        patch.push_str(&format!("+{line}\n"));
    }
    patch.push_str("*** End Patch\n");
    patch
}

/// Whether an input item was produced by the model rather than the client.
fn from_model(item: &Value) -> bool {
    match item["type"].as_str() {
        Some("message") => item["role"] == "assistant",
        Some("function_call" | "custom_tool_call" | "reasoning" | "local_shell_call") => true,
        _ => false,
    }
}

/// Runs of model-produced items in `input`: the assistant turns already taken.
fn assistant_turns(input: &[Value]) -> usize {
    let mut turns = 0;
    let mut in_turn = false;
    for item in input {
        let model = from_model(item);
        if model && !in_turn {
            turns += 1;
        }
        in_turn = model;
    }
    turns
}

/// The text of every user message, joined: Codex sends its environment context and
/// the prompt as separate user messages.
fn user_text(input: &[Value]) -> String {
    input
        .iter()
        .filter(|item| item["type"] == "message" && item["role"] == "user")
        .flat_map(|item| match &item["content"] {
            Value::String(text) => vec![text.clone()],
            Value::Array(parts) => parts
                .iter()
                .filter_map(|p| p.get("text").and_then(Value::as_str).map(str::to_owned))
                .collect(),
            _ => Vec::new(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_turn_is_a_run_of_model_items_between_client_items() {
        let input = [
            json!({"type": "message", "role": "developer", "content": []}),
            json!({"type": "message", "role": "user", "content": []}),
            json!({"type": "reasoning", "summary": []}),
            json!({"type": "function_call", "call_id": "a"}),
            json!({"type": "function_call_output", "call_id": "a"}),
            json!({"type": "function_call", "call_id": "b"}),
            json!({"type": "function_call_output", "call_id": "b"}),
        ];
        assert_eq!(assistant_turns(&input[..2]), 0);
        assert_eq!(assistant_turns(&input), 2);
    }

    #[test]
    fn a_write_is_apply_patch_through_the_offered_shell_tool() {
        let request = json!({"tools": [{"type": "function", "name": "exec_command"}]});
        let item = output_item(
            &Action::Write {
                path: "a.txt".to_owned(),
                content: "one\nPATCH\n".to_owned(),
            },
            &request,
        );
        assert_eq!(item["name"], "exec_command");
        let arguments: Value = serde_json::from_str(item["arguments"].as_str().unwrap()).unwrap();
        assert_eq!(
            arguments["cmd"],
            "apply_patch <<'PATCH'\n*** Begin Patch\n*** Add File: a.txt\n+one\n+PATCH\n*** End Patch\nPATCH\n"
        );
    }

    #[test]
    fn a_relay_answers_with_what_the_last_command_printed() {
        let request = json!({"input": [
            {"type": "function_call_output", "call_id": "a", "output": "first"},
            {"type": "function_call_output", "call_id": "b", "output": "{\"verdict\": \"upheld\"}"},
        ]});
        let item = output_item(&Action::Relay("It printed:".to_owned()), &request);
        assert_eq!(item["type"], "message");
        assert_eq!(
            item["content"][0]["text"],
            "It printed:\n{\"verdict\": \"upheld\"}"
        );
    }

    #[test]
    fn usage_counts_cached_and_written_input_inside_input_tokens() {
        let usage = usage_json(&ScriptUsage {
            input: 10,
            output: 4,
            cache_read: 30,
            cache_write: 5,
        });
        assert_eq!(usage["input_tokens"], 45);
        assert_eq!(usage["input_tokens_details"]["cached_tokens"], 30);
        assert_eq!(usage["total_tokens"], 49);
    }
}
