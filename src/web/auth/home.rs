//! `GET /`: the dashboard's front door for a logged-in user — who they are and how to
//! log out (the pages of runs hang off it).

use axum::response::Html;

use super::Viewer;

/// Escapes text for HTML.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The logged-in user's home: their login and a logout form carrying the CSRF token.
pub async fn home(viewer: Viewer) -> Html<String> {
    let csrf = viewer.csrf_token();
    Html(format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Flotilla</title></head>\n\
         <body><header><h1>Flotilla</h1><p>Logged in as <strong id=\"viewer\">{login}</strong></p>\n\
         <form method=\"post\" action=\"/logout\"><input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
         <button type=\"submit\" id=\"logout\">Log out</button></form></header></body></html>\n",
        login = escape(&viewer.login),
        csrf = escape(&csrf.0),
    ))
}
