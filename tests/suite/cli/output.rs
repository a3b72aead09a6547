//! The text `pbconnector plan | sync | verify` print, as an administrator reads it: the built
//! binary against the Graph and Password Boss simulators.

use crate::support::cli;

use cli::{rewrite, run as pbconnector, sample};

fn line_index(stdout: &str, needle: &str) -> usize {
    stdout
        .lines()
        .position(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("{needle:?} in\n{stdout}"))
}

#[tokio::test]
async fn plan_counts_each_kind_first_and_never_hides_adoptions_behind_creates() {
    let (_env, _dir, file) = sample(300).await;
    let run = pbconnector(&["plan", "-f", file.to_str().unwrap()], &[]).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let out = &run.stdout;
    // 300 members and the no-mail user are created, the portal user is adopted, 3 groups.
    assert!(
        out.contains("planned actions: 3 group creates, 1 adoption, 301 creates"),
        "{out}"
    );
    let adoption = line_index(out, "(adopt");
    let group = line_index(out, "CreateGroup");
    let create = line_index(out, "CreateUser");
    assert!(group < adoption && adoption < create, "{out}");
    // 305 actions, 200 shown: the rest are counted by kind.
    assert!(out.contains("… and 105 more: 105 creates"), "{out}");
    // Nothing exists yet: the counts are what the plan would leave, and say so.
    assert!(
        out.contains("managed accounts once applied: 302 active"),
        "{out}"
    );
}

#[tokio::test]
async fn verify_names_what_failed_without_repeating_itself() {
    let (_env, _dir, file) = sample(5).await;
    let missing = rewrite(
        &file,
        "displayName: Password Boss Users",
        "displayName: Password Boss Userz",
    );
    let run = pbconnector(&["verify", "-f", missing.to_str().unwrap()], &[]).await;
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert!(
        run.stdout.contains("✗ Sync group \"Password Boss Userz\""),
        "{}",
        run.stdout
    );
    assert!(!run.stdout.contains("group group"), "{}", run.stdout);

    let refused = rewrite(&file, "token: \"", "token: \"refused-");
    let run = pbconnector(&["verify", "-f", refused.to_str().unwrap()], &[]).await;
    assert_eq!(run.code, 3, "{}", run.stdout);
    assert!(
        run.stdout.contains("✗ Password Boss: token refused"),
        "{}",
        run.stdout
    );
    assert!(!run.stdout.contains("✗ Password Boss: token accepted"));
}

#[tokio::test]
async fn without_admin_consent_verify_and_sync_point_to_the_consent_page() {
    let (env, _dir, file) = sample(5).await;
    env.tenant.set_consent(&env.client_id, false);
    let consent = "/adminconsent?client_id=";
    let run = pbconnector(&["verify", "-f", file.to_str().unwrap()], &[]).await;
    assert_eq!(run.code, 3, "{}", run.stdout);
    let line = run
        .stdout
        .lines()
        .find(|l| l.contains(consent))
        .unwrap_or_else(|| panic!("a consent URL in\n{}", run.stdout));
    assert!(
        line.contains(&format!(
            "/{}/adminconsent?client_id={}",
            env.tenant_domain, env.client_id
        )),
        "{line}"
    );
    let run = pbconnector(&["sync", "-f", file.to_str().unwrap(), "--once"], &[]).await;
    assert_eq!(run.code, 3, "{}", run.stdout);
    assert!(run.stdout.contains(consent), "{}", run.stdout);
}

#[tokio::test]
async fn captured_logs_carry_no_colour_codes() {
    let (_env, _dir, file) = sample(5).await;
    for env in [&[][..], &[("NO_COLOR", "1")][..]] {
        let run = pbconnector(
            &[
                "sync",
                "-f",
                file.to_str().unwrap(),
                "--once",
                "--log-level",
                "info",
            ],
            env,
        )
        .await;
        assert_eq!(run.code, 0, "{}", run.stderr);
        assert!(!run.stderr.is_empty(), "info logs were written");
        assert!(!run.stderr.contains('\u{1b}'), "{:?}", run.stderr);
        assert!(!run.stdout.contains('\u{1b}'), "{:?}", run.stdout);
    }
}

#[tokio::test]
async fn the_sync_loop_stamps_each_run_with_its_time() {
    use tokio::io::{AsyncBufReadExt, BufReader};
    let (_env, _dir, file) = sample(5).await;
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_pbconnector"))
        .args(["sync", "-f", file.to_str().unwrap()])
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("sync starts");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = tokio::time::timeout(std::time::Duration::from_secs(30), lines.next_line())
        .await
        .expect("a first sync is reported")
        .unwrap()
        .unwrap_or_default();
    let (stamp, rest) = first.split_once(' ').expect("a time, then the summary");
    stamp
        .parse::<k8s_openapi::jiff::Timestamp>()
        .unwrap_or_else(|e| panic!("{stamp:?} is a time ({e}): {first}"));
    assert!(rest.starts_with("contoso: Connected"), "{first}");
}

#[tokio::test]
async fn scope_excludes_the_guest_read_from_graph_and_narrowing_it_is_held_back() {
    let (env, _dir, file) = sample(5).await;
    let scoped = rewrite(
        &file,
        "interval: 10s",
        "scope: {excludeGuests: true}\n  interval: 10s",
    );
    let run = pbconnector(&["sync", "-f", scoped.to_str().unwrap(), "--once"], &[]).await;
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let guest_created = env
        .password_boss
        .azure_users()
        .iter()
        .any(|u| u.first_name == "Gwen");
    assert!(!guest_created, "the guest gets no account\n{}", run.stdout);
    assert!(run.stdout.contains("in scope: 9;"), "{}", run.stdout);

    // Every account is now at contoso.com; keeping only another domain would deprovision all.
    let other = rewrite(
        &file,
        "interval: 10s",
        "scope: {emailDomains: [fabrikam.com]}\n  interval: 10s",
    );
    let run = pbconnector(&["sync", "-f", other.to_str().unwrap(), "--once"], &[]).await;
    assert_eq!(run.code, 4, "{}\n{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("BLOCKED"), "{}", run.stdout);
}

#[tokio::test]
async fn a_slow_sync_reports_its_progress_on_stderr_in_plain_lines() {
    let (env, _dir, file) = sample(300).await;
    // Every Password Boss answer takes 30 ms: the 302 creates take a while; every Graph answer
    // takes 1.5 s: the read outlasts the 5 s between two plain lines of one step.
    env.password_boss
        .faults()
        .set_latency(std::time::Duration::from_millis(30));
    env.graph
        .faults()
        .set_delay(Some(std::time::Duration::from_millis(1_500)));
    let run = pbconnector(
        &["sync", "-f", file.to_str().unwrap(), "--once", "-o", "json"],
        &[],
    )
    .await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let lines: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| l.starts_with("progress: "))
        .collect();
    assert!(
        lines.iter().any(
            |l| l.starts_with("progress: Creating and updating accounts: ")
                && l.ends_with(" of 302")
        ),
        "{}",
        run.stderr
    );
    assert!(
        !run.stderr.contains('\u{1b}'),
        "no redraw codes when not a terminal"
    );
    // stdout is still exactly the status object.
    serde_json::from_str::<serde_json::Value>(&run.stdout).expect("JSON on stdout");
}

/// On a terminal (a pseudo-terminal from util-linux `script`) the progress is one line redrawn in
/// place (`\r` + erase line), never a `progress:` line, and cleared before the result prints.
#[tokio::test]
async fn on_a_terminal_the_progress_is_one_line_redrawn_in_place() {
    let (env, _dir, file) = sample(300).await;
    env.password_boss
        .faults()
        .set_latency(std::time::Duration::from_millis(30));
    let command = format!(
        "{} sync -f {} --once",
        env!("CARGO_BIN_EXE_pbconnector"),
        file.display()
    );
    let out = tokio::process::Command::new("script")
        .args(["-qefc", &command, "/dev/null"])
        .env("NO_COLOR", "1")
        .output()
        .await
        .expect("script(1) from util-linux runs");
    let screen = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{screen}");
    let redraws = screen
        .matches("\r\u{1b}[2KCreating and updating accounts: ")
        .count();
    assert!(
        redraws >= 2,
        "the line is redrawn as accounts are created:\n{screen:?}"
    );
    assert!(
        !screen.contains("progress: "),
        "no plain progress lines on a terminal"
    );
    let cleared = screen.rfind("\r\u{1b}[2K").expect("cleared at the end");
    assert!(
        screen[cleared..].contains("created"),
        "the result prints after the progress line is cleared:\n{screen:?}"
    );
}
