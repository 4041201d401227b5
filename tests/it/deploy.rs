//! The deployment files in `deploy/` and the Dockerfile: they parse, and every command line they
//! hold is one the binary accepts (checked with its own argument parser).

use clap::Parser;
use ghl_import::cli::{Cli, Command};

use crate::util::repo;

/// Parses `args` (without the program name) as the binary would, and says what failed.
fn accepts(args: &[&str]) -> Cli {
    Cli::try_parse_from(std::iter::once("ghl-import").chain(args.iter().copied()))
        .unwrap_or_else(|e| panic!("ghl-import {}: {e}", args.join(" ")))
}

/// A container's `args`.
fn args_of(container: &serde_json::Value) -> Vec<&str> {
    container["args"]
        .as_array()
        .expect("args")
        .iter()
        .map(|a| a.as_str().expect("a string"))
        .collect()
}

#[test]
fn the_kubernetes_cronjob_runs_a_real_command_safely() {
    let text = std::fs::read_to_string(repo().join("deploy/kubernetes/cronjob.yaml")).unwrap();
    let v: serde_json::Value = serde_saphyr::from_str(&text).unwrap();
    assert_eq!(v["kind"], "CronJob");
    let spec = &v["spec"];
    assert_eq!(
        spec["concurrencyPolicy"], "Forbid",
        "a schedule never overlaps itself"
    );
    let pod = &spec["jobTemplate"]["spec"]["template"]["spec"];
    assert!(
        pod["terminationGracePeriodSeconds"].as_u64().unwrap() > 10,
        "longer than the run's 10 s grace for requests in flight"
    );
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    let c = &pod["containers"][0];
    let args = args_of(c);
    let cli = accepts(&args);
    match cli.command {
        Command::Run { state_dir, .. } => {
            assert_eq!(
                state_dir.unwrap(),
                std::path::Path::new("/var/lib/ghl-import")
            );
        }
        other => panic!("not a run: {other:?}"),
    }
    assert_eq!(cli.log_format, ghl_import::cli::LogFormat::Json);
    let token = c["env"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "GHL_TOKEN")
        .expect("GHL_TOKEN set");
    assert!(
        token["valueFrom"]["secretKeyRef"].is_object(),
        "the token from a Secret"
    );
    let state = pod["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == "state")
        .unwrap();
    assert!(
        state["persistentVolumeClaim"].is_object(),
        "the journal survives the pod"
    );
}

#[test]
fn the_systemd_units_run_a_real_command_on_a_schedule() {
    let service =
        std::fs::read_to_string(repo().join("deploy/systemd/ghl-import@.service")).unwrap();
    let exec = service
        .lines()
        .find_map(|l| l.strip_prefix("ExecStart="))
        .expect("ExecStart");
    let mut words = exec.split_whitespace();
    assert_eq!(words.next(), Some("/usr/local/bin/ghl-import"));
    let args: Vec<&str> = words.collect();
    assert!(matches!(
        accepts(&args).command,
        Command::Run { quiet: true, .. }
    ));
    assert!(service.contains("KillSignal=SIGTERM"));
    assert!(service.contains("SuccessExitStatus=3"));
    let timer = std::fs::read_to_string(repo().join("deploy/systemd/ghl-import@.timer")).unwrap();
    assert!(timer.lines().any(|l| l.starts_with("OnCalendar=")));
    assert!(
        timer.contains("Persistent=true"),
        "catch up once after downtime"
    );
}

#[test]
fn the_dockerfile_builds_in_two_stages_and_runs_as_a_user() {
    let d = std::fs::read_to_string(repo().join("Dockerfile")).unwrap();
    assert_eq!(
        d.lines().filter(|l| l.starts_with("FROM ")).count(),
        2,
        "multi-stage"
    );
    let user = d
        .lines()
        .find_map(|l| l.strip_prefix("USER "))
        .expect("a USER line");
    assert!(!matches!(user.trim(), "0" | "root"), "non-root");
    assert!(d.contains(r#"ENTRYPOINT ["/usr/local/bin/ghl-import"]"#));
    assert!(
        d.contains("COPY --from=build /src/target/release/ghl-import /usr/local/bin/ghl-import")
    );
    assert!(d.contains("VOLUME [\"/var/lib/ghl-import\""));
    // The image's README line runs a real command.
    let example = d
        .lines()
        .find_map(|l| l.split(" ghl-import run ").nth(1))
        .expect("an example run");
    let mut args = vec!["run"];
    args.extend(example.split_whitespace());
    accepts(&args);
}

#[test]
fn the_indexed_job_shards_locations_over_its_pods_with_a_state_folder_each() {
    let text = std::fs::read_to_string(repo().join("deploy/kubernetes/indexed-job.yaml")).unwrap();
    let v: serde_json::Value = serde_saphyr::from_str(&text).unwrap();
    assert_eq!(v["kind"], "CronJob");
    assert_eq!(v["spec"]["concurrencyPolicy"], "Forbid");
    let job = &v["spec"]["jobTemplate"]["spec"];
    assert_eq!(job["completionMode"], "Indexed");
    let count = job["completions"].as_u64().unwrap();
    assert_eq!(
        job["parallelism"].as_u64(),
        Some(count),
        "every shard at once"
    );
    let pod = &job["template"]["spec"];
    let c = &pod["containers"][0];
    let args = args_of(c);
    // Each pod's command line, as the kubelet expands it, is one the binary accepts, and names
    // its own shard of the same count.
    for index in 0..count {
        let shard_arg = format!("{index}/{count}");
        let expanded: Vec<String> = args
            .iter()
            .map(|a| a.replace("$(JOB_COMPLETION_INDEX)", &index.to_string()))
            .collect();
        let expanded: Vec<&str> = expanded.iter().map(String::as_str).collect();
        assert!(expanded.contains(&shard_arg.as_str()), "{expanded:?}");
        match accepts(&expanded).command {
            Command::Serve {
                once,
                shard,
                state_dir,
                ..
            } => {
                assert!(once, "a Job's pod runs its shard once and exits");
                let shard = shard.expect("--shard");
                assert_eq!((shard.index, shard.count), (index as u32, count as u32));
                assert_eq!(
                    state_dir.unwrap(),
                    std::path::Path::new("/var/lib/ghl-import")
                );
            }
            other => panic!("not serve: {other:?}"),
        }
    }
    let state = c["volumeMounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["mountPath"] == "/var/lib/ghl-import")
        .unwrap();
    assert_eq!(
        state["subPathExpr"], "shard-$(JOB_COMPLETION_INDEX)",
        "a journal folder per shard"
    );
}
