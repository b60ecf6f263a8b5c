use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let args = incident_gateway::cli::Cli::parse();
    // The interactive commands print their own results; the service logs its work,
    // slow statements included (a one-shot command's stderr is for its own errors).
    let quiet = !matches!(args.command, incident_gateway::cli::Command::Run);
    incident_gateway::cli::init_tracing(if quiet {
        "warn,sqlx=error"
    } else {
        "info,sqlx=warn"
    });
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(71);
        }
    };
    rt.block_on(incident_gateway::cli::main(args))
}
