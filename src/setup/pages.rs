//! The setup pages, rendered server-side from `templates/setup/` (askama escapes every
//! value, the manifest JSON in its form field included).

use askama::Template;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};

/// `GET /`: the "Register GitHub App" form, or why it cannot be offered.
#[derive(Template)]
#[template(path = "setup/register.html")]
pub struct RegisterPage {
    /// The form posting the manifest to GitHub; `None` without a public URL.
    pub form: Option<RegisterForm>,
    /// The organization typed in, echoed in its field.
    pub org: String,
    /// The setup token, carried by the organization form.
    pub token: String,
}

/// `GET /` without the right setup token: a form asking for it, nothing else.
#[derive(Template)]
#[template(path = "setup/token.html")]
pub struct TokenPage {
    /// Whether a token was given and did not match.
    pub wrong: bool,
    /// Where the token was written.
    pub path: String,
}

/// The form that sends the browser to GitHub's new-App page with the manifest.
pub struct RegisterForm {
    /// GitHub's new-App page, with `?state=`.
    pub action: String,
    /// The manifest, JSON.
    pub manifest: String,
    /// Who will own the App, in words.
    pub owner: String,
}

/// Any page that reports how a step went.
#[derive(Template)]
#[template(path = "setup/outcome.html")]
pub struct OutcomePage {
    /// The page's heading.
    pub heading: String,
    /// What happened, or what went wrong.
    pub message: String,
    /// Whether it is an error.
    pub failed: bool,
    /// Where to go next.
    pub link: Option<Link>,
}

/// A link on a page.
pub struct Link {
    /// The target.
    pub href: String,
    /// The words.
    pub text: String,
}

impl OutcomePage {
    /// An error page: `message` says what went wrong and what to do.
    pub fn failure(heading: &str, message: impl Into<String>) -> Self {
        Self {
            heading: heading.to_owned(),
            message: message.into(),
            failed: true,
            link: Some(Link {
                href: "/".to_owned(),
                text: "Back to the setup page".to_owned(),
            }),
        }
    }
}

/// Renders `page` with `status`; a template failure is a 500 naming it.
pub fn render(status: StatusCode, page: &impl Template) -> Response {
    match page.render() {
        Ok(html) => (status, Html(html)).into_response(),
        Err(error) => {
            tracing::error!(%error, "a setup page could not be rendered");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "the page could not be rendered",
            )
                .into_response()
        }
    }
}
