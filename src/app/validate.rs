//! `ghl-import validate`: the phases of a run that need no writes, with a ✓/✗ line each.

use std::path::Path;

use crate::config;
use crate::error::Exit;
use crate::extract::SourceReader;
use crate::transform::Transformer;

/// Validates a pipeline: config, source header and mapping, credentials present. Returns the exit
/// code; problems are printed to stderr.
pub fn validate(path: &Path, sandbox: bool) -> Exit {
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
    match SourceReader::headers_of(&p.source) {
        Ok(headers) => {
            println!(
                "✓ source {} ({} columns)",
                p.source.describe(),
                headers.len()
            );
            match Transformer::new(&p, &headers) {
                Ok(_) => println!("✓ mapping ({} fields)", p.mapping.len()),
                Err(e) => {
                    ok = false;
                    println!("✗ mapping");
                    eprintln!("{e}");
                }
            }
        }
        Err(e) => {
            ok = false;
            println!("✗ source {}", p.source.describe());
            eprintln!("{e}");
        }
    }
    if sandbox {
        println!("✓ credentials (the embedded sandbox issues its own token)");
    } else {
        for (section, t) in super::apis(&p) {
            match super::token_from_env(&p, section, t) {
                Ok(_) => println!("✓ credentials for {section} (${} is set)", t.token_env),
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
