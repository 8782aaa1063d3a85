//! The workspace against the simulator as the remote: a mirror that clones then
//! fetches, a task worktree that commits as the bot and pushes with a lease, a token
//! that never lands on disk nor shows in any process's arguments or environment, and a
//! reaper that spares live tasks.

use std::path::Path;

use base64::Engine;
use flotilla::types::CommitSha;
use flotilla::workspace::{
    BotIdentity, GitAuth, MAX_FILE_BYTES, Mirror, PushError, ReadBack, reap,
};
use secrecy::{ExposeSecret, SecretString};
use tempfile::TempDir;

use crate::support::git::git;
use crate::support::proc_scan::{Needle, ProcScanner};
use crate::support::wait_for;
use crate::support::world::TestWorld;

/// A fresh installation token for the seeded installation, as the workspace gets it.
async fn token(world: &TestWorld) -> SecretString {
    let installation = world.sim.seed().expect("seeded simulator").installation_id;
    world
        .github
        .installation_token(installation)
        .await
        .expect("installation token")
}

fn bot() -> BotIdentity {
    BotIdentity {
        name: "flotilla[bot]".to_owned(),
        email: "1001+flotilla[bot]@users.noreply.github.com".to_owned(),
    }
}

/// The seeded repository's mirror under `data`, fetched with a fresh token.
async fn fetched_mirror(world: &TestWorld, data: &Path) -> Mirror {
    let url = world.sim.git_url(&world.repo);
    let auth = GitAuth::new(token(world).await);
    let mirror = Mirror::open(data, &world.repo).unwrap();
    mirror.ensure(&url, &auth).await.unwrap();
    mirror
}

/// Every file under `dir` whose bytes contain `needle`.
fn files_containing(dir: &Path, needle: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(path) = stack.pop() {
        let meta = std::fs::symlink_metadata(&path).expect("metadata");
        if meta.is_dir() {
            for entry in std::fs::read_dir(&path).expect("read dir") {
                stack.push(entry.expect("entry").path());
            }
        } else if meta.is_file() {
            let bytes = std::fs::read(&path).expect("read file");
            if bytes.windows(needle.len()).any(|w| w == needle.as_bytes()) {
                found.push(path.display().to_string());
            }
        }
    }
    found
}

#[tokio::test]
async fn the_mirror_clones_once_then_fetches_what_a_person_pushed() {
    let world = TestWorld::start().await;
    let data = TempDir::new().unwrap();
    let url = world.sim.git_url(&world.repo);
    let auth = GitAuth::new(token(&world).await);
    let mirror = Mirror::open(data.path(), &world.repo).unwrap();
    assert!(mirror.path().ends_with("mirrors/acme/widgets.git"));

    mirror.ensure(&url, &auth).await.unwrap();
    let main = world.sim.branch_sha(&world.repo, "main").await.unwrap();
    assert_eq!(git(mirror.path(), &["rev-parse", "main"]).await, main.0);

    let tree = mirror
        .add_worktree("7", "flotilla/7-y", "main", &[], &bot())
        .await
        .unwrap();
    let pushed = world
        .writer_pushes("main", &[("NEWS.md", "news\n")], "Add news")
        .await;
    mirror.ensure(&url, &auth).await.unwrap();
    assert_eq!(git(mirror.path(), &["rev-parse", "main"]).await, pushed.0);
    // The fetch prunes branches GitHub does not have, but not a task's unpushed one.
    assert_eq!(
        git(mirror.path(), &["rev-parse", "refs/heads/flotilla/7-y"]).await,
        main.0
    );
    tree.remove().await.unwrap();
    assert!(format!("{auth:?}").contains("redacted"));
    world.teardown().await;
}

#[tokio::test]
async fn a_task_commits_as_the_bot_and_pushes_with_a_lease_without_leaking_the_token() {
    let world = TestWorld::start().await;
    let data = TempDir::new().unwrap();
    let url = world.sim.git_url(&world.repo);
    let secret = token(&world).await;
    let auth = GitAuth::new(secret.clone());
    let mirror = Mirror::open(data.path(), &world.repo).unwrap();
    mirror.ensure(&url, &auth).await.unwrap();
    let tree = mirror
        .add_worktree("1", "flotilla/1-x", "main", &[], &bot())
        .await
        .unwrap();
    assert_eq!(tree.dir(), data.path().join("worktrees/1"));

    assert_eq!(
        tree.read_back("Nothing", &bot()).await.unwrap(),
        ReadBack::NoChange
    );

    std::fs::write(tree.dir().join("hello.txt"), "hello\n").unwrap();
    let ReadBack::Committed(sha) = tree.read_back("Say hello", &bot()).await.unwrap() else {
        panic!("a commit");
    };
    let log = git(
        mirror.path(),
        &["log", "-1", "--format=%an <%ae>|%cn|%B", "flotilla/1-x"],
    )
    .await;
    assert!(
        log.starts_with(
            "flotilla[bot] <1001+flotilla[bot]@users.noreply.github.com>|flotilla[bot]|Say hello"
        ),
        "{log}"
    );
    assert!(log.contains("\nFlotilla-Task: 1"), "{log}");

    let pushed = tree.push(&url, &auth, None).await.unwrap();
    assert_eq!(pushed, sha);
    assert_eq!(
        world.sim.branch_sha(&world.repo, "flotilla/1-x").await,
        Some(sha.clone())
    );

    // A retry that thinks the branch is new, or that it is somewhere it is not, is refused.
    std::fs::write(tree.dir().join("hello.txt"), "hello again\n").unwrap();
    let ReadBack::Committed(second) = tree.read_back("Say it again", &bot()).await.unwrap() else {
        panic!("a commit");
    };
    assert!(matches!(
        tree.push(&url, &auth, None).await,
        Err(PushError::StaleLease)
    ));
    let stale = CommitSha("0".repeat(40));
    assert!(matches!(
        tree.push(&url, &auth, Some(&stale)).await,
        Err(PushError::StaleLease)
    ));
    assert_eq!(
        world.sim.branch_sha(&world.repo, "flotilla/1-x").await,
        Some(sha.clone())
    );
    // With the right lease it lands.
    assert_eq!(tree.push(&url, &auth, Some(&sha)).await.unwrap(), second);

    for needle in [
        secret.expose_secret().to_owned(),
        "x-access-token".to_owned(),
    ] {
        assert_eq!(
            files_containing(data.path(), &needle),
            Vec::<String>::new(),
            "token on disk"
        );
    }
    tree.remove().await.unwrap();
    assert!(!data.path().join("worktrees/1").exists());
    assert_eq!(
        git(mirror.path(), &["worktree", "list", "--porcelain"])
            .await
            .matches("worktree ")
            .count(),
        1
    );
    world.teardown().await;
}

#[tokio::test]
async fn no_process_shows_the_token_in_its_arguments_or_environment_while_git_fetches_and_pushes() {
    let world = TestWorld::start().await;
    let data = TempDir::new().unwrap();
    let url = world.sim.git_url(&world.repo);
    let secret = token(&world).await;
    let token = secret.expose_secret().to_owned();
    assert!(token.starts_with("ghs_"), "the simulator mints ghs_ tokens");
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("x-access-token:{token}"));
    let needle = Needle::new;
    let scanner = ProcScanner::start(
        vec![
            needle("the installation token", &token, true),
            needle("its basic-auth form", &basic, true),
            needle("an Authorization header", "Authorization", false),
            needle("a ghs_ token", "ghs_", false),
            needle("the x-access-token user", "x-access-token", false),
        ],
        vec![data.path().to_owned(), world.sim_dir()],
        Vec::new(),
    );

    let auth = GitAuth::new(secret);
    let mirror = Mirror::open(data.path(), &world.repo).unwrap();
    mirror.ensure(&url, &auth).await.unwrap();
    let tree = mirror
        .add_worktree("1", "flotilla/1-scan", "main", &[], &bot())
        .await
        .unwrap();
    let mut pushed: Option<CommitSha> = None;
    // Until the watcher has caught a fetch and a push alive (so it cannot pass for
    // having looked at nothing), and at least a few rounds of each.
    for round in 0..40 {
        if round >= 5 && scanner.saw_fetch_and_push() {
            break;
        }
        mirror.ensure(&url, &auth).await.unwrap();
        std::fs::write(tree.dir().join("round.txt"), format!("{round}\n")).unwrap();
        let committed = tree.read_back(&format!("Round {round}"), &bot()).await;
        assert!(
            matches!(committed, Ok(ReadBack::Committed(_))),
            "{committed:?}"
        );
        let sha = tree.push(&url, &auth, pushed.as_ref()).await.unwrap();
        let (remote, task) = tree
            .remote_head(&url, &auth)
            .await
            .unwrap()
            .expect("the pushed branch");
        assert_eq!((&remote, task.as_deref()), (&sha, Some("1")));
        pushed = Some(sha);
    }
    let report = scanner.stop();

    report.assert_clean_while_git_worked();
    assert_eq!(
        world.sim.branch_sha(&world.repo, "flotilla/1-scan").await,
        pushed
    );
    // Flotilla's copy of each credential file closed once its git started (other tests
    // in this process may hold one for a moment, never for good).
    wait_for("no credential file left open in this process", || async {
        let open = std::fs::read_dir("/proc/self/fd")
            .expect("own descriptors")
            .flatten()
            .any(|fd| {
                std::fs::read_link(fd.path())
                    .is_ok_and(|target| target.to_string_lossy().contains("git-credential"))
            });
        (!open).then_some(())
    })
    .await;
    tree.remove().await.unwrap();
    world.teardown().await;
}

#[tokio::test]
async fn a_remote_the_shared_config_redirects_elsewhere_is_never_given_the_token() {
    let world = TestWorld::start().await;
    let data = TempDir::new().unwrap();
    let mirror = fetched_mirror(&world, data.path()).await;

    // Another server that asks for basic credentials and records what it was sent.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let elsewhere = format!("http://{}/", listener.local_addr().unwrap());
    let requests = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let server = tokio::spawn({
        let requests = requests.clone();
        async move {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            while let Ok((mut stream, _)) = listener.accept().await {
                let mut head = Vec::new();
                let mut buf = [0u8; 1024];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                requests
                    .lock()
                    .unwrap()
                    .push(String::from_utf8_lossy(&head).into_owned());
                let _ = stream
                    .write_all(
                        b"HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm=\"x\"\r\n\
                          Content-Length: 0\r\nConnection: close\r\n\r\n",
                    )
                    .await;
            }
        }
    });
    // A mirror's config that points GitHub's URL elsewhere (no agent can write it any
    // more; Flotilla's git must still not follow it with the token).
    git(
        mirror.path(),
        &[
            "config",
            &format!("url.{elsewhere}.insteadOf"),
            &format!("{}/", world.sim.base_url()),
        ],
    )
    .await;

    let url = world.sim.git_url(&world.repo);
    let auth = GitAuth::new(token(&world).await);
    assert!(mirror.ensure(&url, &auth).await.is_err());
    server.abort();
    let requests = requests.lock().unwrap().clone();
    assert!(!requests.is_empty(), "git never went elsewhere");
    for request in requests {
        assert!(
            !request.to_ascii_lowercase().contains("authorization"),
            "credentials sent elsewhere: {request}"
        );
    }
    world.teardown().await;
}

#[tokio::test]
async fn the_reaper_removes_dead_tasks_worktrees_and_keeps_live_ones() {
    let world = TestWorld::start().await;
    let data = TempDir::new().unwrap();
    let mirror = fetched_mirror(&world, data.path()).await;
    let live = mirror
        .add_worktree("live", "flotilla/1-live", "main", &[], &bot())
        .await
        .unwrap();
    let dead = mirror
        .add_worktree("dead", "flotilla/2-dead", "main", &[], &bot())
        .await
        .unwrap();
    std::fs::write(live.dir().join("work.txt"), "in progress\n").unwrap();

    let removed = reap(data.path(), |task| task == "live").await.unwrap();

    assert_eq!(removed, vec!["dead".to_owned()]);
    assert!(!dead.dir().exists());
    assert!(live.dir().join("work.txt").is_file());
    let list = git(mirror.path(), &["worktree", "list", "--porcelain"]).await;
    assert!(list.contains("staging/live"), "{list}");
    assert!(!list.contains("staging/dead"), "{list}");
    assert_eq!(
        reap(data.path(), |task| task == "live").await.unwrap(),
        Vec::<String>::new()
    );
    world.teardown().await;
}

#[tokio::test]
async fn the_agents_tree_is_read_back_as_plain_files_refusing_escapes_nested_repositories_and_huge_files()
 {
    let world = TestWorld::start().await;
    let data = TempDir::new().unwrap();
    let mirror = fetched_mirror(&world, data.path()).await;
    let tree = mirror
        .add_worktree("1", "flotilla/1-files", "main", &[], &bot())
        .await
        .unwrap();
    assert!(
        tree.dir().join(".git").is_dir(),
        "the agent's own repository"
    );
    let dir = tree.dir().to_owned();

    std::os::unix::fs::symlink("/etc/passwd", dir.join("passwd")).unwrap();
    std::os::unix::fs::symlink("../../secrets", dir.join("up")).unwrap();
    // Each link looks inside on its own; followed, the second leaves the tree.
    std::fs::create_dir(dir.join("sub")).unwrap();
    std::os::unix::fs::symlink("..", dir.join("sub/root")).unwrap();
    std::os::unix::fs::symlink("sub/root/..", dir.join("chained")).unwrap();
    git(&dir, &["init", "--quiet", "vendored"]).await;
    std::fs::write(dir.join("vendored/lib.c"), "int x;\n").unwrap();
    git(&dir, &["-C", "vendored", "add", "lib.c"]).await;
    git(
        &dir,
        &[
            "-C",
            "vendored",
            "-c",
            "user.name=a",
            "-c",
            "user.email=a@example.com",
            "commit",
            "--quiet",
            "-m",
            "vendored",
        ],
    )
    .await;
    let huge = vec![b'x'; usize::try_from(MAX_FILE_BYTES).unwrap() + 1];
    std::fs::write(dir.join("huge.bin"), huge).unwrap();

    let ReadBack::Refused(reason) = tree.read_back("Everything", &bot()).await.unwrap() else {
        panic!("refused");
    };
    for expected in ["`passwd`", "`up`", "`chained`", "`vendored`", "`huge.bin`"] {
        assert!(reason.contains(expected), "{expected} in {reason}");
    }

    assert!(
        !reason.contains("`sub/root`"),
        "a link to the tree's root stays inside: {reason}"
    );
    for refused in ["passwd", "up", "chained", "huge.bin"] {
        std::fs::remove_file(dir.join(refused)).unwrap();
    }
    std::fs::remove_dir_all(dir.join("vendored")).unwrap();
    std::os::unix::fs::symlink("docs/README.md", dir.join("README-link")).unwrap();
    std::fs::write(dir.join("notes.txt"), "plain\n").unwrap();
    git(&dir, &["add", "notes.txt"]).await;
    git(
        &dir,
        &["config", "filter.sneak.clean", "sed s/plain/other/"],
    )
    .await;
    std::fs::write(dir.join(".gitattributes"), "notes.txt filter=sneak\n").unwrap();
    let ReadBack::Committed(sha) = tree.read_back("Files", &bot()).await.unwrap() else {
        panic!("committed");
    };
    let notes = format!("{}:notes.txt", sha.0);
    assert_eq!(
        git(mirror.path(), &["cat-file", "blob", &notes]).await,
        "plain"
    );
    tree.remove().await.unwrap();
    assert!(!dir.exists());
    world.teardown().await;
}
