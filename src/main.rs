use std::io::{self, IsTerminal, Write};
use std::process::ExitCode;

use clap::Parser;
use mio_echo::cli::{BenchArgs, ChatArgs, Cli, Command, SendArgs, ServeArgs};
use mio_echo::client::{self, SendOptions};
use mio_echo::{bench, chat, server::Server};

fn main() -> ExitCode {
    let cli = Cli::parse();
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let result = match cli.command {
        Command::Serve(args) => serve(&args),
        Command::Send(args) => send(&args),
        Command::Bench(args) => run_bench(&args),
        Command::Chat(args) => run_chat(&args),
    };
    result.unwrap_or_else(|message| {
        eprintln!("error: {message}");
        ExitCode::FAILURE
    })
}

fn serve(args: &ServeArgs) -> Result<ExitCode, String> {
    let server = Server::bind(&args.config())?;
    let addr = server.local_addr().map_err(|err| err.to_string())?;
    // Tests and scripts bind port 0 and read the real port from this line.
    println!("listening on {addr}");
    io::stdout().flush().map_err(|err| err.to_string())?;
    log::info!("serving on {addr}");
    server.run().map_err(|err| format!("server failed: {err}"))?;
    Ok(ExitCode::SUCCESS)
}

fn send(args: &SendArgs) -> Result<ExitCode, String> {
    let addr = args.endpoint.addr();
    let options = SendOptions {
        read_size: args.chunk.unwrap_or(64 * 1024),
        verbose: args.verbose,
        ..SendOptions::new(addr, args.timeout)
    };
    let mut stdout = io::stdout().lock();
    let chunked = args.chunk.is_some();
    let on_reply = |bytes: &[u8]| {
        if chunked {
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
        None => client::exchange(&options, io::stdin(), on_reply)?,
    };
    let write_failed = |err: io::Error| format!("cannot write the reply: {err}");
    if args.message.is_some() && !chunked && stdout.is_terminal() {
        stdout.write_all(b"\n").map_err(write_failed)?;
    }
    stdout.flush().map_err(write_failed)?;
    if exchange.echoed() {
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!(
            "error: the reply differs from what was sent ({} bytes sent, {} received): {addr} is not an echo server",
            exchange.sent.len(),
            exchange.received.len(),
        );
        Ok(ExitCode::FAILURE)
    }
}

fn run_chat(args: &ChatArgs) -> Result<ExitCode, String> {
    let input = io::BufReader::new(io::stdin());
    chat::run(args.endpoint.addr(), args.timeout, input, io::stdout())?;
    Ok(ExitCode::SUCCESS)
}

fn run_bench(args: &BenchArgs) -> Result<ExitCode, String> {
    let report = bench::run(&args.config())?;
    if args.json {
        println!(
            "{}",
            serde_json::to_string(&report).map_err(|err| err.to_string())?
        );
    } else {
        print!("{}", report.human());
    }
    Ok(if report.errors.total() == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
