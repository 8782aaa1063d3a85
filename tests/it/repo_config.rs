//! A repository's `.github/flotilla.yml`: the documented example parses to what it
//! says, no file means the documented defaults, and every mistake is one error naming
//! the field and the line a maintainer has to fix.

use std::time::Duration;

use flotilla::agent::Adapter;
use flotilla::agent::codex_config::CodexConfig;
use flotilla::config::{
    AdapterKind, AgentConfig, ConfigError, LandingConfig, Lens, NetworkConfig, RepoConfig,
    RequiredCheckName, ScopeMode, VerifyConfig,
};
use flotilla::cost::{BudgetConfig, Limit, Usd};
use flotilla::github::MergeMethod;
use flotilla::sandbox::ResourceLimits;

const EXAMPLE: &str = include_str!("../../fixtures/flotilla.yml");

/// Parses `yaml`, expecting it to be refused.
fn refused(yaml: &str) -> ConfigError {
    match RepoConfig::parse(yaml.as_bytes()) {
        Ok(config) => panic!("expected an error, got {config:#?}"),
        Err(error) => error,
    }
}

/// Asserts the error is on `line` and its one-line message mentions every `words`.
fn assert_error(error: &ConfigError, line: usize, words: &[&str]) {
    let shown = error.to_string();
    assert_eq!(error.line, Some(line), "wrong line in: {shown}");
    assert!(
        shown.starts_with(&format!(".github/flotilla.yml line {line}: ")),
        "{shown}"
    );
    assert!(!shown.contains('\n'), "not one line: {shown}");
    for word in words {
        assert!(shown.contains(word), "`{word}` missing from: {shown}");
    }
}

#[test]
fn the_documented_example_parses_to_every_field_it_shows() {
    let config = RepoConfig::parse(EXAMPLE.as_bytes()).expect("fixtures/flotilla.yml parses");

    let expected = RepoConfig {
        trigger_label: "agents".into(),
        worker: AgentConfig {
            adapter: AdapterKind::Codex,
            command: None,
            model: Some("gpt-5-codex".into()),
            time_limit: Duration::from_secs(45 * 60),
            pass_env: vec!["OPENAI_API_KEY".into()],
            network: NetworkConfig {
                allow: vec!["api.openai.com:443".into()],
            },
            max_turns: None,
            codex: CodexConfig::default(),
            rerun_on_base_change: false,
        },
        planner: Some(AgentConfig {
            adapter: AdapterKind::Command,
            command: Some("./scripts/plan.sh --json".into()),
            model: None,
            time_limit: Duration::from_secs(10 * 60),
            pass_env: vec!["PLANNER_API_KEY".into()],
            network: NetworkConfig::default(),
            max_turns: None,
            codex: CodexConfig::default(),
            rerun_on_base_change: false,
        }),
        max_tasks: 8,
        max_parallel_tasks: 4,
        max_attempts: 2,
        branch_prefix: "bots/flotilla-".into(),
        reviewers: vec![
            Lens {
                name: "correctness".into(),
                agent: AgentConfig {
                    model: Some("claude-opus-4".into()),
                    max_turns: Some(40),
                    ..AgentConfig::default()
                },
            },
            Lens {
                name: "runs".into(),
                agent: AgentConfig {
                    adapter: AdapterKind::Command,
                    command: Some("./scripts/review.sh".into()),
                    rerun_on_base_change: true,
                    ..AgentConfig::default()
                },
            },
            Lens {
                name: "security".into(),
                agent: AgentConfig {
                    adapter: AdapterKind::Codex,
                    time_limit: Duration::from_secs(20 * 60),
                    ..AgentConfig::default()
                },
            },
        ],
        verify: VerifyConfig {
            commands: vec!["cargo build --locked".into(), "cargo test --locked".into()],
            time_limit: Duration::from_secs(30 * 60),
            protected_paths: vec!["migrations/**".into(), "deploy/".into()],
            scope: ScopeMode::Fail,
            max_changed_lines: 800,
            max_inline_comments: 10,
        },
        landing: LandingConfig {
            merge_method: MergeMethod::Rebase,
            require_human_approval: true,
            required_checks: vec!["ci/build".into(), "test@github-actions".into()],
            close_issue: false,
        },
        sandbox: ResourceLimits {
            memory: 8 << 30,
            processes: 2048,
            disk: 10 << 30,
            tmp: 512 << 20,
        },
        budget: BudgetConfig {
            task: Limit {
                usd: Usd::from_dollars(2.5),
                tokens: None,
            },
            run: Limit {
                usd: Usd::from_dollars(10.0),
                tokens: Some(20_000_000),
            },
        },
    };
    assert_eq!(config, expected);
    assert_eq!(
        config.worker.to_adapter(),
        Adapter::Codex {
            model: Some("gpt-5-codex".into()),
            config: CodexConfig::default(),
        }
    );
    assert_eq!(
        config.planner.map(|p| p.to_adapter()),
        Some(Adapter::Command {
            shell: "./scripts/plan.sh --json".into()
        })
    );
}

#[test]
fn a_repository_without_the_file_gets_the_documented_defaults() {
    let config = RepoConfig::load(None).unwrap();

    assert_eq!(config, RepoConfig::default());
    assert_eq!(config.trigger_label, "flotilla");
    assert_eq!(config.worker.adapter, AdapterKind::ClaudeCode);
    assert_eq!(config.worker.command, None);
    assert_eq!(config.worker.model, None);
    assert_eq!(config.worker.time_limit, Duration::from_secs(30 * 60));
    assert!(config.worker.pass_env.is_empty());
    assert_eq!(config.planner, None);
    assert_eq!(config.max_tasks, 5);
    assert_eq!(config.max_parallel_tasks, 3);
    assert_eq!(config.max_attempts, 3);
    assert_eq!(config.branch_prefix, "flotilla/");
    let lenses: Vec<&str> = config.reviewers.iter().map(|l| l.name.as_str()).collect();
    assert_eq!(lenses, ["correctness", "security", "runs"]);
    assert!(config.reviewers.iter().all(|l| l.agent == config.worker));
    assert!(config.verify.commands.is_empty());
    assert_eq!(config.verify.scope, ScopeMode::Report);
    assert_eq!(config.verify.max_changed_lines, 2000);
    assert_eq!(config.landing.merge_method, MergeMethod::Squash);
    assert!(!config.landing.require_human_approval);
    assert!(config.landing.close_issue);
}

#[test]
fn the_default_lenses_review_with_the_workers_agent() {
    let config = RepoConfig::parse(b"worker:\n  adapter: codex\n  model: gpt-5\n").unwrap();

    assert_eq!(config.reviewers.len(), 3);
    for lens in &config.reviewers {
        assert_eq!(lens.agent, config.worker, "lens {}", lens.name);
    }
}

#[test]
fn a_lens_may_ask_to_rerun_on_a_base_change_and_by_default_none_does() {
    let config = RepoConfig::parse(
        b"reviewers:\n  correctness:\n    adapter: codex\n  runs:\n    adapter: codex\n    rerun_on_base_change: true\n",
    )
    .unwrap();

    let reruns: Vec<(&str, bool)> = config
        .reviewers
        .iter()
        .map(|lens| (lens.name.as_str(), lens.agent.rerun_on_base_change))
        .collect();
    assert_eq!(reruns, [("correctness", false), ("runs", true)]);
    assert!(
        RepoConfig::default()
            .reviewers
            .iter()
            .all(|lens| !lens.agent.rerun_on_base_change)
    );
}

#[test]
fn rerun_on_base_change_on_the_worker_or_planner_is_refused_on_its_line() {
    let error = refused("worker:\n  adapter: codex\n  rerun_on_base_change: true\n");
    assert_error(
        &error,
        3,
        &["worker.rerun_on_base_change", "reviewer lenses"],
    );

    let error = refused("planner:\n  adapter: codex\n  rerun_on_base_change: true\n");
    assert_error(
        &error,
        3,
        &["planner.rerun_on_base_change", "reviewer lenses"],
    );
}

#[test]
fn an_empty_reviewers_section_is_refused_because_every_change_needs_a_reviewer() {
    let error = refused("max_tasks: 2\nreviewers: {}\n");

    assert_error(&error, 2, &["reviewers", "at least one reviewer"]);
}

#[test]
fn a_lens_named_like_the_aggregate_check_is_refused() {
    let error = refused("reviewers:\n  verify:\n    adapter: codex\n");

    assert_error(&error, 2, &["verify", "flotilla/verify"]);
}

#[test]
fn a_lens_using_the_command_adapter_without_a_command_is_refused_on_its_line() {
    let error = refused("reviewers:\n  security:\n    adapter: command\n");

    assert_error(&error, 3, &["reviewers.security.command", "required"]);
}

#[test]
fn an_unknown_scope_mode_and_merge_method_are_refused_on_their_lines() {
    let error = refused("verify:\n  scope: warn\n");
    assert_error(&error, 2, &["scope", "warn"]);

    let error = refused("landing:\n  merge_method: fast-forward\n");
    assert_error(&error, 2, &["merge_method", "fast-forward"]);
}

#[test]
fn a_required_check_may_be_bound_to_an_app_by_its_slug() {
    let config = RepoConfig::parse(EXAMPLE.as_bytes()).unwrap();
    assert_eq!(
        config.landing.required_check_names(),
        [
            RequiredCheckName {
                name: "ci/build".into(),
                app_slug: None,
            },
            RequiredCheckName {
                name: "test".into(),
                app_slug: Some("github-actions".into()),
            },
        ]
    );
    assert_eq!(
        RequiredCheckName::parse("build @ linux").app_slug,
        None,
        "not a slug: the whole entry is the name"
    );

    let error = refused("landing:\n  required_checks: [\"ci@\"]\n");
    assert_error(&error, 2, &["required_checks", "ci@", "name@app-slug"]);
}

#[test]
fn a_protected_path_glob_that_cannot_compile_is_refused() {
    let error = refused("verify:\n  protected_paths:\n    - \"src/[unclosed\"\n");

    assert_eq!(error.line, Some(2), "{error}");
    assert!(
        error.to_string().contains("verify.protected_paths"),
        "{error}"
    );
}

#[test]
fn an_empty_or_comment_only_file_means_the_defaults() {
    for text in ["", "\n\n", "# nothing configured yet\n", "---\n"] {
        assert_eq!(
            RepoConfig::load(Some(text.as_bytes())).unwrap(),
            RepoConfig::default(),
            "{text:?}"
        );
    }
}

#[test]
fn a_file_setting_some_fields_keeps_the_defaults_for_the_rest() {
    let config = RepoConfig::parse(b"worker:\n  model: opus\nmax_attempts: 1\n").unwrap();

    assert_eq!(config.worker.model.as_deref(), Some("opus"));
    assert_eq!(config.worker.adapter, AdapterKind::ClaudeCode);
    assert_eq!(config.max_attempts, 1);
    assert_eq!(config.max_tasks, 5);
}

#[test]
fn a_misspelled_top_level_key_is_refused_naming_the_key_and_its_line() {
    let error = refused("trigger_label: go\n\n# limits\nmax_task: 4\n");

    assert_error(&error, 4, &["unknown field", "max_task"]);
}

#[test]
fn an_unknown_key_inside_an_agent_is_refused_naming_the_key_and_its_line() {
    let error = refused("worker:\n  adapter: codex\n  timeout: 5m\n");

    assert_error(&error, 3, &["unknown field", "timeout"]);
}

#[test]
fn an_unknown_adapter_is_refused_on_its_line() {
    let error = refused("max_tasks: 4\nworker:\n  adapter: cursor\n");

    assert_error(&error, 3, &["worker.adapter", "cursor"]);
}

#[test]
fn more_parallel_tasks_than_tasks_is_refused_naming_both_fields() {
    let error = refused("max_tasks: 2\nmax_parallel_tasks: 3\n");

    assert_error(&error, 2, &["max_parallel_tasks", "max_tasks"]);
}

#[test]
fn a_small_max_tasks_lowers_the_default_parallelism_instead_of_failing() {
    let config = RepoConfig::parse(b"max_tasks: 2\n").unwrap();

    assert_eq!(config.max_tasks, 2);
    assert_eq!(config.max_parallel_tasks, 2);
}

#[test]
fn zero_parallel_tasks_is_refused() {
    let error = refused("max_parallel_tasks: 0\n");

    assert_error(&error, 1, &["max_parallel_tasks", "at least 1"]);
}

#[test]
fn zero_attempts_is_refused() {
    let error = refused("trigger_label: go\nmax_attempts: 0\n");

    assert_error(&error, 2, &["max_attempts", "1 to 10"]);
}

#[test]
fn too_many_tasks_is_refused() {
    let error = refused("max_tasks: 21\n");

    assert_error(&error, 1, &["max_tasks", "1 to 20"]);
}

#[test]
fn a_time_limit_with_an_unknown_unit_is_refused_on_its_line() {
    let error = refused("worker:\n  adapter: aider\n  time_limit: 10x\n");

    assert_error(&error, 3, &["worker.time_limit", "10x", "30m"]);
}

#[test]
fn a_time_limit_of_zero_or_over_a_day_is_refused() {
    assert_error(&refused("worker:\n  time_limit: 0s\n"), 2, &["0s", "zero"]);
    assert_error(
        &refused("planner:\n  time_limit: 25h\n"),
        2,
        &["25h", "24h"],
    );
}

#[test]
fn time_limits_combine_hours_minutes_and_seconds_strictly() {
    use flotilla::config::time_limit::parse;

    assert_eq!(parse("1h30m"), Ok(Duration::from_secs(5400)));
    assert_eq!(parse("90s"), Ok(Duration::from_secs(90)));
    assert_eq!(parse("24h"), Ok(Duration::from_secs(86_400)));
    for bad in ["", "30", "m", "1.5h", "30m1h", "1h 30m", "5mm", "-5m"] {
        assert!(parse(bad).is_err(), "{bad:?} accepted");
    }
}

#[test]
fn a_branch_prefix_that_is_not_a_git_ref_is_refused() {
    let error = refused("trigger_label: go\nbranch_prefix: bots/../x\n");
    assert_error(&error, 2, &["branch_prefix", ".."]);

    for bad in [
        "has space/",
        "/abs",
        "-opt",
        "a~b",
        "a^b",
        "a:b",
        "a?b",
        "a*b",
        "a[b",
        "a\\\\b",
    ] {
        let yaml = format!("branch_prefix: \"{bad}\"\n");
        assert_error(&refused(&yaml), 1, &["branch_prefix"]);
    }
}

#[test]
fn the_command_adapter_without_a_command_is_refused() {
    let error = refused("planner:\n  adapter: command\n  model: x\n");

    assert_error(&error, 2, &["planner.command", "adapter: command"]);
}

#[test]
fn a_command_given_to_another_adapter_is_refused() {
    let error = refused("worker:\n  adapter: claude-code\n  command: make agent\n");

    assert_error(&error, 3, &["worker.command"]);
}

#[test]
fn max_turns_is_refused_at_zero_and_for_a_cli_without_the_flag() {
    assert_error(
        &refused("worker:\n  max_turns: 0\n"),
        2,
        &["worker.max_turns", "at least 1"],
    );
    assert_error(
        &refused("reviewers:\n  security:\n    adapter: aider\n    max_turns: 5\n"),
        4,
        &["reviewers.security.max_turns", "claude-code"],
    );
}

#[test]
fn passing_a_github_token_to_an_agent_is_refused_on_its_line() {
    let error = refused("worker:\n  pass_env:\n    - OPENAI_API_KEY\n    - GITHUB_TOKEN\n");
    assert_error(
        &error,
        4,
        &["worker.pass_env", "GITHUB_TOKEN", "credential"],
    );

    let error = refused("worker:\n  pass_env: [GITHUB_TOKEN]\n");
    assert_error(&error, 2, &["worker.pass_env", "GITHUB_TOKEN"]);
}

#[test]
fn a_rule_broken_in_flow_style_is_refused_on_the_line_the_parser_read_it() {
    let cases: [(&str, usize, usize, &[&str]); 4] = [
        (
            "trigger_label: go\nworker: {adapter: codex, max_turns: 5}\n",
            2,
            26,
            &["worker.max_turns", "claude-code"],
        ),
        (
            "reviewers: {security: {adapter: command}}\n",
            1,
            24,
            &["reviewers.security.command", "required"],
        ),
        (
            "# limits\n{max_tasks: 2, max_parallel_tasks: 3}\n",
            2,
            16,
            &["max_parallel_tasks", "max_tasks"],
        ),
        (
            "worker:\n  pass_env: [OPENAI_API_KEY,\n    GITHUB_TOKEN]\n",
            3,
            5,
            &["worker.pass_env", "GITHUB_TOKEN"],
        ),
    ];
    for (yaml, line, column, words) in cases {
        let error = refused(yaml);
        assert_error(&error, line, words);
        assert_eq!(error.column, Some(column), "{error}");
    }

    assert_error(&refused("worker: {time_limit: 0s}\n"), 1, &["0s", "zero"]);
}

#[test]
fn a_rule_broken_by_an_aliased_value_is_refused_where_the_alias_uses_it() {
    let error = refused("verify:\n  max_changed_lines: &big 50\nmax_tasks: *big\n");
    assert_error(&error, 3, &["max_tasks", "1 to 20"]);

    let lens = "reviewers:\n  runs: &rerun\n    adapter: codex\n    rerun_on_base_change: true\n";
    let error = refused(&format!("{lens}planner: *rerun\n"));
    assert_error(
        &error,
        5,
        &["planner.rerun_on_base_change", "reviewer lenses"],
    );

    let error = refused(&format!("{lens}planner:\n  model: o3\n  <<: *rerun\n"));
    assert_error(&error, 7, &["planner.rerun_on_base_change"]);
}

#[test]
fn passing_flotilla_variables_or_invalid_names_is_refused() {
    assert_error(
        &refused("worker:\n  pass_env: [FLOTILLA_WEBHOOK_SECRET]\n"),
        2,
        &["FLOTILLA_WEBHOOK_SECRET", "reserved"],
    );
    assert_error(
        &refused("planner:\n  adapter: codex\n  pass_env:\n    - GITHUB_APP_ID\n"),
        4,
        &["planner.pass_env", "GITHUB_APP_ID"],
    );
    assert_error(
        &refused("worker:\n  pass_env: [\"NOT-A-NAME\"]\n"),
        2,
        &["NOT-A-NAME", "not a valid"],
    );
}

#[test]
fn invalid_yaml_is_refused_with_its_line() {
    let error = refused("trigger_label: go\nworker:\n  adapter: [codex\nmax_tasks: 3\n");

    let shown = error.to_string();
    assert!(error.line.is_some(), "no line in: {shown}");
    assert!(shown.starts_with(".github/flotilla.yml line "), "{shown}");
    assert!(!shown.contains('\n'), "not one line: {shown}");
}

#[test]
fn a_duplicated_key_is_refused_on_its_second_line() {
    let error = refused("trigger_label: a\ntrigger_label: b\n");

    assert_error(&error, 2, &["duplicate", "trigger_label"]);
}

#[test]
fn a_wrongly_typed_value_is_refused_on_its_line() {
    let error = refused("trigger_label: go\nmax_tasks: many\n");

    assert_error(&error, 2, &["max_tasks"]);
}

#[test]
fn a_file_that_is_not_utf8_is_refused() {
    let error = RepoConfig::parse(b"trigger_label: go\nmodel: \xff\n").unwrap_err();

    assert_error(&error, 2, &["UTF-8"]);
}

#[test]
fn a_codex_section_becomes_codex_overrides_and_is_refused_elsewhere_or_over_flotillas_keys() {
    let config = RepoConfig::parse(
        b"worker:\n  adapter: codex\n  codex:\n    model_provider: internal\n    model_providers:\n      internal:\n        base_url: \"https://llm.internal:8443/v1\"\n",
    )
    .expect("valid");
    let Adapter::Codex { config, .. } = config.worker.to_adapter() else {
        panic!("a Codex adapter");
    };
    assert_eq!(
        config.overrides(),
        [
            r#"model_provider="internal""#,
            r#"model_providers.internal.base_url="https://llm.internal:8443/v1""#
        ]
    );
    let error = refused("worker:\n  adapter: claude-code\n  codex:\n    model_provider: x\n");
    assert_error(&error, 3, &["worker.codex", "adapter: codex"]);
    let error = refused("worker:\n  adapter: codex\n  codex:\n    sandbox_mode: workspace-write\n");
    assert_error(&error, 3, &["sandbox_mode", "set by Flotilla"]);
}
