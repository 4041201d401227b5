//! `retry-rejects RUN_DIR`: the run's pipeline again on the rows it rejected, into the target
//! it recorded.

use crate::cli::Command;
use crate::error::Exit;

/// `retry-rejects`.
pub async fn cmd(c: Command) -> anyhow::Result<Exit> {
    let Command::RetryRejects {
        run,
        sandbox,
        out,
        force,
        quiet,
        include,
        state_dir,
    } = c
    else {
        unreachable!("dispatch passes retry-rejects only")
    };
    let scope = crate::options::RetryScope {
        duplicates: include.iter().any(|i| i == "duplicates"),
    };
    let mut opts = retry_rejects_options(&run, sandbox, scope)?;
    opts.out = out;
    opts.force = force;
    opts.quiet = quiet;
    opts.state_dir = state_dir;
    crate::engine::run(opts).await
}

/// The run folder's rejected rows as the user left them: rejected.xlsx when there is one and
/// it was changed after rejected.csv (fixed in a spreadsheet), else rejected.csv.
fn rejected_file(run_dir: &std::path::Path) -> anyhow::Result<std::path::PathBuf> {
    let csv = run_dir.join(crate::report::REJECTED_CSV);
    let xlsx = run_dir.join(crate::report::xlsx::REJECTED_XLSX);
    let changed = |p: &std::path::Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    match (changed(&csv), changed(&xlsx)) {
        (Some(c), Some(x)) if x > c => Ok(xlsx),
        (None, Some(_)) => Ok(xlsx),
        (Some(_), _) => Ok(csv),
        (None, None) => {
            Err(crate::error::ConfigError::new(format!("{} does not exist", csv.display())).into())
        }
    }
}

/// Run options that re-run a finished run's pipeline on its rejected.csv, against the target the
/// run recorded: a run into the embedded sandbox is retried in an embedded sandbox; a run into an
/// API is retried there only if the pipeline still names it (else refused), or in a sandbox when
/// `sandbox` asks for a rehearsal.
fn retry_rejects_options(
    run_dir: &std::path::Path,
    sandbox: bool,
    scope: crate::options::RetryScope,
) -> anyhow::Result<crate::options::RunOptions> {
    let record = crate::engine::target::read_record(run_dir)?;
    let pipeline = record.pipeline_path(run_dir)?;
    let rejected = rejected_file(run_dir)?;
    let sandbox = if record.was_embedded_sandbox() {
        if !sandbox {
            eprintln!(
                "note: the run in {} wrote into an embedded sandbox; its rejects are retried in one too",
                run_dir.display()
            );
        }
        true
    } else {
        if !sandbox && record.target.is_some() {
            let p = record.pipeline(run_dir)?;
            record.check_target(run_dir, &p, "retry-rejects")?;
        }
        sandbox
    };
    Ok(crate::options::RunOptions {
        only_location: record.part_location(),
        pipeline,
        sandbox,
        rehearsal: sandbox.then_some(super::sandbox::rehearsal as crate::options::StartRehearsal),
        source_override: Some(rejected),
        retry_scope: Some(scope),
        retry_of: Some(run_dir.to_path_buf()),
        ..Default::default()
    })
}
