//! Reading targets and patterns, and the policy's decisions, on hostile spellings.

use super::*;

fn target(text: &str) -> HostPort {
    text.parse()
        .unwrap_or_else(|error| panic!("{text} parses: {error}"))
}

fn problem(text: &str) -> String {
    match text.parse::<HostPort>() {
        Ok(parsed) => panic!("{text} should not parse, got {parsed}"),
        Err(error) => error.to_string(),
    }
}

#[test]
fn targets_are_normalized_so_equal_names_compare_equal() {
    assert_eq!(
        target("API.Anthropic.COM:443"),
        target("api.anthropic.com:443")
    );
    assert_eq!(
        target("api.anthropic.com.:443"),
        target("api.anthropic.com:443")
    );
    assert_eq!(target("[::0001]:8080"), target("[::1]:8080"));
    assert_eq!(target("[::1]:8080").host(), "::1");
    assert_eq!(target("[::1]:8080").to_string(), "[::1]:8080");
    assert_eq!(target("127.0.0.1:3001").to_string(), "127.0.0.1:3001");
    assert_eq!(
        HostPort::new("::1", 80).map(|t| t.to_string()),
        Ok("[::1]:80".to_owned())
    );
    assert_eq!(HostPort::new("[::1]", 80), Ok(target("[::1]:80")));
}

#[test]
fn malformed_targets_say_what_is_wrong() {
    assert!(problem("api.anthropic.com").contains("expected host:port"));
    assert!(problem("[::1]").contains("expected host:port"));
    assert!(problem("api.anthropic.com:0").contains("1 to 65535"));
    assert!(problem("api.anthropic.com:99999").contains("1 to 65535"));
    assert!(problem("api.anthropic.com:https").contains("1 to 65535"));
    assert!(problem("::1:443").contains("brackets"));
    assert!(problem("[not-v6]:443").contains("IPv6"));
    assert!(problem(":443").contains("empty"));
    assert!(problem("user@github.com:443").contains("only letters"));
    assert!(problem("evil.com/x:443").contains("only letters"));
    assert!(problem("a..b:443").contains("empty labels"));
    let message = problem("github.com");
    assert!(
        message.starts_with("`github.com` is not a valid egress target"),
        "{message}"
    );
}

#[test]
fn patterns_cover_hosts_subdomains_and_exact_targets() {
    let never: Vec<HostPattern> = ["github.com", "*.githubusercontent.com", "127.0.0.1:3001"]
        .iter()
        .map(|p| p.parse().expect("pattern parses"))
        .collect();
    let covered = |t: &str| never.iter().any(|p| p.matches(&target(t)));
    assert!(covered("github.com:443"));
    assert!(covered("GitHub.com.:22"));
    assert!(covered("raw.githubusercontent.com:443"));
    assert!(covered("a.b.githubusercontent.com:443"));
    assert!(covered("127.0.0.1:3001"));
    assert!(
        !covered("githubusercontent.com:443"),
        "*.x is subdomains only"
    );
    assert!(!covered("evilgithubusercontent.com:443"));
    assert!(!covered("github.com.evil.example:443"));
    assert!(!covered("127.0.0.1:3002"));
    assert_eq!(never[1].to_string(), "*.githubusercontent.com");
    assert!("*.".parse::<HostPattern>().is_err());
    assert!("[::1]".parse::<HostPattern>().is_ok());
}

#[test]
fn the_never_list_wins_over_the_allow_list() {
    let never = github_hosts("https://api.github.com").expect("GitHub's URL");
    let policy = EgressPolicy::new(
        vec![
            target("api.github.com:443"),
            target("api.anthropic.com:443"),
        ],
        never,
    );
    assert_eq!(policy.check(&target("api.anthropic.com:443")), Ok(()));
    assert_eq!(
        policy.check(&target("api.anthropic.com:80")),
        Err(Refusal::NotAllowed)
    );
    let refusal = policy
        .check(&target("api.github.com:443"))
        .expect_err("GitHub is never allowed");
    assert_eq!(refusal.to_string(), "never allowed (matches *.github.com)");
}

#[test]
fn github_hosts_include_the_configured_api_host_and_port() {
    let listed = |url: &str| -> Vec<String> {
        github_hosts(url)
            .expect("a URL")
            .iter()
            .map(ToString::to_string)
            .collect()
    };
    assert_eq!(
        listed("https://api.github.com"),
        [
            "github.com",
            "*.github.com",
            "*.githubusercontent.com",
            "api.github.com:443"
        ]
    );
    assert!(listed("https://GHE.example.com/api/v3").contains(&"ghe.example.com:443".to_owned()));
    assert!(listed("http://127.0.0.1:3001").contains(&"127.0.0.1:3001".to_owned()));
    assert!(listed("http://[::1]:3001/").contains(&"[::1]:3001".to_owned()));
    let error = github_hosts("not a url").expect_err("not a URL");
    assert!(
        error
            .to_string()
            .starts_with("`not a url` is not a GitHub API URL"),
        "{error}"
    );
}

#[test]
fn kept_targets_are_clipped() {
    let long = "a".repeat(500);
    let kept = clip(&long);
    assert_eq!(kept.chars().count(), KEPT_TARGET_CHARS + 1);
    assert_eq!(clip("short"), "short");
}

#[test]
fn the_journal_keeps_distinct_decisions_up_to_its_cap() {
    let shared = Shared {
        policy: EgressPolicy::default(),
        journal: Mutex::new(Journal::default()),
        stopped: watch::channel(()).1,
    };
    for attempt in 0..3 {
        let answer = shared.refuse("evil.example:443", "not on the allow list".to_owned());
        assert_eq!(answer.status(), StatusCode::FORBIDDEN, "attempt {attempt}");
        shared.allow(&target("api.anthropic.com:443"), "connect");
    }
    for port in 1..=2 * KEPT_DECISIONS {
        let port = u16::try_from(port).expect("small port");
        shared.refuse(
            &format!("evil.example:{port}"),
            "not on the allow list".to_owned(),
        );
        shared.allow(&target(&format!("api.anthropic.com:{port}")), "connect");
    }
    let journal = shared.journal();
    assert_eq!(journal.refused.len(), KEPT_DECISIONS);
    assert_eq!(journal.refused[0].target, "evil.example:443");
    assert_eq!(journal.refused[1].target, "evil.example:1");
    assert_eq!(journal.allowed.len(), KEPT_DECISIONS);
    assert_eq!(journal.allowed[0], "api.anthropic.com:443");
}
