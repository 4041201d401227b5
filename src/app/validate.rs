//! `ghl-import validate`: the phases of a run that need no writes, with a ✓/✗ line each.

use std::path::Path;

use crate::config;
use crate::error::Exit;
use crate::extract::SourceReader;
use crate::transform::Transformer;

/// Validates a pipeline: config, source header and mapping, credentials present. Returns the exit
/// code; problems are printed to stderr.
pub async fn validate(path: &Path, sandbox: bool, state_dir: Option<&Path>) -> Exit {
    let p = match config::load(path) {
        Ok(p) => {
            println!(
                "✓ pipeline {} (version {})",
                path.display(),
                config::PIPELINE_VERSION
            );
            p
        }
        Err(e) => {
            println!("✗ pipeline {}", path.display());
            eprintln!("{e}");
            return Exit::Config;
        }
    };
    let mut ok = true;
    // An inbox is checked with its oldest ready file, when there is one.
    let sampled = match &p.inbox {
        None => Some(p.clone()),
        Some(inbox) if !inbox.dir.is_dir() => {
            ok = false;
            println!("✗ inbox {}", inbox.dir.display());
            eprintln!("source.inbox.dir {} is not a folder", inbox.dir.display());
            None
        }
        Some(inbox) => {
            let file = super::inbox::sample(inbox);
            println!(
                "✓ inbox {} ({})",
                inbox.dir.display(),
                file.as_ref().map_or_else(
                    || "no file ready; a file's header is checked when one arrives".to_owned(),
                    |f| format!("checking with {}", f.display())
                )
            );
            file.map(|f| super::inbox::with_file(&p, &f))
        }
    };
    match sampled
        .as_ref()
        .map(|p| SourceReader::headers_of(&p.source))
    {
        None => {}
        Some(Ok(headers)) => {
            let p = sampled.as_ref().unwrap_or(&p);
            println!(
                "✓ source {} ({} columns)",
                p.source.describe(),
                headers.len()
            );
            match Transformer::new(p, &headers) {
                Ok(_) => println!("✓ mapping ({} fields)", p.mapping.len()),
                Err(e) => {
                    ok = false;
                    println!("✗ mapping");
                    eprintln!("{e}");
                }
            }
        }
        Some(Err(e)) => {
            ok = false;
            println!("✗ source {}", p.source.describe());
            eprintln!("{e}");
        }
    }
    if sandbox {
        println!("✓ credentials (the embedded sandbox issues its own token)");
    } else {
        for (section, t) in super::apis(&p) {
            let creds = super::credentials(&p, section, t, state_dir);
            let checked = match creds {
                Ok(c) => {
                    super::check_scope(&c, &t.location_id, crate::auth::SCOPE_READ, "`validate`")
                        .await
                        .map(|()| c)
                }
                Err(e) => Err(e),
            };
            match checked {
                Ok(crate::ghl::client::Credentials::Static(_)) => {
                    if let crate::config::TargetAuth::Token { env } = &t.auth {
                        println!("✓ credentials for {section} (${env} is set)");
                    }
                }
                Ok(crate::ghl::client::Credentials::OAuth(m)) => println!(
                    "✓ credentials for {section} (OAuth tokens of {}, scopes: {})",
                    t.location_id,
                    m.scopes().await.join(" ")
                ),
                Err(e) => {
                    ok = false;
                    println!("✗ credentials for {section}");
                    eprintln!("{e}");
                }
            }
        }
    }
    if ok {
        Exit::Ok
    } else {
        Exit::Config
    }
}
