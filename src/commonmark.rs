//! Reading what a person wrote in Markdown the way GitHub renders it, with one parser
//! (pulldown-cmark, CommonMark plus GitHub's task lists) for every reader: the task
//! list of an issue (`orchestrator::plan`), the `/flotilla` command of a comment
//! (`orchestrator::command`) and the code `untrusted` leaves as written. What a reader sees as code, a quote or HTML is never a
//! task or a command; what renders as a checkbox or a line of prose is.
//!
//! Only reading lives here. Escaping what Flotilla writes is `review::markdown`, and
//! removing what a reader would not see before text reaches an agent is `untrusted`.

use std::ops::Range;

use pulldown_cmark::{Event, Options, Parser, Tag, TagEnd};

/// One task-list item (`- [ ] …` or `- [x] …`) outside quotes.
#[derive(Debug, PartialEq, Eq)]
pub struct TaskItem {
    /// Whether its box is ticked.
    pub checked: bool,
    /// The Markdown source of its text after the box, up to the end of its first
    /// paragraph, on one line (the item's own nested lists are not part of it).
    pub text: String,
}

/// The parser every reader shares: CommonMark with GitHub's task lists and tables.
fn parser(body: &str) -> Parser<'_> {
    Parser::new_ext(body, Options::ENABLE_TASKLISTS | Options::ENABLE_TABLES)
}

/// The task-list items of `body` with text, in order, except those inside a block
/// quote (a quoted plan is someone else's).
pub fn task_items(body: &str) -> Vec<TaskItem> {
    let mut items = Vec::new();
    let mut quotes = 0usize;
    let mut open: Option<(bool, usize)> = None;
    for (event, range) in parser(body).into_offset_iter() {
        match event {
            Event::Start(Tag::BlockQuote(_)) => quotes += 1,
            Event::End(TagEnd::BlockQuote(_)) => quotes = quotes.saturating_sub(1),
            Event::TaskListMarker(checked) if quotes == 0 => open = Some((checked, range.end)),
            Event::End(TagEnd::Paragraph | TagEnd::Item) | Event::Start(Tag::List(_)) => {
                // The text ends where a nested list starts, else where its paragraph
                // (or, in a tight list, its item) ends.
                let to = match event {
                    Event::Start(_) => range.start,
                    _ => range.end,
                };
                if let Some((checked, from)) = open.take() {
                    let text = one_line(&body[from..to.max(from)]);
                    if !text.is_empty() {
                        items.push(TaskItem { checked, text });
                    }
                }
            }
            _ => {}
        }
    }
    items
}

/// The lines of `body` a reader sees as prose, trimmed: every line outside code
/// blocks, HTML blocks, block quotes and tables.
pub fn prose_lines(body: &str) -> Vec<&str> {
    let hidden: Vec<Range<usize>> = parser(body)
        .into_offset_iter()
        .filter_map(|(event, range)| match event {
            Event::Start(
                Tag::CodeBlock(_) | Tag::HtmlBlock | Tag::BlockQuote(_) | Tag::Table(_),
            ) => Some(range),
            _ => None,
        })
        .collect();
    let mut lines = Vec::new();
    let mut offset = 0;
    for line in body.split_inclusive('\n') {
        if !hidden.iter().any(|range| range.contains(&offset)) {
            lines.push(line.trim());
        }
        offset += line.len();
    }
    lines
}

/// Byte ranges of what renders as code: code blocks (fenced or indented) and code
/// spans.
pub fn code_ranges(text: &str) -> Vec<Range<usize>> {
    parser(text)
        .into_offset_iter()
        .filter_map(|(event, range)| match event {
            Event::Start(Tag::CodeBlock(_)) | Event::Code(_) => Some(range),
            _ => None,
        })
        .collect()
}

/// `text` trimmed, its line breaks (and the indentation after them) made single spaces.
fn one_line(text: &str) -> String {
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(body: &str) -> Vec<(bool, String)> {
        task_items(body)
            .into_iter()
            .map(|item| (item.checked, item.text))
            .collect()
    }

    #[test]
    fn task_items_are_what_renders_as_a_checkbox() {
        let body = "Intro\n\n- [ ] Add `a.rs`\n  and its test\n- [x] Done already\n\
                    1. [ ] Numbered\n   - [ ] Nested under it\n\n\
                    ```\n- [ ] in a fence\n```\n\n    - [ ] indented code\n\n\
                    > - [ ] quoted\n\n- [] not a box\n* [ ]\n";
        assert_eq!(
            texts(body),
            vec![
                (false, "Add `a.rs` and its test".to_owned()),
                (true, "Done already".to_owned()),
                (false, "Numbered".to_owned()),
                (false, "Nested under it".to_owned()),
            ]
        );
    }

    #[test]
    fn prose_lines_leave_out_code_quotes_and_html() {
        let body = "/flotilla status\n\n```\n/flotilla cancel\n```\n\n  ~~~~\n/flotilla retry\n  ~~~~\n\n\
                    > /flotilla replan\n\n<div>\n/flotilla budget\n</div>\n\n- item\n  /flotilla retry 2\n";
        let commands: Vec<&str> = prose_lines(body)
            .into_iter()
            .filter(|line| line.starts_with("/flotilla"))
            .collect();
        assert_eq!(commands, vec!["/flotilla status", "/flotilla retry 2"]);
    }
}
