//! The command line: the binary's edge, where errors become messages and exit codes.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context};
use chrono::Utc;
use clap::{Parser, Subcommand};

use crate::actions::{Actions, By};
use crate::config::Config;
use crate::domain::{EmailAddress, TrackingId};
use crate::intake::imap;
use crate::outbound::Transport;
use crate::service::{shutdown_signal, Application};
use crate::store::messages::Origin;
use crate::store::{cases, messages, outbox, Store};

/// Every command prints through this instead of `std::println!`, which panics when
/// the reader of standard output has gone (`incident-gateway cases list | head -1`).
macro_rules! println {
    () => {
        $crate::cli::print_line(format_args!(""))
    };
    ($($arg:tt)*) => {
        $crate::cli::print_line(format_args!($($arg)*))
    };
}

/// Writes one line to standard output. When the reader has gone (EPIPE), the
/// process ends at once and quietly, with the shell's status for it (128 + SIGPIPE),
/// as the usual command-line tools do.
pub fn print_line(args: std::fmt::Arguments<'_>) {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    if let Err(e) = writeln!(out, "{args}") {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(EX_PIPE.into());
        }
        // Any other failure to print (a full disk behind a redirect) is reported once.
        let _ = writeln!(
            std::io::stderr(),
            "error: cannot write to standard output: {e}"
        );
        std::process::exit(1);
    }
}

/// The exit status of a command whose output pipe was closed (128 + SIGPIPE).
pub const EX_PIPE: u8 = 141;

/// sysexits.h: temporary failure, the MTA should retry.
pub const EX_TEMPFAIL: u8 = 75;
/// sysexits.h: configuration error.
pub const EX_CONFIG: u8 = 78;

#[derive(Debug, Parser)]
#[command(
    name = "incident-gateway",
    version,
    about = "SOC incident mailbox → tracked cases"
)]
pub struct Cli {
    /// Configuration file (TOML). Without it: embedded defaults (./data, no mail servers).
    #[arg(long, short, global = true, env = "IGW_CONFIG")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the gateway: IMAP intake (if [imap] is set) and the outbox worker.
    Run,
    /// Store one message read from standard input, as an MTA pipe would.
    /// Exit 0 once stored, 75 when storage is unavailable (the MTA retries).
    Ingest,
    /// Feed fixtures/*.eml through intake and the outbox, then show what happened.
    Demo {
        #[arg(long, default_value = "fixtures")]
        fixtures: PathBuf,
    },
    /// Connect to the configured IMAP and SMTP servers and report what is wrong.
    CheckConfig,
    /// Queue the reminders that are due (`run` does this every minute by itself).
    Remind {
        /// Act as if it were this time (RFC 3339), e.g. to test the schedule.
        #[arg(long)]
        now: Option<String>,
    },
    /// Queue the periodic SCIO status updates that are due, then the SOC's notices of
    /// cases overdue for triage or an update (`run` does this every minute).
    Updates {
        /// Act as if it were this time (RFC 3339), e.g. to test the schedule.
        #[arg(long)]
        now: Option<String>,
    },
    /// The routine trends report of the last complete week or month: queued once per
    /// period to [reports] recipients (`run` does this by itself), or previewed.
    Report {
        /// week or month
        #[arg(long, default_value = "week")]
        period: String,
        /// Print the text and write the HTML report under the data directory; queue nothing.
        #[arg(long)]
        preview: bool,
        /// Act as if it were this time (RFC 3339, or a day YYYY-MM-DD in UTC).
        #[arg(long)]
        at: Option<String>,
    },
    /// Read one message file and print what the gateway makes of it (no database).
    Parse {
        file: PathBuf,
        /// One JSON object: kind, acknowledge, tracking_id, category, severity_suggested,
        /// fields, missing, iocs, attachments.
        #[arg(long)]
        json: bool,
        /// Directory file (TOML) to recognise agencies; default: [gateway] directory.
        #[arg(long)]
        directory: Option<PathBuf>,
    },
    /// List cases.
    Cases {
        #[command(subcommand)]
        command: CasesCommand,
    },
    /// Look at one case.
    Case {
        #[command(subcommand)]
        command: CaseCommand,
    },
    /// Messages that belong to no case: bounces, auto-replies, bulk, unparseable.
    Quarantine {
        #[command(subcommand)]
        command: QuarantineCommand,
    },
    /// Outbound mail: list, and release or drop what is held for review.
    Outbound {
        #[command(subcommand)]
        command: OutboundCommand,
    },
    /// Accounts of the review web UI and API tokens.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Export for partners: a case, or the cases opened in a period, as a STIX 2.1
    /// bundle or MISP event JSON; or the queue as CSV. Indicators marked as removed
    /// are left out; every export is recorded (audit trail, case timeline).
    Export {
        /// stix, misp or csv
        format: crate::export::Format,
        /// One case, e.g. SOC-2026-000123.
        #[arg(long, conflicts_with_all = ["since", "until"])]
        case: Option<String>,
        /// First day (YYYY-MM-DD) or time (RFC 3339) of the period; with --until.
        #[arg(long, requires = "until")]
        since: Option<String>,
        /// Last day of the period, included (or an RFC 3339 time, excluded).
        #[arg(long, requires = "since")]
        until: Option<String>,
        /// Write to this file instead of standard output.
        #[arg(long, short)]
        out: Option<PathBuf>,
        #[arg(long, env = "USER", default_value = "analyst")]
        by: String,
    },
    /// The SIEM feed ([siem]): where each sink stands, and sending again from a point.
    Siem {
        #[command(subcommand)]
        command: SiemCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum SiemCommand {
    /// Each sink's last event handed on, and how many wait.
    Status,
    /// Hand on again every event after SEQ (e.g. after the collector lost data); a
    /// running `run` picks it up within a poll.
    Rewind {
        /// `file` or `syslog`.
        #[arg(long)]
        sink: String,
        /// The sequence number to send after (0 = from the first event).
        #[arg(long)]
        to: i64,
    },
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create an account; the password is read from standard input (first line).
    Add {
        name: String,
        /// analyst (reads and changes cases) or viewer (reads only)
        #[arg(long, default_value = "analyst")]
        role: String,
        /// Accepted for clarity: the password always comes from standard input.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Set a new password (from standard input); ends the account's sessions.
    Passwd {
        name: String,
        #[arg(long)]
        password_stdin: bool,
    },
    /// Disable an account; ends its sessions and revokes its API tokens.
    Disable { name: String },
    /// Mint an API token for the account (printed once; only its hash is stored).
    Token { name: String },
}

#[derive(Debug, Subcommand)]
pub enum CasesCommand {
    List {
        #[arg(long)]
        json: bool,
        #[arg(long, default_value_t = 50)]
        limit: i64,
    },
}

#[derive(Debug, Subcommand)]
pub enum CaseCommand {
    /// Fields, messages, events and outbox state of one case.
    Show {
        /// Tracking ID, e.g. SOC-2026-000123
        id: String,
        #[arg(long)]
        json: bool,
    },
    /// Set a field by hand (a JSON value, or text); email never overwrites it silently.
    SetField {
        id: String,
        field: String,
        value: String,
        #[arg(long, env = "USER", default_value = "analyst")]
        by: String,
    },
    /// Move the case: new, triage, investigating, contained, resolved, closed, reopened.
    /// The SCIO thread gets an update.
    SetStatus {
        id: String,
        status: String,
        #[arg(long, env = "USER", default_value = "analyst")]
        by: String,
    },
    /// Set the severity: low, medium, high, critical. The SCIO thread gets an update.
    SetSeverity {
        id: String,
        severity: String,
        #[arg(long, env = "USER", default_value = "analyst")]
        by: String,
    },
    /// Set the priority: p1 (act now) to p4 (routine).
    SetPriority {
        id: String,
        priority: String,
        #[arg(long, env = "USER", default_value = "analyst")]
        by: String,
    },
    /// Assign the case to an analyst; without a name, unassign it.
    Assign {
        id: String,
        analyst: Option<String>,
        #[arg(long, env = "USER", default_value = "analyst")]
        by: String,
    },
    /// Set a flag (major_incident, personal_information, law_enforcement_contacted,
    /// external_communications); its escalation notice goes once per case.
    Flag {
        id: String,
        flag: String,
        /// Clear the flag instead.
        #[arg(long)]
        off: bool,
        #[arg(long, env = "USER", default_value = "analyst")]
        by: String,
    },
    /// Write an update to the case's SCIO thread.
    Update {
        id: String,
        /// The text (Markdown); `-` reads it from standard input.
        #[arg(long, short)]
        message: String,
        /// Also send this update to ADDR; held for review unless the address is allowed.
        #[arg(long, value_name = "ADDR")]
        cc: Vec<String>,
        /// Print the message as it would go (recipients, subject, text); send nothing.
        #[arg(long)]
        preview: bool,
        #[arg(long, env = "USER", default_value = "analyst")]
        by: String,
    },
    /// Link two related cases.
    Link {
        id: String,
        other: String,
        #[arg(long, env = "USER", default_value = "analyst")]
        by: String,
    },
    /// Merge a case into another: its messages move there, it is closed, and later mail
    /// about it lands on the other case.
    Merge {
        id: String,
        /// The case that absorbs it.
        #[arg(long)]
        into: String,
        #[arg(long, env = "USER", default_value = "analyst")]
        by: String,
    },
    /// Mark an indicator as removed (a false positive): no export carries it.
    /// KIND: ipv4, ipv6, domains, urls, emails, md5, sha1, sha256, cves.
    RemoveIndicator {
        id: String,
        kind: String,
        value: String,
        /// Why it is no indicator ("a Microsoft link"), shown beside it.
        #[arg(long, default_value = "")]
        reason: String,
        #[arg(long, env = "USER", default_value = "analyst")]
        by: String,
    },
    /// Take the removal mark off an indicator.
    RestoreIndicator {
        id: String,
        kind: String,
        value: String,
        #[arg(long, env = "USER", default_value = "analyst")]
        by: String,
    },
    /// Take one report out of a campaign case: it opens a case of its own (see the
    /// case's Campaign panel or `case show` for the message numbers).
    Split {
        id: String,
        /// The report's message number (`#1234` or `1234`).
        message: String,
        /// Tell its reporter the new tracking ID.
        #[arg(long)]
        ack: bool,
        #[arg(long, env = "USER", default_value = "analyst")]
        by: String,
    },
    /// Set what later reporters of a campaign are told ("known phish: delete it");
    /// an empty TEXT clears it.
    CampaignAnswer {
        id: String,
        text: String,
        #[arg(long, env = "USER", default_value = "analyst")]
        by: String,
    },
    /// Set the TLP the case is shared under: clear, green, amber, amber+strict, red.
    SetTlp {
        id: String,
        tlp: String,
        #[arg(long, env = "USER", default_value = "analyst")]
        by: String,
    },
    /// Record an internal note (never mailed).
    Note {
        id: String,
        text: String,
        #[arg(long, env = "USER", default_value = "analyst")]
        by: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum QuarantineCommand {
    /// The messages still to look at (`--dismissed`: those called not an incident).
    List {
        #[arg(long)]
        json: bool,
        #[arg(long, default_value_t = 50)]
        limit: i64,
        #[arg(long)]
        dismissed: bool,
    },
    /// Open a case from a quarantined message (its row): read as a report. Its sender
    /// is acknowledged when it was a person's mail (not a bounce, auto-reply or bulk),
    /// as in the web UI; `--ack` or `--no-ack` decides instead.
    Open {
        row: i64,
        #[arg(long, conflicts_with = "no_ack")]
        ack: bool,
        #[arg(long)]
        no_ack: bool,
        #[arg(long, env = "USER", default_value = "analyst")]
        by: String,
    },
    /// "Not an incident": the message leaves the open list (it is kept).
    Dismiss {
        row: i64,
        #[arg(long, default_value = "")]
        note: String,
        #[arg(long, env = "USER", default_value = "analyst")]
        by: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum OutboundCommand {
    List {
        /// pending | sent | failed | held | dropped
        #[arg(long)]
        status: Option<String>,
        #[arg(long)]
        json: bool,
        #[arg(long, default_value_t = 50)]
        limit: i64,
    },
    /// Send a held message.
    Release {
        id: i64,
        /// Who decided (recorded in the case's events).
        #[arg(long, env = "USER", default_value = "analyst")]
        by: String,
    },
    /// Send everything due now, then exit (`run` does this continuously).
    Flush,
    /// Discard a held message.
    Drop {
        id: i64,
        #[arg(long, env = "USER", default_value = "analyst")]
        by: String,
    },
}

/// Logs go to stderr; `RUST_LOG` filters (default `info`).
pub fn init_tracing(default: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init();
}

/// Runs a command; prints the error chain and picks the exit code.
pub async fn main(cli: Cli) -> ExitCode {
    let config = match Config::load(cli.config.as_deref()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(EX_CONFIG);
        }
    };
    if let Command::Ingest = cli.command {
        return ingest(config).await;
    }
    match dispatch(cli.command, config).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn dispatch(command: Command, config: Config) -> anyhow::Result<ExitCode> {
    match command {
        Command::Run => {
            let service = Application::build(config).await?;
            tracing::info!("incident-gateway running; SIGTERM or Ctrl-C stops it");
            service.run_until_stopped(shutdown_signal()).await;
            Ok(ExitCode::SUCCESS)
        }
        Command::Ingest => unreachable!("handled before dispatch"),
        Command::Demo { fixtures } => demo(config, &fixtures).await,
        Command::CheckConfig => check_config(config).await,
        Command::Remind { now } => {
            let now = parse_now(now)?;
            let service = Application::build(config).await?;
            let n = service.pipeline.send_reminders(now).await?;
            println!("{n} reminder(s) queued");
            Ok(ExitCode::SUCCESS)
        }
        Command::Parse {
            file,
            json,
            directory,
        } => parse(config, &file, json, directory),
        Command::Cases {
            command: CasesCommand::List { json, limit },
        } => {
            let store = Store::connect(&config.database_url()).await?;
            let mut conn = store.acquire().await?;
            let rows = cases::list(&mut conn, limit).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&rows)?);
            } else {
                print_case_list(&rows);
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Case {
            command: CaseCommand::Show { id, json },
        } => {
            let tid: TrackingId = id.parse()?;
            let store = Store::connect(&config.database_url()).await?;
            let mut conn = store.acquire().await?;
            let detail = cases::detail(&mut conn, &tid).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&detail)?);
            } else {
                print_case(&detail);
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Case {
            command:
                CaseCommand::SetField {
                    id,
                    field,
                    value,
                    by,
                },
        } => {
            let tid: TrackingId = id.parse()?;
            let value = serde_json::from_str(&value).unwrap_or(serde_json::Value::String(value));
            let store = Store::connect(&config.database_url()).await?;
            actions(&config, store)
                .await?
                .set_field(&tid, &field, value, By::cli(&by), Utc::now())
                .await?;
            println!("{tid}: {field} set by {by}");
            Ok(ExitCode::SUCCESS)
        }
        Command::Quarantine {
            command:
                QuarantineCommand::Open {
                    row,
                    ack,
                    no_ack,
                    by,
                },
        } => {
            let store = Store::connect(&config.database_url()).await?;
            let kind = {
                let mut conn = store.acquire().await?;
                messages::by_id(&mut conn, row).await?.map(|m| m.kind)
            };
            let acknowledge = ack
                || (!no_ack
                    && kind
                        .as_deref()
                        .is_some_and(crate::actions::acknowledge_by_default));
            let (tid, acked) = actions(&config, store)
                .await?
                .open_from_quarantine(row, acknowledge, By::cli(&by), Utc::now())
                .await?;
            let told = if acked {
                "acknowledgement queued"
            } else {
                "sender not told"
            };
            println!("{tid}: opened from message #{row} by {by}; {told}");
            Ok(ExitCode::SUCCESS)
        }
        Command::Quarantine {
            command: QuarantineCommand::Dismiss { row, note, by },
        } => {
            let store = Store::connect(&config.database_url()).await?;
            actions(&config, store)
                .await?
                .dismiss_quarantined(row, &note, By::cli(&by), Utc::now())
                .await?;
            println!("message #{row}: not an incident ({by})");
            Ok(ExitCode::SUCCESS)
        }
        Command::Quarantine {
            command:
                QuarantineCommand::List {
                    json,
                    limit,
                    dismissed,
                },
        } => {
            let store = Store::connect(&config.database_url()).await?;
            let mut conn = store.acquire().await?;
            let rows = messages::quarantine(&mut conn, limit, dismissed).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&rows)?);
            } else {
                println!(
                    "{:>6}  {:<12} {:<32} {:<40} reason",
                    "row", "kind", "from", "subject"
                );
                for m in &rows {
                    println!(
                        "{:>6}  {:<12} {:<32} {:<40} {}",
                        m.id,
                        m.kind,
                        cut(m.from_addr.as_deref().unwrap_or("-"), 32),
                        cut(m.subject.as_deref().unwrap_or(""), 40),
                        m.quarantine_reason.as_deref().unwrap_or("")
                    );
                }
                println!("{} message(s)", rows.len());
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Case { command } => case_action(config, command).await,
        Command::Updates { now } => {
            let now = parse_now(now)?;
            let store = Store::connect(&config.database_url()).await?;
            let actions = actions(&config, store.clone()).await?;
            let n = actions.notifier().periodic(&store, now).await?;
            println!("{n} status update(s) queued");
            let n = actions.notifier().soc_overdue(&store, now).await?;
            println!("{n} overdue notice(s) to the SOC queued");
            Ok(ExitCode::SUCCESS)
        }
        Command::Outbound { command } => outbound(config, command).await,
        Command::User { command } => user(config, command).await,
        Command::Report {
            period,
            preview,
            at,
        } => report(config, &period, preview, at).await,
        Command::Export {
            format,
            case,
            since,
            until,
            out,
            by,
        } => {
            let scope = match (case, since, until) {
                (Some(c), _, _) => crate::export::Scope::Case(c.parse()?),
                (None, Some(s), Some(u)) => {
                    crate::export::Scope::period(&s, &u).map_err(anyhow::Error::msg)?
                }
                _ if format == crate::export::Format::Csv => {
                    crate::export::Scope::Queue(Default::default())
                }
                _ => bail!("say what to export: --case TRACKING-ID, or --since DATE --until DATE"),
            };
            let store = Store::connect(&config.database_url()).await?;
            let e = actions(&config, store)
                .await?
                .export(&scope, format, By::cli(&by), Utc::now())
                .await?;
            match out {
                Some(path) => {
                    std::fs::write(&path, &e.body)
                        .with_context(|| format!("cannot write {}", path.display()))?;
                    eprintln!(
                        "{} written ({} case(s), {} bytes)",
                        path.display(),
                        e.cases,
                        e.body.len()
                    );
                }
                None => println!("{}", e.body.strip_suffix('\n').unwrap_or(&e.body)),
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Siem { command } => siem(config, command).await,
    }
}

async fn siem(config: Config, command: SiemCommand) -> anyhow::Result<ExitCode> {
    let store = Store::connect(&config.database_url()).await?;
    match command {
        SiemCommand::Status => {
            let last = store.last_event_seq().await?;
            let configured: Vec<&str> = config
                .siem
                .as_ref()
                .map(crate::siem::SinkKind::configured)
                .unwrap_or_default()
                .into_iter()
                .map(|k| k.name())
                .collect();
            if configured.is_empty() {
                println!("no [siem] section: no feed (the events are in the database)");
            }
            println!("last event: {last}");
            let cursors = store.feed_cursors().await?;
            for name in &configured {
                match cursors.iter().find(|(s, _, _)| s == name) {
                    Some((_, seq, at)) => println!(
                        "{name:<7} handed on up to {seq} ({} waiting), last at {at}",
                        (last - seq).max(0)
                    ),
                    None => println!("{name:<7} nothing handed on yet"),
                }
            }
            for (name, seq, at) in cursors
                .iter()
                .filter(|(s, _, _)| !configured.contains(&s.as_str()))
            {
                println!("{name:<7} not configured now; stood at {seq} ({at})");
            }
            Ok(ExitCode::SUCCESS)
        }
        SiemCommand::Rewind { sink, to } => {
            if !["file", "syslog"].contains(&sink.as_str()) {
                anyhow::bail!("--sink {sink}: use file or syslog");
            }
            if to < 0 {
                anyhow::bail!("--to {to}: a sequence number is 0 or more");
            }
            store.set_feed_cursor(&sink, to, Utc::now()).await?;
            println!("{sink}: the events after {to} will be handed on again (a running `run` starts within a poll)");
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// `report`: queue (or preview) one trends report.
async fn report(
    config: Config,
    period: &str,
    preview: bool,
    at: Option<String>,
) -> anyhow::Result<ExitCode> {
    use crate::reports::trends::Queued;
    let period: crate::reports::Period = period.parse().map_err(anyhow::Error::msg)?;
    let at = match at.as_deref() {
        Some(d) if d.len() == 10 => chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d")
            .with_context(|| format!("--at {d} is not a day (YYYY-MM-DD)"))?
            .and_hms_opt(0, 0, 0)
            .unwrap_or_default()
            .and_utc(),
        other => parse_now(other.map(String::from)).context("--at")?,
    };
    let service = Application::build(config).await?;
    let reporter = service.reporter();
    let range = period.last_complete(at);
    let what = format!(
        "{} trends report for {} to {}",
        period.as_str(),
        range.from.format("%Y-%m-%d"),
        range.last_day()
    );
    if preview {
        let mail = reporter.build(period, at).await?;
        let dir = service.config.gateway.data_dir.join("reports");
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
        let path = dir.join(&mail.file_name);
        std::fs::write(&path, &mail.document)
            .with_context(|| format!("cannot write {}", path.display()))?;
        println!(
            "Subject: {}\n\n{}",
            mail.rendered.subject, mail.rendered.text
        );
        println!(
            "preview of the {what}: HTML written to {} (nothing queued)",
            path.display()
        );
        return Ok(ExitCode::SUCCESS);
    }
    match reporter.queue(period, at).await? {
        Queued::Queued(id) => println!("{what} queued (outbox #{id})"),
        Queued::AlreadyQueued => println!("{what} was queued before; not queued again"),
        Queued::NoRecipients => {
            bail!(
                "[reports] recipients is empty: nobody to send the {what} to (--preview shows it)"
            )
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `--now` for the schedules: an RFC 3339 time, or the current time.
fn parse_now(now: Option<String>) -> anyhow::Result<chrono::DateTime<Utc>> {
    Ok(match now {
        Some(t) => chrono::DateTime::parse_from_rfc3339(&t)
            .with_context(|| {
                format!("--now {t} is not an RFC 3339 time (e.g. 2026-03-10T14:00:00-04:00)")
            })?
            .with_timezone(&Utc),
        None => Utc::now(),
    })
}

/// Reads a password: the first line of standard input, without its line ending.
fn read_password() -> anyhow::Result<String> {
    let mut line = String::new();
    std::io::stdin()
        .read_line(&mut line)
        .context("cannot read the password from standard input")?;
    let pw = line.trim_end_matches(['\r', '\n']).to_string();
    if pw.chars().count() < 8 {
        bail!("the password (first line of standard input) must have at least 8 characters");
    }
    Ok(pw)
}

async fn user(config: Config, command: UserCommand) -> anyhow::Result<ExitCode> {
    use crate::store::users;
    let store = Store::connect(&config.database_url()).await?;
    let now = Utc::now();
    match command {
        UserCommand::Add { name, role, .. } => {
            let role: users::Role = role.parse()?;
            let hash = crate::web::auth::hash_password(&read_password()?)
                .map_err(|e| anyhow::anyhow!("cannot hash the password: {e}"))?;
            let mut tx = store.begin_write().await?;
            users::add(&mut tx, &name, role, &hash, now).await?;
            tx.commit().await?;
            println!("account {name} added ({})", role.as_str());
        }
        UserCommand::Passwd { name, .. } => {
            let hash = crate::web::auth::hash_password(&read_password()?)
                .map_err(|e| anyhow::anyhow!("cannot hash the password: {e}"))?;
            let mut tx = store.begin_write().await?;
            users::set_password(&mut tx, &name, &hash, now).await?;
            tx.commit().await?;
            println!("password of {name} changed; its sessions ended");
        }
        UserCommand::Disable { name } => {
            let mut tx = store.begin_write().await?;
            users::disable(&mut tx, &name, now).await?;
            tx.commit().await?;
            println!("account {name} disabled; its sessions and tokens ended");
        }
        UserCommand::Token { name } => {
            let token = format!(
                "igw_{}",
                crate::web::auth::random_token().map_err(|e| anyhow::anyhow!("{e}"))?
            );
            let mut tx = store.begin_write().await?;
            users::add_token(&mut tx, &name, &token, now).await?;
            tx.commit().await?;
            // The only time the token is shown: it is stored as its SHA-256.
            println!("{token}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn ingest(config: Config) -> ExitCode {
    let mut raw = Vec::new();
    if let Err(e) = std::io::stdin().lock().read_to_end(&mut raw) {
        eprintln!("error: cannot read the message from standard input: {e}");
        return ExitCode::from(EX_TEMPFAIL);
    }
    let store = match Store::connect(&config.database_url()).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}; the message was not stored, the MTA should retry");
            return ExitCode::from(EX_TEMPFAIL);
        }
    };
    let pipeline = match crate::intake::Pipeline::new(store, std::sync::Arc::new(config)) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: {e}; the message was not stored, the MTA should retry");
            return ExitCode::from(EX_TEMPFAIL);
        }
    };
    match pipeline.ingest_owned(raw, &Origin::Pipe).await {
        Ok(o) => {
            println!(
                "stored message #{} as {}{}{}",
                o.message_row,
                o.kind,
                o.tracking_id
                    .map(|t| format!(" in case {t}"))
                    .unwrap_or_default(),
                o.note.map(|n| format!(" ({n})")).unwrap_or_default()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}; the message was not stored, the MTA should retry");
            ExitCode::from(EX_TEMPFAIL)
        }
    }
}

async fn demo(config: Config, dir: &Path) -> anyhow::Result<ExitCode> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot read fixtures directory {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "eml"))
        .collect();
    files.sort();
    if files.is_empty() {
        bail!("no .eml files in {}", dir.display());
    }
    let mut config = config;
    // The demo never sends mail anywhere, whatever the configuration says: its
    // invented reporters and officials get `.eml` files in the data directory.
    config.smtp = None;
    let sample = dir.join("directory.toml");
    if config.gateway.directory.is_none() && sample.exists() {
        config.gateway.directory = Some(sample);
    }
    let service = Application::build(config).await?;
    println!("database: {}", service.config.database_url());
    if let Some(d) = &service.config.gateway.directory {
        println!("directory: {} (SCIO threads and escalations)", d.display());
    }
    println!(
        "outbound: files in {} (the demo never sends mail)",
        service.config.outbox_dir().display()
    );
    println!();
    for f in &files {
        let raw = std::fs::read(f).with_context(|| format!("cannot read {}", f.display()))?;
        let o = service.pipeline.ingest(&raw, &Origin::Demo).await?;
        println!(
            "{:<44} -> {:<10} {:<16} {}",
            f.file_name()
                .map(|n| n.to_string_lossy().to_string())
                .unwrap_or_default(),
            o.kind.as_str(),
            o.tracking_id.as_deref().unwrap_or("-"),
            if o.duplicate {
                "already stored".to_string()
            } else if o.acknowledgement.is_some() && o.note.is_none() {
                "acknowledgement queued".to_string()
            } else {
                o.note.unwrap_or_default()
            }
        );
    }
    let sent = service.worker().drain().await?;
    println!();
    println!(
        "outbox: {} message(s) sent now",
        sent.iter()
            .filter(|o| matches!(o, crate::outbound::worker::StepOutcome::Sent { .. }))
            .count()
    );
    let mut conn = service.store.acquire().await?;
    for row in outbox::list(&mut conn, None, 1000).await? {
        println!(
            "  #{:<4} {:<8} {:<32} {}",
            row.id,
            row.status,
            cut(&row.recipient, 32),
            row.subject
        );
    }
    println!(
        "  (each sent message is an .eml file in {})",
        service.config.outbox_dir().display()
    );
    println!();
    print_case_list(&cases::list(&mut conn, 1000).await?);
    println!("\nLook closer: {} case show <TRACKING-ID>", own_command());
    Ok(ExitCode::SUCCESS)
}

/// How the user runs this binary, for hints: `cargo run --` when it is cargo's
/// build output (someone who only ran `cargo run`; cargo marks its target directory
/// with `CACHEDIR.TAG`), else its name (installed with `cargo install --path .`).
fn own_command() -> &'static str {
    // Under `cargo run` (and `cargo test`) cargo names itself in `CARGO`; a binary run
    // straight from a cargo build directory sits beside that profile's `.fingerprint`.
    // (`CACHEDIR.TAG` is not a sign: cargo writes it only when it creates `target/`.)
    let from_cargo = std::env::var_os("CARGO").is_some()
        || std::env::current_exe().ok().is_some_and(|exe| {
            exe.parent()
                .is_some_and(|profile| profile.join(".fingerprint").is_dir())
        });
    if from_cargo {
        "cargo run --"
    } else {
        "incident-gateway"
    }
}

fn parse(
    mut config: Config,
    file: &Path,
    json: bool,
    directory: Option<PathBuf>,
) -> anyhow::Result<ExitCode> {
    let raw = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    if directory.is_some() {
        config.gateway.directory = directory;
    }
    let agencies = match &config.gateway.directory {
        Some(p) => crate::routing::Directory::load(p)?.agencies,
        None => Vec::new(),
    };
    let a = crate::intake::analyze_with(&raw, &config.own_addresses(), &agencies, &config);
    if json {
        println!("{}", serde_json::to_string_pretty(&a.contract())?);
        return Ok(ExitCode::SUCCESS);
    }
    println!("{}  ({})", file.display(), a.subject);
    println!(
        "  kind {}, {}{}",
        a.kind,
        if a.acknowledge {
            "would be acknowledged"
        } else {
            "no automatic answer"
        },
        a.class
            .reason
            .as_deref()
            .map(|r| format!(": {r}"))
            .unwrap_or_default()
    );
    if let Some(t) = &a.tracking_id {
        println!("  refers to case {t}");
    }
    println!(
        "  category {} ({})",
        a.category,
        a.category_reasons.join("; ")
    );
    println!(
        "  severity suggested {}{} ({})",
        a.severity_suggested,
        if a.severity_provisional {
            ", provisional"
        } else {
            ""
        },
        a.severity_reasons.join("; ")
    );
    println!("  priority {}", a.priority);
    print_fields(&serde_json::to_value(&a.fields)?);
    if !a.missing.is_empty() {
        println!("\nMissing: {}", a.missing.join(", "));
    }
    print_iocs(&serde_json::to_value(&a.iocs)?);
    print_attachments(a.attachments.iter().map(|x| {
        (
            x.name.as_deref(),
            x.media_type.as_str(),
            x.size as i64,
            x.sha256.as_str(),
            x.kept,
        )
    }));
    for e in &a.evidence {
        println!(
            "\nEvidence: {} from {} subject {}",
            e.origin,
            e.from.as_deref().unwrap_or("?"),
            e.subject.as_deref().unwrap_or("?")
        );
    }
    for n in &a.notes {
        println!("note: {n}");
    }
    Ok(ExitCode::SUCCESS)
}

/// Fields with the line each came from.
fn print_fields(fields: &serde_json::Value) {
    let Some(obj) = fields.as_object().filter(|o| !o.is_empty()) else {
        return;
    };
    println!("\nFields");
    for (k, v) in obj {
        let value = v.get("value").unwrap_or(v);
        let shown = match value {
            serde_json::Value::String(s) => cut(s, 70),
            other => cut(&other.to_string(), 70),
        };
        println!("  {k:<26} {shown}");
        if let Some(src) = v.get("source") {
            let part = src.get("part").and_then(|p| p.as_str()).unwrap_or("");
            let line = src.get("line").and_then(|l| l.as_u64()).unwrap_or(0);
            let text = src.get("text").and_then(|t| t.as_str()).unwrap_or("");
            if line > 0 {
                println!("  {:<26}   from {part} line {line}: {}", "", cut(text, 60));
            } else {
                println!("  {:<26}   from {part}", "");
            }
        }
    }
}

/// Attachments as (name, media type, size, SHA-256, kept).
fn print_attachments<'a>(
    items: impl Iterator<Item = (Option<&'a str>, &'a str, i64, &'a str, bool)>,
) {
    let mut first = true;
    for (name, media_type, size, sha256, kept) in items {
        if first {
            println!("\nAttachments");
            first = false;
        }
        println!(
            "  {:<32} {:<28} {:>9} B  sha256 {sha256}{}",
            cut(name.unwrap_or("(unnamed)"), 32),
            cut(media_type, 28),
            size,
            if kept {
                ""
            } else {
                "  (over the size limit: not kept)"
            }
        );
    }
}

fn print_iocs(iocs: &serde_json::Value) {
    let Some(obj) = iocs.as_object() else { return };
    let any = obj
        .values()
        .any(|v| v.as_array().is_some_and(|a| !a.is_empty()));
    if !any {
        return;
    }
    println!("\nIndicators");
    for (k, v) in obj {
        for item in v.as_array().into_iter().flatten() {
            println!("  {k:<8} {}", item.as_str().unwrap_or(""));
        }
    }
}

async fn check_config(config: Config) -> anyhow::Result<ExitCode> {
    let mut ok = true;
    let url = config.database_url();
    match Store::connect(&url).await {
        Ok(_) => println!("database  ok    {url}"),
        Err(e) => {
            ok = false;
            println!("database  FAIL  {e}");
        }
    }
    match &config.gateway.directory {
        None => println!(
            "directory skip  no [gateway] directory: no SCIO threads or escalation notices"
        ),
        Some(p) => match crate::routing::Directory::load(p) {
            Ok(d) => {
                let no_audience: Vec<&str> = d
                    .records
                    .iter()
                    .filter(|a| d.audience(&a.name).is_none())
                    .map(|a| a.name.as_str())
                    .collect();
                println!(
                    "directory ok    {}: {} secretariats, {} agencies, {} vendors; lists: leadership {}, communications {}, soc_oncall {}",
                    p.display(),
                    d.secretariats.len(),
                    d.records.len(),
                    d.vendors.len(),
                    d.lists.leadership.len(),
                    d.lists.communications.len(),
                    d.lists.soc_oncall.len()
                );
                if !no_audience.is_empty() {
                    println!(
                        "directory warn  no SCIO thread possible for: {}",
                        no_audience.join(", ")
                    );
                }
                if d.lists.leadership.is_empty() || d.lists.soc_oncall.is_empty() {
                    println!("directory warn  [lists] leadership and soc_oncall should not be empty: escalation notices have nowhere to go");
                }
            }
            Err(e) => {
                ok = false;
                println!("directory FAIL  {e}");
            }
        },
    }
    // Without a token the logins cannot be tried: they are skipped, not failed thrice.
    let mut no_token = false;
    if let Some(o) = &config.oauth2 {
        let url = o.token_url().unwrap_or_default();
        match crate::oauth2::shared(o).token().await {
            Ok(t) => println!(
                "oauth2    ok    token for client {} from {url} (renewed in {} s)",
                o.client_id,
                t.remaining().as_secs()
            ),
            Err(e) => {
                ok = false;
                no_token = true;
                println!("oauth2    FAIL  {e}");
            }
        }
    }
    let on_token =
        |auth: crate::config::AuthMethod| no_token && auth == crate::config::AuthMethod::Oauth2;
    match &config.imap {
        None => println!("imap      skip  no [imap] section: intake only through `ingest`"),
        Some(cfg) if on_token(cfg.auth) => {
            println!("imap      skip  no OAuth2 token to log in with (see oauth2 above)")
        }
        Some(cfg) => {
            let addr = format!("{}:{}", cfg.host, cfg.port());
            match imap::connect(cfg).await {
                Err(e) => {
                    ok = false;
                    println!("imap      FAIL  {e}");
                }
                Ok(mut s) => {
                    let mut problems = Vec::new();
                    let feats = imap::features(&mut s).await;
                    if let Err(e) = s.examine(&cfg.mailbox).await {
                        problems.push(format!(
                            "folder '{}' cannot be opened: {e} (check [imap] mailbox)",
                            cfg.mailbox
                        ));
                    }
                    match s.list(None, Some(&cfg.processed_mailbox)).await {
                        Ok(stream) => {
                            use futures::TryStreamExt;
                            let names: Vec<_> = stream.try_collect().await.unwrap_or_default();
                            if !names.iter().any(|n| n.name() == cfg.processed_mailbox) {
                                problems.push(format!(
                                    "processed folder '{}' does not exist (run creates it; or create it yourself)",
                                    cfg.processed_mailbox
                                ));
                            }
                        }
                        Err(e) => problems.push(format!("cannot list folders: {e}")),
                    }
                    let _ = s.logout().await;
                    if problems.is_empty() {
                        let f = feats.map(|f| {
                            format!("IDLE={} MOVE={} UIDPLUS={}", f.idle, f.mv, f.uidplus)
                        });
                        println!(
                            "imap      ok    {addr} as {} ({})",
                            cfg.username,
                            f.unwrap_or_default()
                        );
                    } else {
                        ok = false;
                        for p in problems {
                            println!("imap      FAIL  {addr}: {p}");
                        }
                    }
                }
            }
        }
    }
    match (&config.smtp, Transport::from_config(&config)) {
        (Some(cfg), _) if on_token(cfg.auth) => {
            println!("smtp      skip  no OAuth2 token to log in with (see oauth2 above)")
        }
        (_, Err(e)) => {
            ok = false;
            println!("smtp      FAIL  {e}");
        }
        (smtp, Ok(t)) => {
            let what = smtp
                .as_ref()
                .map(|s| format!("{}:{}", s.host, s.port()))
                .unwrap_or_else(|| {
                    format!("file transport into {}", config.outbox_dir().display())
                });
            match t.test_connection().await {
                Ok(()) => println!("smtp      ok    {what}"),
                Err(e) => {
                    ok = false;
                    let settings = match smtp.as_ref().map(|s| s.auth) {
                        Some(crate::config::AuthMethod::Oauth2) => {
                            "host, port, security, username and [oauth2]"
                        }
                        _ => "host, port, security, username, password",
                    };
                    println!("smtp      FAIL  {what}: {e} (check [smtp] {settings})");
                }
            }
        }
    }
    if let Some(siem) = &config.siem {
        for (kind, r) in crate::siem::probe(siem, &config.gateway.data_dir).await {
            match r {
                Ok(what) => println!("siem      ok    {}: {what}", kind.name()),
                Err(e) => {
                    ok = false;
                    println!("siem      FAIL  {}: {e}", kind.name());
                }
            }
        }
    }
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

async fn outbound(config: Config, command: OutboundCommand) -> anyhow::Result<ExitCode> {
    let store = Store::connect(&config.database_url()).await?;
    match command {
        OutboundCommand::List {
            status,
            json,
            limit,
        } => {
            if let Some(s) = &status {
                s.parse::<crate::domain::OutboxStatus>()?;
            }
            let mut conn = store.acquire().await?;
            let rows = outbox::list(&mut conn, status.as_deref(), limit).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&rows)?);
            } else {
                println!(
                    "{:>5}  {:<8} {:<6} {:<32} subject / note",
                    "id", "status", "kind", "to"
                );
                for r in &rows {
                    println!(
                        "{:>5}  {:<8} {:<6} {:<32} {}{}",
                        r.id,
                        r.status,
                        r.kind,
                        cut(&r.recipient, 32),
                        r.subject,
                        r.hold_reason
                            .as_deref()
                            .or(r.last_error.as_deref())
                            .map(|n| format!("\n{:>48}{n}", ""))
                            .unwrap_or_default()
                    );
                }
                println!("{} message(s)", rows.len());
            }
        }
        OutboundCommand::Release { id, by } => {
            actions(&config, store)
                .await?
                .decide_held(id, true, By::cli(&by), Utc::now())
                .await?;
            println!("outbound message #{id} released; the worker of `run` sends it");
        }
        OutboundCommand::Flush => {
            use crate::outbound::worker::StepOutcome;
            let service = Application::build(config.clone()).await?;
            let steps = service.worker().drain().await?;
            let count = |f: fn(&StepOutcome) -> bool| steps.iter().filter(|s| f(s)).count();
            println!(
                "sent {}, held {}, failed {}, to retry {}",
                count(|s| matches!(s, StepOutcome::Sent { .. })),
                count(|s| matches!(s, StepOutcome::Held { .. })),
                count(|s| matches!(s, StepOutcome::Failed { .. })),
                count(|s| matches!(
                    s,
                    StepOutcome::Retry { .. } | StepOutcome::Unreachable { .. }
                )),
            );
            if let Some(StepOutcome::Unreachable { error, .. }) = steps.last() {
                eprintln!("error: {error}; the rest of the queue waits for the next attempt (check [smtp] host, port, security)");
                return Ok(ExitCode::from(EX_TEMPFAIL));
            }
        }
        OutboundCommand::Drop { id, by } => {
            actions(&config, store)
                .await?
                .decide_held(id, false, By::cli(&by), Utc::now())
                .await?;
            println!("outbound message #{id} dropped; it will not be sent");
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The analyst actions over the configured database and directory.
async fn actions(config: &Config, store: Store) -> anyhow::Result<Actions> {
    Ok(Actions::open(store, std::sync::Arc::new(config.clone()))?)
}

/// Runs one analyst action on a case and prints what it did.
async fn case_action(config: Config, command: CaseCommand) -> anyhow::Result<ExitCode> {
    let store = Store::connect(&config.database_url()).await?;
    let a = actions(&config, store).await?;
    let now = Utc::now();
    let out = match command {
        CaseCommand::SetStatus { id, status, by } => {
            a.set_status(&id.parse()?, status.parse()?, By::cli(&by), now)
                .await?
        }
        CaseCommand::SetSeverity { id, severity, by } => {
            a.set_severity(&id.parse()?, severity.parse()?, By::cli(&by), now)
                .await?
        }
        CaseCommand::SetPriority { id, priority, by } => {
            a.set_priority(&id.parse()?, priority.parse()?, By::cli(&by), now)
                .await?
        }
        CaseCommand::Assign { id, analyst, by } => {
            a.assign(&id.parse()?, analyst.as_deref(), By::cli(&by), now)
                .await?
        }
        CaseCommand::Flag { id, flag, off, by } => {
            a.set_flag(&id.parse()?, flag.parse()?, !off, By::cli(&by), now)
                .await?
        }
        CaseCommand::Update {
            id,
            message,
            cc,
            preview,
            by,
        } => {
            let message = if message == "-" {
                let mut m = String::new();
                std::io::stdin()
                    .read_to_string(&mut m)
                    .context("cannot read the update from standard input")?;
                m
            } else {
                message
            };
            let cc = cc
                .iter()
                .map(|c| EmailAddress::parse(c))
                .collect::<Result<Vec<_>, _>>()?;
            if preview {
                let (to, r) = a.preview_update(&id.parse()?, &message, now).await?;
                let to: Vec<String> = to.iter().map(|c| c.address.to_string()).collect();
                println!(
                    "To: {}\nSubject: {}\n\n{}",
                    to.join(", "),
                    r.subject,
                    r.text
                );
                return Ok(ExitCode::SUCCESS);
            }
            a.update(&id.parse()?, &message, &cc, By::cli(&by), now)
                .await?
        }
        CaseCommand::RemoveIndicator {
            id,
            kind,
            value,
            reason,
            by,
        } => {
            a.set_indicator_removed(
                &id.parse()?,
                &kind,
                &value,
                true,
                &reason,
                By::cli(&by),
                now,
            )
            .await?
        }
        CaseCommand::RestoreIndicator {
            id,
            kind,
            value,
            by,
        } => {
            a.set_indicator_removed(&id.parse()?, &kind, &value, false, "", By::cli(&by), now)
                .await?
        }
        CaseCommand::Split {
            id,
            message,
            ack,
            by,
        } => {
            let row = message
                .trim_start_matches('#')
                .parse()
                .map_err(|_| anyhow::anyhow!("'{message}' is not a message number (e.g. 1234)"))?;
            a.split_report(&id.parse()?, row, ack, By::cli(&by), now)
                .await?
        }
        CaseCommand::CampaignAnswer { id, text, by } => {
            a.set_campaign_answer(&id.parse()?, &text, By::cli(&by), now)
                .await?
        }
        CaseCommand::SetTlp { id, tlp, by } => {
            a.set_tlp(&id.parse()?, tlp.parse()?, By::cli(&by), now)
                .await?
        }
        CaseCommand::Note { id, text, by } => {
            a.note(&id.parse()?, &text, By::cli(&by), now).await?
        }
        CaseCommand::Link { id, other, by } => {
            a.link(&id.parse()?, &other.parse()?, By::cli(&by), now)
                .await?
        }
        CaseCommand::Merge { id, into, by } => {
            a.merge(&id.parse()?, &into.parse()?, By::cli(&by), now)
                .await?
        }
        CaseCommand::Show { .. } | CaseCommand::SetField { .. } => {
            unreachable!("handled in dispatch")
        }
    };
    println!("{}: {}", out.tracking_id, out.summary);
    if !out.queued.is_empty() {
        let ids: Vec<String> = out.queued.iter().map(|i| format!("#{i}")).collect();
        println!("outbound: {}", ids.join(", "));
    }
    if let Some(n) = &out.scio_note {
        println!("{n}");
    }
    Ok(ExitCode::SUCCESS)
}

fn print_case_list(rows: &[cases::CaseRow]) {
    println!(
        "{:<16} {:<13} {:<9} {:<30} {:<20} subject",
        "case", "status", "severity", "reporter", "opened"
    );
    for c in rows {
        println!(
            "{:<16} {:<13} {:<9} {:<30} {:<20} {}",
            c.tracking_id,
            c.status,
            c.severity
                .as_deref()
                .or(c.severity_suggested.as_deref())
                .unwrap_or("-"),
            cut(c.reporter_email.as_deref().unwrap_or("-"), 30),
            cut(&c.created_at, 19),
            cut(&c.subject, 60)
        );
    }
    println!("{} case(s)", rows.len());
}

fn print_case(d: &cases::CaseDetail) {
    let c = &d.case;
    println!("{}  {}", c.tracking_id, c.subject);
    println!("  status      {}", c.status);
    println!(
        "  severity    {}{}",
        c.severity.as_deref().unwrap_or("-"),
        c.severity_suggested
            .as_deref()
            .map(|s| format!(" (suggested {s})"))
            .unwrap_or_default()
    );
    println!(
        "  reporter    {} {}",
        c.reporter_name.as_deref().unwrap_or(""),
        c.reporter_email.as_deref().unwrap_or("-")
    );
    println!("  opened      {}", c.created_at);
    let k = &d.campaign;
    if k.reports > 1 {
        let agencies: Vec<String> = k
            .agencies
            .iter()
            .map(|(a, n)| format!("{a} ({n})"))
            .collect();
        println!(
            "  campaign    {} reports by {} people in {} agencies: {}",
            k.reports,
            k.people,
            k.agencies.len(),
            agencies.join(", ")
        );
        for r in &k.list {
            println!(
                "    #{:<7} {} {} {}",
                r.message_row,
                cut(&r.received_at, 19),
                r.reporter.as_deref().unwrap_or("-"),
                r.agency.as_deref().unwrap_or("")
            );
        }
        if let Some(a) = &k.answer {
            println!("  later reporters are told: {}", cut(a, 200));
        }
    }
    println!("  category    {}", c.category.as_deref().unwrap_or("-"));
    println!("  priority    {}", c.priority.as_deref().unwrap_or("-"));
    println!("  agency      {}", c.agency.as_deref().unwrap_or("-"));
    println!("  assignee    {}", c.assignee.as_deref().unwrap_or("-"));
    if !d.links.is_empty() {
        println!("  linked      {}", d.links.join(", "));
    }
    if let Some(m) = &d.merged_into {
        println!("  merged into {m}");
    }
    if !d.flags.is_empty() {
        let f: Vec<&str> = d.flags.iter().map(|f| f.as_str()).collect();
        println!("  flags       {}", f.join(", "));
    }
    for key in ["category_reasons", "severity_reasons"] {
        if let Some(r) = d
            .assessment
            .get(key)
            .and_then(|v| v.as_array())
            .filter(|a| !a.is_empty())
        {
            let r: Vec<&str> = r.iter().filter_map(|v| v.as_str()).collect();
            println!(
                "  {:<11} {}",
                format!("{} why", key.trim_end_matches("_reasons")),
                r.join("; ")
            );
        }
    }
    print_fields(&d.fields);
    if let Some(m) = d.missing.as_array().filter(|a| !a.is_empty()) {
        let names: Vec<String> = m
            .iter()
            .filter_map(|v| v.as_str().map(String::from))
            .collect();
        println!("\nMissing: {}", names.join(", "));
    }
    print_iocs(&d.iocs);
    print_attachments(d.attachments.iter().map(|x| {
        (
            x.name.as_deref(),
            x.media_type.as_str(),
            x.size,
            x.sha256.as_str(),
            x.kept,
        )
    }));
    println!("\nMessages");
    for m in &d.messages {
        println!(
            "  #{:<5} {} {:<8} {:<30} {}",
            m.id,
            m.received_at,
            m.kind,
            cut(m.from_addr.as_deref().unwrap_or("-"), 30),
            m.subject.as_deref().unwrap_or("")
        );
    }
    println!("\nOutbound");
    for o in &d.outbox {
        println!(
            "  #{:<5} {:<8} {:<5} {:<30} {} (attempts {}){}",
            o.id,
            o.status,
            o.kind,
            cut(&o.recipient, 30),
            o.subject,
            o.attempts,
            o.last_error
                .as_deref()
                .map(|e| format!(" last error: {e}"))
                .unwrap_or_default()
        );
    }
    println!("\nEvents");
    for e in &d.events {
        println!(
            "  {} {:<24} {:<28} {}",
            e.row.at,
            e.row.kind,
            cut(&e.row.actor, 28),
            e.detail
        );
    }
}

/// Truncates for column display, on a character boundary.
fn cut(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(n.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}
