//! `sightline alertmanager routes test`: amtool's `config routes test`.

use std::process::ExitCode;

use sightline_alertmanager::labels::LabelSet;
use sightline_alertmanager::matchers::{MatchType, parse_matcher};
use sightline_alertmanager::route::Route;

use crate::cli::{AlertmanagerCommand, RoutesCommand};

pub fn run(c: AlertmanagerCommand) -> ExitCode {
    match c {
        AlertmanagerCommand::Routes(RoutesCommand::Test {
            config_file,
            verify_receivers,
            tree,
            labels,
        }) => {
            let cfg = match sightline_alertmanager::config::load_file(&config_file) {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("{e}");
                    return ExitCode::FAILURE;
                }
            };
            let route = Route::new(cfg.root_route());
            let mut ls = LabelSet::new();
            for l in &labels {
                match parse_matcher(l) {
                    Ok(m) if m.ty == MatchType::Equal => {
                        ls.insert(m.name, m.value);
                    }
                    _ => {
                        eprintln!("Labels must be specified as key=value pairs");
                        return ExitCode::FAILURE;
                    }
                }
            }
            if tree {
                print_tree(&route, 0);
            }
            let receivers: Vec<String> = route
                .match_labels(&ls)
                .iter()
                .map(|r| r.opts.receiver.clone())
                .collect();
            let slug = receivers.join(",");
            println!("{slug}");
            if let Some(want) = verify_receivers
                && want != slug
            {
                println!("WARNING: Expected receivers did not match resolved receivers.");
                return ExitCode::FAILURE;
            }
            ExitCode::SUCCESS
        }
    }
}

fn print_tree(r: &Route, depth: usize) {
    println!(
        "{}{} {} receiver: {}",
        "  ".repeat(depth),
        if depth == 0 {
            "Routing tree:"
        } else {
            "└──"
        },
        r.matchers,
        r.opts.receiver
    );
    for c in &r.routes {
        print_tree(c, depth + 1);
    }
}
