//! Keeps tasks that would edit the same files from running side by side.
//!
//! Two tasks whose path globs overlap either already run one after the other (a
//! dependency orders them) or are merged into one task. Merging may join chains of
//! tasks and, through their dependencies, cycles of groups; those are merged too, so the
//! result is still ordered with dependencies pointing backwards.

use super::{MAX_TITLE_CHARS, TaskDraft, glob, truncate_chars};

/// The tasks after overlap resolution, with a decision line per overlapping pair.
/// Task numbers in decisions are 1-based positions in `tasks`.
pub(super) fn resolve(tasks: Vec<TaskDraft>, decisions: &mut Vec<String>) -> Vec<TaskDraft> {
    let n = tasks.len();
    if n < 2 {
        return tasks;
    }
    let after = transitive_dependencies(&tasks);
    let mut groups = UnionFind::new(n);
    for j in 1..n {
        for i in 0..j {
            if groups.find(i) == groups.find(j) {
                continue;
            }
            let Some(path) = shared_path(&tasks[i], &tasks[j]) else {
                continue;
            };
            let (a, b) = (i + 1, j + 1);
            if after[j][i] {
                decisions.push(format!(
                    "tasks {a} and {b} both touch `{path}`: ordered by dependency ({b} after {a})"
                ));
            } else {
                groups.union(i, j);
                decisions.push(format!(
                    "tasks {a} and {b} both touch `{path}`: merged into one task"
                ));
            }
        }
    }
    merge_cycles(&tasks, &mut groups, decisions);
    build(tasks, &mut groups)
}

/// A path the two tasks both touch, as the more specific of the overlapping pair.
fn shared_path(a: &TaskDraft, b: &TaskDraft) -> Option<String> {
    a.paths.iter().find_map(|pa| {
        b.paths
            .iter()
            .find_map(|pb| glob::overlap(pa, pb).map(str::to_owned))
    })
}

/// `after[j][i]`: task `j` depends on task `i`, directly or through others.
fn transitive_dependencies(tasks: &[TaskDraft]) -> Vec<Vec<bool>> {
    let n = tasks.len();
    let mut after = vec![vec![false; n]; n];
    for j in 0..n {
        for &d in &tasks[j].depends_on {
            if d < j {
                after[j][d] = true;
                let inherited = after[d].clone();
                for (slot, via) in after[j].iter_mut().zip(inherited) {
                    *slot |= via;
                }
            }
        }
    }
    after
}

/// Merges groups whose dependencies on each other form a cycle.
fn merge_cycles(tasks: &[TaskDraft], groups: &mut UnionFind, decisions: &mut Vec<String>) {
    let n = tasks.len();
    let root: Vec<usize> = (0..n).map(|t| groups.find(t)).collect();
    // reach[a][b]: group root a depends on group root b, directly or through others.
    let mut reach = vec![vec![false; n]; n];
    for (t, task) in tasks.iter().enumerate() {
        for &d in &task.depends_on {
            if root[t] != root[d] {
                reach[root[t]][root[d]] = true;
            }
        }
    }
    for k in 0..n {
        let via = reach[k].clone();
        for row in reach.iter_mut().filter(|row| row[k]) {
            for (slot, through) in row.iter_mut().zip(&via) {
                *slot |= *through;
            }
        }
    }
    let mut done = vec![false; n];
    for a in 0..n {
        if root[a] != a || done[a] {
            continue;
        }
        let cycle: Vec<usize> = (a + 1..n)
            .filter(|&b| root[b] == b && reach[a][b] && reach[b][a])
            .collect();
        if cycle.is_empty() {
            continue;
        }
        let mut members = vec![a];
        for &b in &cycle {
            done[b] = true;
            groups.union(a, b);
            members.push(b);
        }
        let mut numbers: Vec<usize> = (0..n)
            .filter(|t| members.contains(&root[*t]))
            .map(|t| t + 1)
            .collect();
        numbers.sort_unstable();
        let listed: Vec<String> = numbers.iter().map(usize::to_string).collect();
        decisions.push(format!(
            "tasks {} merged into one task: after merging overlaps their dependencies formed a cycle",
            listed.join(", ")
        ));
    }
}

/// The merged tasks, groups ordered by their first task where dependencies allow.
fn build(tasks: Vec<TaskDraft>, groups: &mut UnionFind) -> Vec<TaskDraft> {
    let n = tasks.len();
    let root: Vec<usize> = (0..n).map(|t| groups.find(t)).collect();
    // A group's representative is its first task, so sorted representatives list the
    // groups in order of their first task.
    let mut firsts = root.clone();
    firsts.sort_unstable();
    firsts.dedup();
    let group_of: Vec<usize> = root
        .iter()
        .map(|r| firsts.binary_search(r).unwrap_or_default())
        .collect();
    let mut members: Vec<Vec<&TaskDraft>> = vec![Vec::new(); firsts.len()];
    let mut group_deps: Vec<Vec<usize>> = vec![Vec::new(); firsts.len()];
    for (t, task) in tasks.iter().enumerate() {
        let g = group_of[t];
        members[g].push(task);
        for &d in &task.depends_on {
            if group_of[d] != g && !group_deps[g].contains(&group_of[d]) {
                group_deps[g].push(group_of[d]);
            }
        }
    }
    let mut placed = vec![false; firsts.len()];
    let mut position = vec![0; firsts.len()];
    let mut order = Vec::with_capacity(firsts.len());
    while order.len() < firsts.len() {
        let ready =
            (0..firsts.len()).find(|&g| !placed[g] && group_deps[g].iter().all(|&d| placed[d]));
        // merge_cycles left no cycle, so some group is always ready; should one not be,
        // the first unplaced group still goes next rather than looping forever.
        let next = ready
            .or_else(|| placed.iter().position(|p| !p))
            .unwrap_or_default();
        placed[next] = true;
        position[next] = order.len();
        order.push(next);
    }
    order
        .iter()
        .map(|&g| {
            let mut depends_on: Vec<usize> = group_deps[g].iter().map(|&d| position[d]).collect();
            depends_on.sort_unstable();
            merged(&members[g], depends_on)
        })
        .collect()
}

/// One task standing for `members` (in original order).
fn merged(members: &[&TaskDraft], depends_on: Vec<usize>) -> TaskDraft {
    if let [only] = members {
        return TaskDraft {
            depends_on,
            ..(*only).clone()
        };
    }
    let suffix = format!(" (+ {} more)", members.len() - 1);
    let base = truncate_chars(&members[0].title, MAX_TITLE_CHARS - suffix.chars().count());
    let instructions: Vec<String> = members
        .iter()
        .map(|task| format!("### {}\n\n{}", task.title, task.instructions))
        .collect();
    let mut paths: Vec<String> = Vec::new();
    for path in members.iter().flat_map(|task| &task.paths) {
        if !paths.contains(path) {
            paths.push(path.clone());
        }
    }
    TaskDraft {
        title: format!("{base}{suffix}"),
        instructions: instructions.join("\n\n"),
        paths,
        depends_on,
    }
}

/// Disjoint sets of task indices.
struct UnionFind {
    parent: Vec<usize>,
}

impl UnionFind {
    fn new(n: usize) -> Self {
        Self {
            parent: (0..n).collect(),
        }
    }

    /// The representative of `x`'s set: always its smallest member.
    fn find(&mut self, x: usize) -> usize {
        let mut root = x;
        while self.parent[root] != root {
            root = self.parent[root];
        }
        let mut walk = x;
        while self.parent[walk] != root {
            let next = self.parent[walk];
            self.parent[walk] = root;
            walk = next;
        }
        root
    }

    fn union(&mut self, a: usize, b: usize) {
        let (ra, rb) = (self.find(a), self.find(b));
        let (low, high) = (ra.min(rb), ra.max(rb));
        self.parent[high] = low;
    }
}
