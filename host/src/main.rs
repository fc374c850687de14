//! The `entrex` command: argument parsing and messages for people; the work is
//! done by the library.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

use entrex::{config::Settings, demo, generator, hub::Hub, keys, verify};

#[derive(Parser)]
#[command(
    name = "entrex",
    version,
    about = "Entry/Exit exchange appliance for border hubs"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Start a Canadian and a US hub on loopback, feed each a generated day of
    /// crossings, exchange, match, and print a summary.
    Demo {
        /// Trips to generate; each gives an entry in one country and an exit
        /// (the entry into the other) the next day or later.
        #[arg(long, default_value_t = 200_000)]
        trips: usize,
        /// Seed of the generator (same seed, same data).
        #[arg(long, default_value_t = 2013)]
        seed: u64,
        /// How much the exit record differs from the entry record.
        #[arg(long, value_enum, default_value_t = NoiseArg::Moderate)]
        noise: NoiseArg,
        /// Where to put the hubs' data, keys, configs and bundles
        /// (default: a new directory under the system temp directory).
        #[arg(long)]
        dir: Option<PathBuf>,
        /// Print the summary as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Run one hub from its TOML configuration.
    Serve {
        #[arg(long)]
        config: PathBuf,
    },
    /// Check a hub configuration file and say what is wrong with it.
    CheckConfig { file: PathBuf },
    /// Create an Ed25519 key pair: NAME.key.pem (private, PKCS#8) and NAME.pub.pem
    /// (public, SubjectPublicKeyInfo; readable by openssl and any COSE library).
    Keygen {
        #[arg(long)]
        out: PathBuf,
        #[arg(long, default_value = "hub")]
        name: String,
    },
    /// Verify signed bundles and receipts offline and print what they contain.
    Verify {
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// A public key (PEM), as PATH or HUB=PATH (then the message must also
        /// claim to come from HUB). Repeat for several keys.
        #[arg(long = "key", required = true)]
        keys: Vec<String>,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum NoiseArg {
    Light,
    Moderate,
    Heavy,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let default_level = match cli.command {
        Command::Serve { .. } => "info",
        _ => "warn",
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_level)),
        )
        .with_writer(std::io::stderr)
        .init();
    match run(cli.command) {
        Ok(code) => code,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("cannot start the async runtime")
}

fn run(command: Command) -> Result<ExitCode, String> {
    match command {
        Command::Demo {
            trips,
            seed,
            noise,
            dir,
            json,
        } => {
            let options = demo::Options {
                trips,
                seed,
                noise: match noise {
                    NoiseArg::Light => generator::Noise::Light,
                    NoiseArg::Moderate => generator::Noise::Moderate,
                    NoiseArg::Heavy => generator::Noise::Heavy,
                },
                dir,
                progress: !json,
            };
            let summary = runtime()
                .block_on(demo::run(options))
                .map_err(|e| e.to_string())?;
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&summary).expect("summary is JSON")
                );
            } else {
                print!("{}", summary.render());
            }
            Ok(if summary.passed() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Command::Serve { config } => {
            let settings = Settings::load(&config).map_err(|e| e.to_string())?;
            runtime()
                .block_on(Hub::serve(settings))
                .map_err(|e| e.to_string())?;
            Ok(ExitCode::SUCCESS)
        }
        Command::CheckConfig { file } => {
            let settings = Settings::load(&file).map_err(|e| e.to_string())?;
            entrex::hub::check(&settings).map_err(|e| format!("{}: {e}", file.display()))?;
            println!(
                "{}: ok (hub {}, listening on {}, {} partner(s); keys and plugins load)",
                file.display(),
                settings.hub_id,
                settings.listen,
                settings.partners.len()
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Keygen { out, name } => {
            let key = keys::generate(&out, &name).map_err(|e| e.to_string())?;
            println!("private key: {}", key.private_key.display());
            println!("public key:  {}", key.public_key.display());
            println!("key id:      {}", key.key_id);
            Ok(ExitCode::SUCCESS)
        }
        Command::Verify { files, keys } => {
            let keyring = verify::keyring(&keys).map_err(|e| e.to_string())?;
            let mut failed = 0;
            for outcome in verify::verify_files(&files, &keyring) {
                match outcome.result {
                    Ok(description) => println!("OK   {}: {description}", outcome.path.display()),
                    Err(why) => {
                        failed += 1;
                        println!("FAIL {}: {why}", outcome.path.display());
                    }
                }
            }
            if failed > 0 {
                eprintln!("{failed} of {} file(s) failed verification", files.len());
                Ok(ExitCode::FAILURE)
            } else {
                Ok(ExitCode::SUCCESS)
            }
        }
    }
}
