//! Reading a real git diff: edits, renames, deletions, binaries, quoted names, which lines take inline comments.

use super::*;

#[test]
fn a_real_git_diff_reads_edits_renames_deletions_binaries_and_spaces() {
    let repo = Repo::new();
    repo.write("my notes.txt", "a\nb\nc\n")
        .write("old.txt", "gone soon\n")
        .write("logo.png", [0u8, 1, 2, 3])
        .write("src/long.rs", numbered(1..=40))
        .write("moved/from.txt", numbered(1..=20))
        .write("tool.sh", "echo hi\n");
    let base = repo.commit();
    let mut long = numbered(1..=40);
    long = long.replace("line 20\n", "line twenty\n");
    repo.write("my notes.txt", "a\nB\nc")
        .write("src/long.rs", long)
        .write("logo.png", [0u8, 9, 9, 9])
        .write("new.bin", [0u8, 7]);
    std::fs::remove_file(repo.path("old.txt")).expect("delete");
    std::fs::create_dir_all(repo.path("moved/to here")).expect("mkdir");
    std::fs::rename(
        repo.path("moved/from.txt"),
        repo.path("moved/to here/to.txt"),
    )
    .expect("rename");
    std::fs::write(repo.path("moved/to here/to.txt"), numbered(1..=21)).expect("edit");
    std::fs::set_permissions(repo.path("tool.sh"), std::fs::Permissions::from_mode(0o755))
        .expect("chmod");
    let head = repo.commit();

    let diff = repo.diff(&base, &head);

    let notes = file(&diff, "my notes.txt");
    assert_eq!(notes.status, ChangeStatus::Modified);
    assert_eq!(notes.removed, 2, "b and c (c loses its newline)");
    let added: Vec<(u32, &str)> = notes
        .added
        .iter()
        .map(|a| (a.line, a.text.as_str()))
        .collect();
    assert_eq!(added, vec![(2, "B"), (3, "c")]);
    assert_eq!(notes.hunks, vec![1..=3]);

    let long = file(&diff, "src/long.rs");
    assert_eq!(
        long.hunks,
        vec![17..=23],
        "three lines of context each side"
    );
    assert_eq!(long.added.len(), 1);
    assert_eq!(long.added[0].line, 20);

    let moved = file(&diff, "moved/to here/to.txt");
    assert_eq!(moved.status, ChangeStatus::Renamed);
    assert_eq!(moved.old_path.as_deref(), Some("moved/from.txt"));
    assert_eq!(moved.added[0].line, 21);
    assert_eq!(moved.added[0].text, "line 21");

    let old = file(&diff, "old.txt");
    assert_eq!(old.status, ChangeStatus::Deleted);
    assert_eq!((old.removed, old.added.len()), (1, 0));

    let logo = file(&diff, "logo.png");
    assert!(logo.binary && logo.status == ChangeStatus::Modified);
    let new_bin = file(&diff, "new.bin");
    assert!(new_bin.binary && new_bin.status == ChangeStatus::Added);

    let tool = file(&diff, "tool.sh");
    assert_eq!(tool.status, ChangeStatus::Modified, "a mode change");
    assert_eq!(tool.mode, Some(0o100755));
    assert!(tool.added.is_empty() && tool.hunks.is_empty());

    assert_eq!(diff.changed_lines(), 2 + 2 + 1 + 1 + 1 + 1);
    assert!(!diff.is_empty());
    let mut paths: Vec<&str> = diff.paths().collect();
    paths.sort_unstable();
    assert_eq!(
        paths,
        vec![
            "logo.png",
            "moved/from.txt",
            "moved/to here/to.txt",
            "my notes.txt",
            "new.bin",
            "old.txt",
            "src/long.rs",
            "tool.sh",
        ]
    );
}

#[test]
fn git_quoted_names_are_read_back_as_the_real_paths() {
    let repo = Repo::new();
    repo.write("say \"hi\".txt", "one\n")
        .write("café.md", "x\n");
    let base = repo.commit();
    repo.write("say \"hi\".txt", "one\ntwo\n")
        .write("café.md", "x\ny\n");
    let head = repo.commit();

    let diff = repo.diff(&base, &head);

    assert_eq!(file(&diff, "say \"hi\".txt").added[0].text, "two");
    assert_eq!(file(&diff, "café.md").added[0].line, 2);
}

#[test]
fn only_lines_inside_a_hunk_on_the_new_side_take_inline_comments() {
    let repo = Repo::new();
    repo.write("a.txt", numbered(1..=50))
        .write("gone.txt", "x\n");
    let base = repo.commit();
    repo.write(
        "a.txt",
        numbered(1..=50).replace("line 30\n", "line 30\nextra\n"),
    );
    std::fs::remove_file(repo.path("gone.txt")).expect("delete");
    let head = repo.commit();

    let diff = repo.diff(&base, &head);

    assert!(diff.commentable("a.txt", 31), "the added line");
    assert!(diff.commentable("a.txt", 28), "context before it");
    assert!(diff.commentable("a.txt", 34), "context after it");
    assert!(!diff.commentable("a.txt", 27));
    assert!(!diff.commentable("a.txt", 35));
    assert!(
        !diff.commentable("gone.txt", 1),
        "a deleted file has no new side"
    );
    assert!(!diff.commentable("elsewhere.txt", 1));
}

#[test]
fn an_empty_diff_is_empty_and_odd_input_never_panics() {
    assert!(Diff::parse("").is_empty());
    let odd = [
        "diff --git",
        "diff --git a/x b/x\n@@ -1,99999999999 +1,2 @@\n+a",
        "diff --git a/x b/x\n@@ garbage @@\n+a\n-b\n",
        "diff --git \"a/unterminated\n--- \"a/\\",
        "--- a/x\n+++ b/x\n@@ -0,0 +4294967295,3 @@\n+a\n+b\n+c\n+d",
        "\\ No newline at end of file\n+++\n---\n@@ -1 +1 @@",
        "diff --git a/x b/x\n@@ -1,3 +1,3 @@\n a\n+é\ndiff --git a/y b/y\n",
    ];
    for text in odd {
        let diff = Diff::parse(text);
        let _ = (diff.changed_lines(), diff.paths().count());
    }
    let truncated =
        Diff::parse("diff --git a/x b/x\n@@ -1,3 +1,3 @@\n a\n+é\ndiff --git a/y b/y\n");
    let paths: Vec<&str> = truncated.paths().collect();
    assert_eq!(paths, vec!["x", "y"], "a short hunk ends at the next file");
    assert_eq!(truncated.files[0].added[0].text, "é");
}
