use std::process::ExitCode;

use crate::cli::CheckCommand;

pub fn check(c: CheckCommand) -> ExitCode {
    let mut failed = false;
    match c {
        CheckCommand::Config { files } => {
            for f in files {
                match sightline_config::load_file(&f) {
                    Ok(cfg) => {
                        let rules = cfg
                            .resolve_rule_files(f.parent().unwrap_or(std::path::Path::new(".")))
                            .map(|r| r.len())
                            .unwrap_or(0);
                        println!(
                            "{}: SUCCESS: {} scrape configs, {} rule files found",
                            f.display(),
                            cfg.all_scrape_configs().count(),
                            rules
                        );
                    }
                    Err(e) => {
                        eprintln!("{e}");
                        failed = true;
                    }
                }
            }
        }
        CheckCommand::Rules { files } => {
            failed = !sightline_rules::check::check_files(&files, &mut std::io::stdout());
        }
        CheckCommand::AlertmanagerConfig { files } => {
            for f in files {
                let loaded = sightline_alertmanager::config::load_file(&f)
                    .map_err(|e| e.to_string())
                    .and_then(|cfg| {
                        // Templates must parse too, as amtool check-config checks.
                        sightline_alertmanager::template::Templates::new(
                            &cfg.templates,
                            &cfg.base_dir,
                            "",
                        )
                        .map(|_| cfg)
                    });
                match loaded {
                    Ok(cfg) => println!(
                        "{}: SUCCESS: {} receivers, {} inhibit rules, {} templates",
                        f.display(),
                        cfg.receivers.len(),
                        cfg.inhibit_rules.len(),
                        cfg.templates.len()
                    ),
                    Err(e) => {
                        eprintln!("{e}");
                        failed = true;
                    }
                }
            }
        }
        CheckCommand::WebConfig { files } => {
            for f in files {
                match sightline_config::load_web_config(&f) {
                    Ok(_) => println!("{}: SUCCESS", f.display()),
                    Err(e) => {
                        eprintln!("{e}");
                        failed = true;
                    }
                }
            }
        }
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
