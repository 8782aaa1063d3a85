//! Reading a server-rendered page as a browser would, for the setup flow's tests: its
//! forms (action, method, named inputs with their values) and its links.

use regex::Regex;

/// One `<form>` of a page.
#[derive(Debug)]
pub struct HtmlForm {
    /// The `action` attribute, unescaped.
    pub action: String,
    /// The `method` attribute, lowercase.
    pub method: String,
    /// Every named `<input>` and its value, unescaped, in page order.
    pub fields: Vec<(String, String)>,
}

impl HtmlForm {
    /// The value of the input `name`.
    pub fn field(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Undoes HTML escaping of attribute values.
pub fn unescape(text: &str) -> String {
    text.replace("&#34;", "\"")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&#x27;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

fn attribute(tag: &str, name: &str) -> Option<String> {
    Regex::new(&format!(r#"\b{name}="([^"]*)""#))
        .expect("attribute regex")
        .captures(tag)
        .map(|c| unescape(&c[1]))
}

/// Every form of `html`, in page order.
pub fn forms(html: &str) -> Vec<HtmlForm> {
    let form = Regex::new(r"(?s)<form\b([^>]*)>(.*?)</form>").expect("form regex");
    let input = Regex::new(r"<input\b[^>]*>").expect("input regex");
    form.captures_iter(html)
        .map(|f| HtmlForm {
            action: attribute(&f[1], "action").unwrap_or_default(),
            method: attribute(&f[1], "method")
                .unwrap_or_else(|| "get".to_owned())
                .to_lowercase(),
            fields: input
                .find_iter(&f[2])
                .filter_map(|i| {
                    let tag = i.as_str();
                    Some((
                        attribute(tag, "name")?,
                        attribute(tag, "value").unwrap_or_default(),
                    ))
                })
                .collect(),
        })
        .collect()
}

/// Every link target (`href`) of `html`.
pub fn links(html: &str) -> Vec<String> {
    Regex::new(r#"<a\b[^>]*\bhref="([^"]*)""#)
        .expect("link regex")
        .captures_iter(html)
        .map(|c| unescape(&c[1]))
        .collect()
}
