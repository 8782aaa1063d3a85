//! The secret scanner: credentials on added lines caught without repeating them, placeholders and removed credentials left alone.

use super::*;

#[test]
fn every_kind_of_credential_on_an_added_line_is_caught_without_repeating_it() {
    // Built from pieces so this file holds no credential-shaped literal.
    let body = "A1b2C3d4E5f6G7h8J9k0L1m2N3p4Q5r6S7t8";
    let upper = body.to_ascii_uppercase();
    let cases = [
        ("private key", "-----BEGIN RSA PRIVATE KEY-----".to_owned()),
        (
            "private key",
            "-----BEGIN OPENSSH PRIVATE KEY-----".to_owned(),
        ),
        (
            "AWS access key id",
            format!("aws_id = AKIA{}", &upper[..16]),
        ),
        ("AWS access key id", format!("ASIA{}", &upper[4..20])),
        ("GitHub token", format!("auth: ghp_{body}")),
        ("GitHub token", format!("ghs_{}", &body[..30])),
        ("GitHub token", format!("gho_{body}{body}")),
        (
            "GitHub token",
            format!("github_pat_11AAAAAAA0abcdefghij_{body}"),
        ),
        (
            "Slack token",
            format!("xoxb-1234567890-0987654321-{}", &body[..24]),
        ),
        ("Google API key", format!("AIza{}", &body[..35])),
        ("Stripe secret key", format!("sk_live_{}", &body[..24])),
    ];
    for (kind, line) in cases {
        let findings = secrets::scan(&adding("config.txt", &[&line]));
        assert_eq!(findings.len(), 1, "{kind} in {line:?}: {findings:#?}");
        let finding = &findings[0];
        assert_eq!(finding.severity, Severity::Critical);
        assert_eq!(finding.path.as_deref(), Some("config.txt"));
        assert_eq!(finding.line, Some(1));
        assert!(
            finding.message.contains(kind),
            "{kind}: {}",
            finding.message
        );
        assert!(
            !finding.message.contains(&body[..12]),
            "the secret is not repeated: {}",
            finding.message
        );
    }
    let token = format!("ghp_{body}");
    let message = &secrets::scan(&adding("a", &[&token]))[0].message;
    assert!(
        message.contains("`ghp_…`"),
        "redacted to four characters: {message}"
    );
}

#[test]
fn a_random_value_assigned_to_a_secret_name_is_caught_and_redacted() {
    let value = "q8Zr2LwX9mT4vKp7Nc3Ybh6F";
    let lines = [
        format!("password = \"{value}\""),
        format!("  client_secret: '{value}'"),
        format!("export API_KEY={value}"),
        format!("\"db_token\": \"{value}\","),
    ];
    for line in &lines {
        let findings = secrets::scan(&adding("settings.py", &[line]));
        assert_eq!(findings.len(), 1, "{line}");
        assert!(
            findings[0].message.contains("`q8Zr…`"),
            "{}",
            findings[0].message
        );
        assert!(!findings[0].message.contains(value));
    }
}

#[test]
fn placeholders_references_and_low_entropy_values_are_not_credentials() {
    let lines = [
        "password = \"changeme\"",
        "token: ${{ secrets.GITHUB_TOKEN }}",
        "password = os.environ[\"DATABASE_PASSWORD_FOR_PRODUCTION\"]",
        "api_key = os.environ.get('SERVICE_API_KEY_VALUE_LONG')",
        "secret = process.env.SUPER_LONG_SECRET_VARIABLE_NAME",
        "password = \"passwordpasswordpassword\"",
        "token = \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"",
        "tokenizer = \"q8Zr2LwX9mT4vKp7Nc3Ybh6F\"",
        "SLACK_TOKEN=xoxb-your-token-here",
        "// keys look like AKIA followed by sixteen characters",
        "let token = get_token(&config);",
    ];
    for line in lines {
        assert_eq!(secrets::scan(&adding("a.rs", &[line])), vec![], "{line}");
    }
}

#[test]
fn a_credential_the_change_removes_is_not_flagged() {
    let key = ["AKIA", "Z7Q2MX4RT9PLK3WB"].concat();
    let diff = Diff::parse(&format!(
        "diff --git a/k b/k\n--- a/k\n+++ b/k\n@@ -1 +1 @@\n-id = {key}\n+id = from_vault()\n"
    ));
    assert_eq!(secrets::scan(&diff), vec![]);
}
