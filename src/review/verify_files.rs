//! The files the build gate runs: every repository file that `verify.commands` names,
//! runs or configures its test runner with, so a change to one needs a person.
//!
//! Threat: the build gate judges a change by running commands on it. A worker agent
//! that edits `scripts/test.sh` to `exit 0`, a Makefile recipe, an npm script or a
//! `conftest.py` makes that judge say whatever it likes. This module reads the command
//! lines (shell words split by `shlex`), and at the **base** commit the files that say
//! what a command runs (`package.json` scripts, Makefile recipes and includes), and
//! returns the paths and globs to protect. It is a pure function of the commands and a
//! reader of base files; where the bytes come from is the caller's business.
//!
//! What it follows, best effort and bounded in depth:
//! - paths a command runs or names (`./run-tests.sh`, `sh scripts/test.sh`,
//!   `python tools/check.py`, `node -r ./setup.js`), inside `sh -c '…'` too, relative to
//!   a `cd DIR` earlier on the line;
//! - `make [-f FILE] [-C DIR] [TARGET…]`: the makefile, its includes, and the recipes of
//!   the targets run (and their prerequisites);
//! - `npm`/`yarn`/`pnpm`/`bun` scripts (`test`, `run X`, `X`, install lifecycles):
//!   `package.json` and what the scripts (with their `pre`/`post` hooks) run;
//! - test runners' configuration: pytest (`**/conftest.py`, `pytest.ini`, `tox.ini`,
//!   `setup.cfg`), tox, nox, just, jest, vitest, mocha, playwright, rake, phpunit;
//! - `cargo` (except `cargo fmt`): every `build.rs` and `.cargo/config.toml`, since a
//!   build script runs before the tests and can change what is compiled, and a cargo
//!   alias can replace `cargo test`. `Cargo.toml` is not protected: dependency changes
//!   are ordinary, and the lenses review them.

use std::cell::RefCell;

use super::shell_words::{is_plain_path, join, named_file, split_commands, strip_prefixes};
use std::collections::{HashMap, HashSet};

/// How deep commands that run commands are followed (a script that runs `make`, whose
/// recipe runs `npm test`, …).
const MAX_DEPTH: u8 = 6;

/// Extensions of files a command argument names that are worth protecting: scripts
/// and configuration, not data or directories.
pub(super) const SCRIPT_EXTENSIONS: &[&str] = &[
    "sh", "bash", "zsh", "py", "js", "mjs", "cjs", "ts", "mts", "cts", "jsx", "tsx", "rb", "pl",
    "pm", "php", "lua", "r", "mk", "make", "cfg", "ini", "toml", "json", "jsonc", "yml", "yaml",
    "conf", "ps1", "bat", "cmd", "xml",
];

/// Files a command may name that are dependency manifests, not code it runs.
pub(super) const NOT_RUN: &[&str] = &["cargo.toml", "cargo.lock"];

/// Configuration files a test runner reads from the directory it runs in.
const RUNNER_CONFIGS: &[(&str, &[&str])] = &[
    (
        "pytest",
        &["pytest.ini", ".pytest.ini", "tox.ini", "setup.cfg"],
    ),
    (
        "py.test",
        &["pytest.ini", ".pytest.ini", "tox.ini", "setup.cfg"],
    ),
    ("tox", &["tox.ini"]),
    ("nox", &["noxfile.py"]),
    ("just", &["justfile", ".justfile"]),
    ("jest", &["jest.config.*"]),
    (
        "vitest",
        &["vitest.config.*", "vite.config.*", "vitest.workspace.*"],
    ),
    ("mocha", &[".mocharc*"]),
    ("playwright", &["playwright.config.*"]),
    ("rake", &["Rakefile", "rakelib/**"]),
    ("phpunit", &["phpunit.xml", "phpunit.xml.dist"]),
];

/// Words that run the rest of the line as a command.
pub(super) const PREFIXES: &[&str] = &[
    "then", "do", "else", "if", "while", "until", "!", "{", "}", "time", "exec", "command",
    "nohup", "sudo", "nice", "env", "timeout", "xvfb-run",
];

/// An interpreter whose first operand is a script.
struct Interpreter {
    name: &'static str,
    /// Options that take a value (which is not the script).
    valued: &'static [&'static str],
    /// Options whose value is inline code instead of a script.
    inline: &'static [&'static str],
    /// Whether inline code is a shell command line, to be followed.
    shell: bool,
}

/// The interpreters [`resolve`] knows.
const INTERPRETERS: &[Interpreter] = &[
    shell("sh"),
    shell("bash"),
    shell("zsh"),
    shell("dash"),
    shell("ksh"),
    shell("source"),
    shell("."),
    other("python", &["-W", "-X"], &["-c"]),
    other("python3", &["-W", "-X"], &["-c"]),
    other(
        "node",
        &["-r", "--require", "--import", "--loader"],
        &["-e", "--eval", "-p", "--print"],
    ),
    other("ruby", &["-I", "-r"], &["-e"]),
    other("perl", &["-I", "-M"], &["-e", "-E"]),
    other("php", &["-d", "-c"], &["-r"]),
    other("deno", &[], &["eval"]),
    other("tsx", &[], &["-e"]),
    other("ts-node", &[], &["-e"]),
    other("lua", &[], &["-e"]),
    other("Rscript", &[], &["-e"]),
];

/// A shell: `-c` runs a command line, `-o`/`-O` take an option name.
const fn shell(name: &'static str) -> Interpreter {
    Interpreter {
        name,
        valued: &["-o", "-O"],
        inline: &["-c"],
        shell: true,
    }
}

/// An interpreter of another language.
const fn other(
    name: &'static str,
    valued: &'static [&'static str],
    inline: &'static [&'static str],
) -> Interpreter {
    Interpreter {
        name,
        valued,
        inline,
        shell: false,
    }
}

/// A repository file the build gate runs or reads, protected like a configured path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifyFile {
    /// A path or glob relative to the repository root (matched case-insensitively).
    pub glob: String,
    /// The `verify.commands` entry that runs or reads it, for the finding.
    pub command: String,
}

/// Every file the commands run or read, in the order found, each glob once.
/// `read_base` returns a file's text at the base commit (`None` when it is absent).
pub fn resolve(commands: &[String], read_base: impl Fn(&str) -> Option<String>) -> Vec<VerifyFile> {
    let mut resolver = Resolver {
        read: &read_base,
        command: "",
        found: Vec::new(),
        seen: HashSet::new(),
        followed: HashSet::new(),
    };
    for command in commands {
        resolver.command = command;
        resolver.followed.clear();
        resolver.line(command, "", 0);
    }
    resolver.found
}

/// The base files [`resolve`] would read that `known` does not hold yet (`known` maps
/// a path to its text, `None` when absent). A caller that reads files asynchronously
/// loops: read these, add them to `known`, ask again until nothing is wanted; each
/// round follows one more file, such as a makefile recipe's `npm test`.
pub fn wanted(commands: &[String], known: &HashMap<String, Option<String>>) -> Vec<String> {
    let asked = RefCell::new(Vec::<String>::new());
    resolve(commands, |path| match known.get(path) {
        Some(text) => text.clone(),
        None => {
            let mut asked = asked.borrow_mut();
            if !asked.iter().any(|p| p == path) {
                asked.push(path.to_owned());
            }
            None
        }
    });
    asked.into_inner()
}

/// Walks the commands, collecting what they run.
struct Resolver<'r, R> {
    read: &'r R,
    /// The `verify.commands` entry being walked.
    command: &'r str,
    found: Vec<VerifyFile>,
    seen: HashSet<String>,
    /// Scripts and make targets already followed for this command: `(file, name)`.
    followed: HashSet<(String, String)>,
}

impl<R: Fn(&str) -> Option<String>> Resolver<'_, R> {
    fn protect(&mut self, glob: String) {
        if self.seen.insert(glob.clone()) {
            self.found.push(VerifyFile {
                glob,
                command: self.command.to_owned(),
            });
        }
    }

    /// Protects `path` relative to `cwd` when it stays inside the repository.
    fn protect_at(&mut self, cwd: &str, path: &str) {
        if let Some(path) = join(cwd, path) {
            self.protect(path);
        }
    }

    /// A shell command line: its simple commands, split at `;`, `&&`, `||`, `|`, `&`.
    fn line(&mut self, text: &str, cwd: &str, depth: u8) {
        if depth > MAX_DEPTH {
            return;
        }
        let mut cwd = cwd.to_owned();
        for segment in split_commands(text) {
            let words = shlex::split(&segment)
                .unwrap_or_else(|| segment.split_whitespace().map(str::to_owned).collect());
            self.simple(&words, &mut cwd, depth);
        }
    }

    /// One simple command: a program and its arguments.
    fn simple(&mut self, words: &[String], cwd: &mut String, depth: u8) {
        let words = strip_prefixes(words);
        let Some((program, args)) = words.split_first() else {
            return;
        };
        let name = program.rsplit('/').next().unwrap_or(program);
        let name = name.strip_suffix(".exe").unwrap_or(name);
        if program.contains('/') {
            self.protect_at(cwd, program);
        }
        self.named_paths(cwd, args);
        match name {
            "cd" | "pushd" => {
                if let Some(dir) = args.first().and_then(|dir| join(cwd, dir)) {
                    *cwd = dir;
                }
            }
            "make" | "gmake" => self.make(args, cwd, depth),
            "npm" | "yarn" | "pnpm" | "bun" => self.package_scripts(name, args, cwd, depth),
            "npx" | "pnpx" | "bunx" => {
                let rest: Vec<String> = args
                    .iter()
                    .skip_while(|a| a.starts_with('-'))
                    .cloned()
                    .collect();
                self.simple(&rest, cwd, depth + 1);
            }
            "cargo" => {
                if args.first().is_some_and(|sub| sub != "fmt") {
                    self.protect("**/build.rs".to_owned());
                    self.protect("**/.cargo/config.toml".to_owned());
                    self.protect("**/.cargo/config".to_owned());
                }
                if args.first().is_some_and(|sub| sub == "nextest") {
                    self.protect_at(cwd, ".config/nextest.toml");
                }
            }
            _ if name.starts_with("python") && args.first().is_some_and(|a| a == "-m") => {
                if let Some(module) = args.get(1).filter(|m| is_plain_path(m)) {
                    let module = module.replace('.', "/");
                    self.protect_at(cwd, &format!("{module}.py"));
                    self.protect_at(cwd, &format!("{module}/__main__.py"));
                }
                self.simple(&args[1..], cwd, depth + 1);
            }
            _ => {
                if let Some(interpreter) = INTERPRETERS.iter().find(|i| i.name == name) {
                    self.interpreter(args, interpreter, cwd, depth);
                }
                if let Some((_, configs)) = RUNNER_CONFIGS.iter().find(|(n, _)| *n == name) {
                    for config in *configs {
                        self.protect_at(cwd, config);
                        self.protect((*config).to_owned());
                    }
                    if name.starts_with("py") {
                        self.protect("**/conftest.py".to_owned());
                    }
                }
            }
        }
    }

    /// Arguments that name a script or a configuration file.
    fn named_paths(&mut self, cwd: &str, args: &[String]) {
        let mut after_redirect = false;
        for arg in args {
            if after_redirect {
                after_redirect = false;
                continue;
            }
            if arg.ends_with('>') || arg.ends_with('<') {
                after_redirect = true;
                continue;
            }
            if let Some(path) = named_file(arg) {
                self.protect_at(cwd, path);
            }
        }
    }

    /// `sh script`, `python tool.py`, `sh -c '…'`: the script, or the inline command.
    fn interpreter(&mut self, args: &[String], interpreter: &Interpreter, cwd: &str, depth: u8) {
        let mut args = args.iter();
        while let Some(arg) = args.next() {
            if interpreter.inline.contains(&arg.as_str()) {
                if let Some(inline) = args.next().filter(|_| interpreter.shell) {
                    self.line(inline, cwd, depth + 1);
                }
                return;
            }
            if interpreter.valued.contains(&arg.as_str()) {
                args.next();
                continue;
            }
            let subcommand = interpreter.name == "deno" && matches!(arg.as_str(), "run" | "test");
            if arg.starts_with('-') || subcommand {
                continue;
            }
            if is_plain_path(arg) {
                self.protect_at(cwd, arg);
            }
            return;
        }
    }

    /// `make`: the makefile, its includes, and the recipes of the targets run.
    fn make(&mut self, args: &[String], cwd: &str, depth: u8) {
        let mut dir = cwd.to_owned();
        let mut file = None;
        let mut targets = Vec::new();
        let mut args = args.iter();
        while let Some(arg) = args.next() {
            match arg.as_str() {
                "-f" | "--file" | "--makefile" => file = args.next().cloned(),
                "-C" | "--directory" => {
                    if let Some(sub) = args.next().and_then(|d| join(&dir, d)) {
                        dir = sub;
                    }
                }
                _ if arg.starts_with("-f") && arg.len() > 2 => file = Some(arg[2..].to_owned()),
                _ if arg.starts_with("--file=") => file = Some(arg["--file=".len()..].to_owned()),
                _ if arg.starts_with('-') || arg.contains('=') => {}
                _ => targets.push(arg.clone()),
            }
        }
        let candidates: Vec<String> = match file {
            Some(file) => join(&dir, &file).into_iter().collect(),
            None => ["GNUmakefile", "makefile", "Makefile"]
                .iter()
                .filter_map(|name| join(&dir, name))
                .collect(),
        };
        for path in &candidates {
            self.protect(path.clone());
        }
        let Some((path, text)) = candidates
            .iter()
            .find_map(|path| (self.read)(path).map(|text| (path.clone(), text)))
        else {
            return;
        };
        let makefile = Makefile::parse(&text);
        for include in &makefile.includes {
            if is_plain_path(include) {
                self.protect_at(&dir, include);
            }
        }
        if targets.is_empty() {
            targets.extend(makefile.default_target());
        }
        let mut queue = targets;
        while let Some(target) = queue.pop() {
            if !self.followed.insert((path.clone(), target.clone())) {
                continue;
            }
            for rule in makefile
                .rules
                .iter()
                .filter(|r| r.targets.contains(&target))
            {
                queue.extend(rule.prerequisites.iter().cloned());
                for recipe in &rule.recipe {
                    let recipe = recipe
                        .trim_start_matches(['@', '-', '+', ' ', '\t'])
                        .replace("$(MAKE)", "make")
                        .replace("${MAKE}", "make");
                    self.line(&recipe, &dir, depth + 1);
                }
            }
        }
    }

    /// `npm test`, `yarn build`, `pnpm run lint`, `npm ci`: `package.json` and what the
    /// scripts it runs run.
    fn package_scripts(&mut self, tool: &str, args: &[String], cwd: &str, depth: u8) {
        let mut dir = cwd.to_owned();
        let mut operands = Vec::new();
        let mut args = args.iter();
        while let Some(arg) = args.next() {
            match arg.as_str() {
                "--prefix" | "-C" | "--cwd" | "--dir" => {
                    if let Some(sub) = args.next().and_then(|d| join(&dir, d)) {
                        dir = sub;
                    }
                }
                "--" => break,
                _ if arg.starts_with('-') => {}
                _ => operands.push(arg.as_str()),
            }
        }
        const INSTALL: &[&str] = &["preinstall", "install", "postinstall", "prepare"];
        let scripts: Vec<&str> = match (tool, operands.as_slice()) {
            (_, ["run" | "run-script" | "rum" | "urn", script, ..]) => vec![script],
            (_, ["test" | "t" | "tst", ..]) if tool != "bun" => vec!["test"],
            ("bun", ["test", ..]) => {
                self.protect_at(&dir, "bunfig.toml");
                return;
            }
            (_, ["start" | "stop" | "restart", ..]) => vec![operands[0]],
            (_, ["install-test" | "it", ..]) => [INSTALL, &["test"]].concat(),
            (_, ["install" | "i" | "ci" | "add", ..]) => INSTALL.to_vec(),
            ("yarn", []) => INSTALL.to_vec(),
            (_, ["exec" | "x" | "dlx", rest @ ..]) => {
                let rest: Vec<String> = rest.iter().map(|s| (*s).to_owned()).collect();
                let mut dir = dir.clone();
                self.simple(&rest, &mut dir, depth + 1);
                return;
            }
            ("yarn" | "pnpm" | "bun", [script, ..]) => vec![script],
            _ => return,
        };
        let manifest = match join(&dir, "package.json") {
            Some(path) => path,
            None => return,
        };
        self.protect(manifest.clone());
        let Some(text) = (self.read)(&manifest) else {
            return;
        };
        let Ok(package) = serde_json::from_str::<serde_json::Value>(&text) else {
            return;
        };
        for script in scripts {
            for name in [
                format!("pre{script}"),
                script.to_owned(),
                format!("post{script}"),
            ] {
                let Some(body) = package["scripts"][&name].as_str() else {
                    continue;
                };
                if self.followed.insert((manifest.clone(), name)) {
                    self.line(body, &dir, depth + 1);
                }
            }
        }
    }
}

/// The rules of a makefile, as far as finding recipes needs.
struct Makefile {
    rules: Vec<Rule>,
    includes: Vec<String>,
}

/// One `targets: prerequisites` rule and its recipe lines.
struct Rule {
    targets: Vec<String>,
    prerequisites: Vec<String>,
    recipe: Vec<String>,
}

impl Makefile {
    /// Reads rules, recipes (tab-indented, or after `;`) and `include` lines; variables
    /// and conditionals are left unexpanded.
    fn parse(text: &str) -> Self {
        let mut rules: Vec<Rule> = Vec::new();
        let mut includes = Vec::new();
        let mut in_rule = false;
        for line in text.lines() {
            if let Some(recipe) = line.strip_prefix('\t') {
                if in_rule && let Some(rule) = rules.last_mut() {
                    rule.recipe.push(recipe.to_owned());
                }
                continue;
            }
            let trimmed = line.trim();
            if trimmed.is_empty() || trimmed.starts_with('#') {
                continue;
            }
            let directive = trimmed.trim_start_matches('-');
            if let Some(rest) = directive
                .strip_prefix("include ")
                .or_else(|| directive.strip_prefix("sinclude "))
            {
                includes.extend(rest.split_whitespace().map(str::to_owned));
                in_rule = false;
                continue;
            }
            in_rule = false;
            let Some((targets, rest)) = trimmed.split_once(':') else {
                continue;
            };
            let rest = rest.trim_start_matches(':');
            if rest.starts_with('=') || targets.contains('=') {
                continue;
            }
            let (prerequisites, inline) = match rest.split_once(';') {
                Some((prerequisites, inline)) => (prerequisites, Some(inline.trim())),
                None => (rest, None),
            };
            let prerequisites = prerequisites.split('|').collect::<Vec<_>>().join(" ");
            rules.push(Rule {
                targets: targets.split_whitespace().map(str::to_owned).collect(),
                prerequisites: prerequisites
                    .split_whitespace()
                    .map(str::to_owned)
                    .collect(),
                recipe: inline.map(str::to_owned).into_iter().collect(),
            });
            in_rule = true;
        }
        Self { rules, includes }
    }

    /// What plain `make` builds: the first target not starting with `.`.
    fn default_target(&self) -> Option<String> {
        self.rules
            .iter()
            .flat_map(|r| &r.targets)
            .find(|t| !t.starts_with('.') && !t.contains('%'))
            .cloned()
    }
}
