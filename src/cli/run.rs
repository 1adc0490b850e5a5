//! What each command does, once its flags are parsed: the dispatch
//! `main.rs` hands every command line to, and the exit status it returns.

use std::io::{self, IsTerminal, Write};
use std::os::unix::ffi::OsStrExt;
use std::process::ExitCode;

use super::bench_args::{BenchArgs, BenchCommand, BenchMerge};
use super::bench_values::MAX_RATE;
use super::command::{ChatArgs, Command, SendArgs};
use super::docs;
use super::serve_args::ServeArgs;
use super::values::{Failure, USAGE};
use crate::client::{self, SendOptions, chat};
use crate::{bench, server::Server};

/// Exit status of a bench run stopped by Ctrl-C (128 + SIGINT, as a shell reports it).
const INTERRUPTED: u8 = 130;
/// Exit status of a bench run that failed an `--slo` gate (k6 uses 99; 3
/// keeps the small numbers of this tool's table: 0 good, 1 errors, 2 usage).
const GATE_FAILED: u8 = 3;

/// Runs `command` to its end; errors are said on stderr in one line.
pub fn run(command: Command) -> ExitCode {
    let result = match command {
        Command::Serve(args) => serve(&args),
        Command::Send(args) => send(&args),
        Command::Bench(command) => match *command {
            BenchCommand {
                merge: Some(BenchMerge::Merge(args)),
                ..
            } => bench::report::merge::merge_files(&args.files)
                .map_err(Failure::Runtime)
                .and_then(|report| print_report(&report, args.json, false)),
            BenchCommand {
                merge: Some(BenchMerge::Report(args)),
                ..
            } => super::report::run_report(&args),
            BenchCommand { run, .. } => run_bench(&run),
        },
        Command::Chat(args) => run_chat(&args),
        Command::Completions { shell } => docs::completions(shell, &mut io::stdout())
            .map_err(|err| Failure::Runtime(format!("cannot write the completions: {err}"))),
        Command::Man {
            install: Some(dir), ..
        } => docs::install(&dir),
        Command::Man { subcommand, .. } => docs::man(subcommand.as_deref(), &mut io::stdout()),
    };
    // The last log lines (a stop summary) are out before the error or exit.
    crate::logging::flush();
    match result {
        Ok(code) => code,
        Err(Failure::Usage(message)) => {
            eprintln!("error: {message} (see --help)");
            ExitCode::from(USAGE)
        }
        Err(Failure::Runtime(message)) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

fn serve(args: &ServeArgs) -> Result<ExitCode, Failure> {
    let config = args.config()?;
    if args.check {
        println!("the serve command line is valid");
        return Ok(ExitCode::SUCCESS);
    }
    let server = Server::bind(&config)?;
    // Tests and scripts bind port 0 and read the real port from this line.
    match (&config.unix, config.tcp || config.udp.is_some()) {
        (Some((path, _)), false) => println!("listening on {path}"),
        _ => println!(
            "listening on {}",
            server.local_addr().map_err(|err| err.to_string())?
        ),
    }
    if let Some(metrics) = server.metrics_addr() {
        println!("metrics on {metrics}");
    }
    if let Some(loaded) = &config.tls {
        println!("TLS certificate SHA-256 {}", loaded.fingerprint);
    }
    io::stdout().flush().map_err(|err| err.to_string())?;
    server.run().map_err(|err| format!("server failed: {err}"))?;
    Ok(ExitCode::SUCCESS)
}

fn send(args: &SendArgs) -> Result<ExitCode, Failure> {
    if args.udp {
        return send_datagram(args, args.endpoint.server_addr()?);
    }
    let addr = args.target()?;
    let options = SendOptions {
        read_size: args.chunk.unwrap_or(64 * 1024),
        verbose: args.verbose,
        proxy_header: args.proxy_header,
        tls: args.tls.client_tls(&args.endpoint, false)?,
        addr: addr.clone(),
        timeout: args.timeout,
        knobs: args.socket.knobs(),
        connect_timeout: args.connect_timeout,
    };
    let mut stdout = io::stdout().lock();
    let chunked = args.chunk.is_some();
    let mut hex = args.hex.then(client::hex::HexDump::default);
    let on_reply = |bytes: &[u8]| {
        if let Some(dump) = &mut hex {
            dump.push(bytes, &mut stdout)
        } else if chunked {
            writeln!(
                stdout,
                "received {} bytes: {}",
                bytes.len(),
                client::python_repr(bytes)
            )
        } else {
            stdout.write_all(bytes)
        }
    };
    let exchange = match &args.message {
        Some(message) => client::exchange(&options, message.as_bytes(), on_reply)?,
        None => {
            if io::stdin().is_terminal() {
                eprintln!(
                    "reading the message from standard input until EOF (Ctrl-D); or give it as an argument"
                );
            }
            client::exchange(&options, io::stdin(), on_reply)?
        }
    };
    let write_failed = |err: io::Error| format!("cannot write the reply: {err}");
    if let Some(dump) = hex {
        dump.finish(&mut stdout).map_err(write_failed)?;
    } else if args.message.is_some() && !chunked && stdout.is_terminal() {
        stdout.write_all(b"\n").map_err(write_failed)?;
    }
    stdout.flush().map_err(write_failed)?;
    let kept_open = if exchange.server_closed {
        ""
    } else {
        ", and it kept the connection open"
    };
    if exchange.echoed() {
        if !exchange.server_closed {
            eprintln!(
                "note: the whole echo came back, but {addr} kept the connection open (a broadcast server, \
                 or a proxy that does not pass on the half-close); left it after {:.1} s of silence",
                client::EOF_WAIT.min(args.timeout).as_secs_f64()
            );
        }
        Ok(ExitCode::SUCCESS)
    } else if !exchange.sent.is_empty() && crate::tls::client::looks_like_tls_alert(exchange.received.head())
    {
        eprintln!("error: {addr} answered with a TLS alert: it is a TLS server (add --tls)");
        Ok(ExitCode::FAILURE)
    } else {
        eprintln!(
            "error: the reply differs from what was sent ({} bytes sent, {} received{kept_open}): {addr} is not an echo server",
            exchange.sent.len(),
            exchange.received.len(),
        );
        Ok(ExitCode::FAILURE)
    }
}

/// `send --udp`: the message (or standard input) as one datagram.
fn send_datagram(args: &SendArgs, addr: std::net::SocketAddr) -> Result<ExitCode, Failure> {
    use std::io::Read;
    let message = match &args.message {
        Some(message) => message.as_bytes().to_vec(),
        None => {
            let mut input = Vec::new();
            io::stdin()
                .take(client::datagram::MAX_DATAGRAM as u64 + 1)
                .read_to_end(&mut input)
                .map_err(|err| format!("cannot read the input: {err}"))?;
            input
        }
    };
    if message.len() > client::datagram::MAX_DATAGRAM {
        return Err(Failure::Usage(format!(
            "a UDP datagram holds at most {} bytes; the message is longer",
            client::datagram::MAX_DATAGRAM
        )));
    }
    let reply = client::datagram::exchange(addr, &message, args.timeout)?;
    let mut stdout = io::stdout().lock();
    let write_failed = |err: io::Error| format!("cannot write the reply: {err}");
    stdout.write_all(&reply).map_err(write_failed)?;
    if args.message.is_some() && stdout.is_terminal() {
        stdout.write_all(b"\n").map_err(write_failed)?;
    }
    stdout.flush().map_err(write_failed)?;
    if reply == message {
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!(
            "error: the reply differs from what was sent ({} bytes sent, {} received): {addr} is not a UDP echo server",
            message.len(),
            reply.len()
        );
        Ok(ExitCode::FAILURE)
    }
}

fn run_chat(args: &ChatArgs) -> Result<ExitCode, Failure> {
    let input = io::BufReader::new(io::stdin());
    let tls = args.tls.client_tls(&args.endpoint, false)?;
    chat::run(
        &args.target()?,
        args.timeout,
        tls.as_ref(),
        input,
        args.crlf,
        &args.socket.knobs(),
        io::stdout(),
    )?;
    Ok(ExitCode::SUCCESS)
}

fn run_bench(args: &BenchArgs) -> Result<ExitCode, Failure> {
    let config = args.config()?;
    if args.check {
        bench::report::output::check(&config)?;
        println!("the bench command line is valid");
        return Ok(ExitCode::SUCCESS);
    }
    // Opened before the run, so a path that cannot be written fails first.
    let page = args
        .report
        .as_ref()
        .map(|path| super::report::Page::create(path))
        .transpose()?;
    bench::catch_signals()?;
    let mut report = if args.find_max_rate {
        bench::search::find_max_rate(&config, args.search_start(config.size), MAX_RATE)?
    } else {
        bench::run(&config)?
    };
    if let Err(error) = report.add_percentiles(&args.percentiles) {
        report.file_errors.push(error);
    }
    report.command = Some(std::env::args().collect());
    report.host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|name| name.trim().to_string());
    if let Some(Err(error)) = page.map(|page| page.write(&report)) {
        eprintln!("error: {error}");
        report.file_errors.push(error);
    }
    // Standard output carries `--out FORMAT=-`'s lines: the summary goes beside them.
    let summary_to_stderr = args.out.iter().any(|spec| spec.path.is_none());
    print_report(&report, args.json, summary_to_stderr)
}

fn print_report(report: &bench::Report, json: bool, to_stderr: bool) -> Result<ExitCode, Failure> {
    if json {
        println!(
            "{}",
            serde_json::to_string(report).map_err(|err| err.to_string())?
        );
    } else if to_stderr {
        eprint!("{}", report.human());
    } else {
        print!("{}", report.human());
    }
    Ok(if report.interrupted {
        ExitCode::from(
            report
                .signal
                .as_deref()
                .map_or(INTERRUPTED, bench::signal_exit_status),
        )
    } else if report
        .max_rate
        .as_ref()
        .is_some_and(|search| search.low.is_none())
        || report.failed_a_gate()
    {
        ExitCode::from(GATE_FAILED)
    } else if report.errors.total() == 0 && report.file_errors.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
