use std::process::ExitCode;

use clap::Parser;

use cifar_gpu::cli::{Cli, Command};
use cifar_gpu::console;
use cifar_gpu::gpu::adapter;

fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info"))
        .format_timestamp(None)
        .init();
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            let message = error.to_string();
            eprintln!("error: {message}");
            // Most messages already include their cause; print only causes they omit.
            let mut shown = message;
            let mut source = error.source();
            while let Some(cause) = source {
                let text = cause.to_string();
                if !shown.contains(&text) {
                    eprintln!("  caused by: {text}");
                    shown.push_str(&text);
                }
                source = cause.source();
            }
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Adapters => {
            let instance = adapter::create_instance();
            let entries: Vec<_> = adapter::enumerate(&instance)
                .into_iter()
                .map(|(entry, _)| entry)
                .collect();
            if entries.is_empty() {
                return Err(cifar_gpu::gpu::GpuError::NoAdapter.into());
            }
            console::print(&adapter::format_listing(&entries));
            Ok(())
        }
        Command::Train(args) => {
            cifar_gpu::train::train(&args.options())?;
            if let Some(dir) = &args.out {
                console::print_line(&format!("outputs written to {}", dir.display()));
            }
            Ok(())
        }
        Command::Profile(args) => {
            let report = cifar_gpu::profile::profile(&args)?;
            console::print(&cifar_gpu::profile::format_report(&report));
            Ok(())
        }
        Command::Evaluate(args) => {
            cifar_gpu::eval::command::run_evaluation(&args.options())?;
            Ok(())
        }
        Command::Predict(args) => {
            let predictions = cifar_gpu::eval::predict::run_prediction(&args.options())?;
            if args.json {
                let mut json = serde_json::to_string_pretty(&predictions)?;
                json.push('\n');
                console::print(&json);
            } else {
                console::print(&cifar_gpu::eval::predict::format_predictions(&predictions));
            }
            Ok(())
        }
    }
}
